// Package config reads the functions' settings from the environment
// (DESIGN.md §2) and builds what they share: the token and webhook secret
// sources and the Galxe client. A missing or wrong setting never stops the
// process: it is reported in Problems, logged at start, and answered as
// CONFIGURATION_ERROR by whatever needs it.
package config

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
)

// Webhook authentication modes.
const (
	AuthStandardWebhooks = "standard-webhooks"
	AuthNone             = "none"
)

// Defaults of the settings that have one.
const (
	DefaultMaxItemsPerRequest = 20000
)

// Error is a configuration error: a setting is missing or wrong. It names
// settings, never secret values.
type Error struct{ Problems []string }

func (e *Error) Error() string { return "configuration error: " + strings.Join(e.Problems, "; ") }

// PublicMessage is the error for a caller: its problems are the project's
// own words about settings, never values.
func (e *Error) PublicMessage() string { return e.Error() }

// Config is the functions' configuration.
type Config struct {
	TokenParameter         string
	token                  string // GALXE_ACCESS_TOKEN: local runs only
	Endpoint               string
	MaxQPS                 float64
	WebhookAuth            string
	WebhookSecretParameter string
	webhookSecret          string
	MaxItemsPerRequest     int
	PushQueueURL           string        // PUSH_QUEUE_URL: APPEND and REMOVE go through this queue
	DeadLetterQueueURL     string        // PUSH_DEAD_LETTER_QUEUE_URL: the pusher's refused messages
	StateTable             string        // STATE_TABLE: the fleet's shared state (DESIGN.md §11); empty: per process
	IdempotencyTTL         time.Duration // IDEMPOTENCY_TTL_SECONDS: how long a delivery's answer is kept

	// The account's budget and quota, shared by the whole deployment
	// through StateTable (DESIGN.md §11). GALXE_MAX_QPS above stays each
	// process's own ceiling.
	AccountQPS    float64 // GALXE_ACCOUNT_QPS: the account's requests a second, every function together (> 0)
	ForegroundQPS float64 // GALXE_FOREGROUND_QPS: the part of AccountQPS background callers leave to foreground ones (0 ≤ it < AccountQPS)
	MonthlyQuota  int64   // GALXE_MONTHLY_QUOTA: the account's requests a UTC month (> 0)
	QuotaReserve  int64   // GALXE_QUOTA_RESERVE: the part of MonthlyQuota background callers leave to foreground ones (0 ≤ it < MonthlyQuota; default 1% of it)

	// READ_CACHE_SECONDS: when ReadCacheSet, ReadCacheTTL is every cached
	// read's lifetime and 0 turns the read cache off; when not set, each
	// operation keeps its own lifetime (ReadCacheTTL is then 0 and means
	// nothing: ask CacheTTL).
	ReadCacheTTL time.Duration
	ReadCacheSet bool

	// Problems lists every setting that is missing or wrong.
	Problems []string
}

