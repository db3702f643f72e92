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
	if c.StateTable != "" && !validTableName(c.StateTable) {
		c.Problems = append(c.Problems, fmt.Sprintf("STATE_TABLE %q must be a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _ - .)", clipName(c.StateTable)))
	}
	return c
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
func (c Config) NewClient(token galxe.TokenSource, onAttempt func(context.Context, galxe.Attempt)) (*galxe.Client, error) {
	client, err := galxe.New(galxe.Config{Endpoint: c.Endpoint, Token: token, MaxQPS: c.MaxQPS, OnAttempt: onAttempt})
	if err != nil {
		return nil, &Error{Problems: []string{"GALXE_ENDPOINT: " + err.Error()}}
	}
	return client, nil
}