// FromEnv reads the configuration with getenv (os.Getenv in main).
func FromEnv(getenv func(string) string) Config {
	c := Config{
		TokenParameter:         strings.TrimSpace(getenv("GALXE_ACCESS_TOKEN_PARAMETER")),
		token:                  getenv("GALXE_ACCESS_TOKEN"),
		Endpoint:               strings.TrimSpace(getenv("GALXE_ENDPOINT")),
		WebhookAuth:            strings.TrimSpace(getenv("WEBHOOK_AUTH")),
		WebhookSecretParameter: strings.TrimSpace(getenv("WEBHOOK_SECRET_PARAMETER")),
		webhookSecret:          getenv("WEBHOOK_SECRET"),
		PushQueueURL:           strings.TrimSpace(getenv("PUSH_QUEUE_URL")),
		DeadLetterQueueURL:     strings.TrimSpace(getenv("PUSH_DEAD_LETTER_QUEUE_URL")),
		MaxQPS:                 galxe.DefaultMaxQPS,
		MaxItemsPerRequest:     DefaultMaxItemsPerRequest,
		StateTable:             strings.TrimSpace(getenv("STATE_TABLE")),
		IdempotencyTTL:         DefaultIdempotencyTTL,
		AccountQPS:             DefaultAccountQPS,
		ForegroundQPS:          DefaultForegroundQPS,
		MonthlyQuota:           DefaultMonthlyQuota,
	}
	if c.Endpoint == "" {
		c.Endpoint = galxe.DefaultEndpoint
	}
	if err := galxe.CheckEndpoint(c.Endpoint); err != nil {
		c.Problems = append(c.Problems, "GALXE_ENDPOINT: "+strings.TrimPrefix(err.Error(), "galxe: "))
	}
	c.checkQueueURL("PUSH_QUEUE_URL", c.PushQueueURL)
	c.checkQueueURL("PUSH_DEAD_LETTER_QUEUE_URL", c.DeadLetterQueueURL)
	c.checkParameter("GALXE_ACCESS_TOKEN_PARAMETER", c.TokenParameter)
	c.checkParameter("WEBHOOK_SECRET_PARAMETER", c.WebhookSecretParameter)
	if c.TokenParameter == "" && c.token == "" {
		c.Problems = append(c.Problems, "no Galxe token: set GALXE_ACCESS_TOKEN_PARAMETER (or GALXE_ACCESS_TOKEN for local runs)")
	}
	if v := strings.TrimSpace(getenv("GALXE_MAX_QPS")); v != "" {
		q, err := strconv.ParseFloat(v, 64)
		if err != nil || q <= 0 || q != q {
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_MAX_QPS must be a positive number, not %q", v))
		} else {
			c.MaxQPS = q
		}
	}
	switch c.WebhookAuth {
	case "":
		c.WebhookAuth = AuthStandardWebhooks
	case AuthStandardWebhooks, AuthNone:
	default:
		c.Problems = append(c.Problems, fmt.Sprintf("WEBHOOK_AUTH must be %q or %q, not %q", AuthStandardWebhooks, AuthNone, c.WebhookAuth))
	}
	if v := strings.TrimSpace(getenv("MAX_ITEMS_PER_REQUEST")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			c.Problems = append(c.Problems, fmt.Sprintf("MAX_ITEMS_PER_REQUEST must be a positive integer, not %q", v))
		} else {
			c.MaxItemsPerRequest = n
		}
	}
	if v := strings.TrimSpace(getenv("IDEMPOTENCY_TTL_SECONDS")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > maxIdempotencyTTLSeconds {
			c.Problems = append(c.Problems, fmt.Sprintf("IDEMPOTENCY_TTL_SECONDS must be a whole number of seconds from 1 to %d, not %q", maxIdempotencyTTLSeconds, v))
		} else {
			c.IdempotencyTTL = time.Duration(n) * time.Second
		}
	}
	c.readBudget(getenv)
	if v := strings.TrimSpace(getenv("READ_CACHE_SECONDS")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > MaxReadCacheSeconds {
			c.Problems = append(c.Problems, fmt.Sprintf("READ_CACHE_SECONDS must be a whole number of seconds from 0 (no cache) to %d, not %q", MaxReadCacheSeconds, v))
		} else {
			c.ReadCacheTTL, c.ReadCacheSet = time.Duration(n)*time.Second, true
		}
	}
	if c.StateTable != "" && !validTableName(c.StateTable) {
		c.Problems = append(c.Problems, fmt.Sprintf("STATE_TABLE %q must be a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ - .)", clipName(c.StateTable)))
	}
	return c
}

// Defaults of the account's budget and quota (DESIGN.md §11): Galxe's free
// tier allows 10 requests a second and 100,000 a month.
const (
	DefaultAccountQPS    = 10.0
	DefaultForegroundQPS = 2.0
	DefaultMonthlyQuota  = int64(100000)
)

// DefaultQuotaReserve is the reserve left to foreground callers when
// GALXE_QUOTA_RESERVE is not set: 1% of the quota.
func DefaultQuotaReserve(quota int64) int64 { return quota / 100 }

// MaxReadCacheSeconds is a day: a cached answer older than that is a
// mistake, not a cache.
const MaxReadCacheSeconds = 24 * 3600

// readBudget reads GALXE_ACCOUNT_QPS, GALXE_FOREGROUND_QPS,
// GALXE_MONTHLY_QUOTA and GALXE_QUOTA_RESERVE. A refused value keeps its
// default, and the checks between two settings are made only when both
// were read well, so one mistake is reported once.
func (c *Config) readBudget(getenv func(string) string) {
	accountOK, quotaOK := true, true
	if v := strings.TrimSpace(getenv("GALXE_ACCOUNT_QPS")); v != "" {
		q, err := strconv.ParseFloat(v, 64)
		if err != nil || !(q > 0) || math.IsInf(q, 0) {
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_ACCOUNT_QPS must be a positive number of requests a second, not %q", v))
			accountOK = false
		} else {
			c.AccountQPS = q
		}
	}
	foreground := strings.TrimSpace(getenv("GALXE_FOREGROUND_QPS"))
	if foreground != "" {
		q, err := strconv.ParseFloat(foreground, 64)
		switch {
		case err != nil || !(q >= 0) || math.IsInf(q, 0):
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_FOREGROUND_QPS must be a number of requests a second, 0 or more, not %q", foreground))
		case accountOK && q >= c.AccountQPS:
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_FOREGROUND_QPS (%s) must be less than GALXE_ACCOUNT_QPS (%s): background callers would get no share", foreground, formatQPS(c.AccountQPS)))
		default:
			c.ForegroundQPS = q
		}
	} else if accountOK && c.ForegroundQPS >= c.AccountQPS {
		c.Problems = append(c.Problems, fmt.Sprintf("GALXE_FOREGROUND_QPS (default %s) must be less than GALXE_ACCOUNT_QPS (%s): set it lower", formatQPS(DefaultForegroundQPS), formatQPS(c.AccountQPS)))
	}
	if v := strings.TrimSpace(getenv("GALXE_MONTHLY_QUOTA")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_MONTHLY_QUOTA must be a positive whole number of requests, not %q", v))
			quotaOK = false
		} else {
			c.MonthlyQuota = n
		}
	}
	c.QuotaReserve = DefaultQuotaReserve(c.MonthlyQuota)
	if v := strings.TrimSpace(getenv("GALXE_QUOTA_RESERVE")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || n < 0:
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_QUOTA_RESERVE must be a whole number of requests, 0 or more, not %q", v))
		case quotaOK && n >= c.MonthlyQuota:
			c.Problems = append(c.Problems, fmt.Sprintf("GALXE_QUOTA_RESERVE (%d) must be less than GALXE_MONTHLY_QUOTA (%d): background callers would get none", n, c.MonthlyQuota))
		default:
			c.QuotaReserve = n
		}
	}
}

func formatQPS(q float64) string { return strconv.FormatFloat(q, 'f', -1, 64) }

// BackgroundQPS is the most of the account's second background callers
// (the pusher, the scheduled function) may take.
func (c Config) BackgroundQPS() float64 { return c.AccountQPS - c.ForegroundQPS }

// BackgroundQuota is where background callers stop in a month: the quota
// less the reserve. Foreground calls may spend the reserve too.
func (c Config) BackgroundQuota() int64 { return c.MonthlyQuota - c.QuotaReserve }

// CacheTTL is a cached read's lifetime: READ_CACHE_SECONDS when set (0:
// do not cache), else perOperation, the operation's own.
func (c Config) CacheTTL(perOperation time.Duration) time.Duration {
	if c.ReadCacheSet {
		return c.ReadCacheTTL
	}
	return perOperation
}

// DefaultIdempotencyTTL keeps a delivery's answer four days: Standard
// Webhooks senders retry for about three, keeping the id.
const DefaultIdempotencyTTL = 4 * 24 * time.Hour

// maxIdempotencyTTLSeconds is a year: a longer memory is a mistake.
const maxIdempotencyTTLSeconds = 366 * 24 * 3600

// validTableName is DynamoDB's rule for a table's name: 3 to 255 of
// a-z, A-Z, 0-9, '_', '-' and '.'; an ARN is refused (the SDK takes both,
// but the README and template give the name). A loop, not a regexp: the
// regexp's {3,255} compiled at init cost every cold start 6 ms.
func validTableName(name string) bool {
	if len(name) < 3 || len(name) > 255 {
		return false
	}
	for _, r := range []byte(name) {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// checkQueueURL adds a problem when a queue URL is not an absolute URL
// (an ARN or a bare queue name is the common mistake).
func (c *Config) checkQueueURL(variable, v string) {
	if v == "" {
		return
	}
	if u, err := url.Parse(v); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		c.Problems = append(c.Problems, fmt.Sprintf("%s %q must be the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its name or ARN", variable, clipName(v)))
	}
}

// checkParameter adds a problem when a parameter name is one SSM refuses.
func (c *Config) checkParameter(variable, name string) {
	if name == "" {
		return
	}
	if err := secret.CheckParameterName(name); err != nil {
		c.Problems = append(c.Problems, fmt.Sprintf("%s %q: %v", variable, clipName(name), err))
	}
}

// clipName keeps a configured name short enough to quote in a message.
func clipName(s string) string {
	if len(s) > 256 {
		return s[:256] + "…"
	}
	return s
}

// WebhookProblems lists what is missing for signed routes, besides Problems.
func (c Config) WebhookProblems() []string {
	if c.WebhookAuth != AuthStandardWebhooks {
		return nil
	}
	switch {
	case c.WebhookSecretParameter == "" && c.webhookSecret == "":
		return []string{"WEBHOOK_AUTH=standard-webhooks needs WEBHOOK_SECRET_PARAMETER (or WEBHOOK_SECRET for local runs)"}
	case c.WebhookSecretParameter == "":
		if err := CheckWebhookSecret(strings.TrimSpace(c.webhookSecret)); err != nil {
			return []string{"WEBHOOK_SECRET: " + err.Error()}
		}
	}
	return nil
}

// NeedsSSM reports whether any secret is kept in Parameter Store.
func (c Config) NeedsSSM() bool { return c.TokenParameter != "" || c.WebhookSecretParameter != "" }

// NeedsAWS reports whether the function calls any AWS service (SSM, SQS, DynamoDB).
func (c Config) NeedsAWS() bool {
	return c.NeedsSSM() || c.PushQueueURL != "" || c.DeadLetterQueueURL != "" || c.StateTable != ""
}

// How often a rejected secret may be read again, per process (DESIGN.md
// §3): a revoked token or a forged signature must not spend SSM's rate.
const (
	TokenRefreshEvery  = 10 * time.Second
	SecretRefreshEvery = time.Minute
)

// MinWebhookSecretBytes is the least key a webhook secret may carry.
const MinWebhookSecretBytes = 24

// CheckWebhookSecret accepts "whsec_" and the base64 of at least 24 bytes.
// Its errors never repeat the value.
func CheckWebhookSecret(v string) error {
	key, ok := strings.CutPrefix(v, "whsec_")
	if !ok {
		return fmt.Errorf("the webhook signing secret must begin with whsec_")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("the webhook signing secret must be whsec_ and base64")
	}
	if len(raw) < MinWebhookSecretBytes {
		return fmt.Errorf("the webhook signing secret holds %d bytes of key; at least %d are needed", len(raw), MinWebhookSecretBytes)
	}
	return nil
}

// TokenSource is where the Galxe token comes from: the parameter when named,
// else the local value, else nowhere (a permanent configuration error).
func (c Config) TokenSource(ssm secret.GetParameterAPI) *secret.Source {
	return source("Galxe access token", "GALXE_ACCESS_TOKEN_PARAMETER", c.TokenParameter, c.token, ssm).
		RefreshAtMostEvery(TokenRefreshEvery)
}

// WebhookSecretSource is where the webhook signing secret comes from; a
// malformed one is a configuration error.
func (c Config) WebhookSecretSource(ssm secret.GetParameterAPI) *secret.Source {
	return source("webhook signing secret", "WEBHOOK_SECRET_PARAMETER", c.WebhookSecretParameter, c.webhookSecret, ssm).
		Require(CheckWebhookSecret).RefreshAtMostEvery(SecretRefreshEvery)
}

func source(what, variable, parameter, local string, ssm secret.GetParameterAPI) *secret.Source {
	if parameter != "" {
		if err := secret.CheckParameterName(parameter); err != nil {
			// Asking SSM would only earn a ValidationException on every cold start.
			return secret.Failing(what, clipName(parameter), &Error{Problems: []string{fmt.Sprintf("%s: %v", variable, err)}})
		}
	}
	switch {
	case parameter != "" && ssm != nil:
		return secret.FromSSM(what, ssm, parameter)
	case parameter == "" && local != "":
		return secret.Static(what, local)
	}
	return secret.Unconfigured(what)
}

// NewClient builds the Galxe client, or a configuration error.
func (c Config) NewClient(token galxe.TokenSource, onAttempt func(context.Context, galxe.Attempt), budget galxe.Budget) (*galxe.Client, error) {
	client, err := galxe.New(galxe.Config{Endpoint: c.Endpoint, Token: token, MaxQPS: c.MaxQPS, OnAttempt: onAttempt, Budget: budget})
	if err != nil {
		return nil, &Error{Problems: []string{"GALXE_ENDPOINT: " + err.Error()}}
	}
	return client, nil
}
