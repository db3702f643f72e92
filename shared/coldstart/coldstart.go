// Package coldstart is what both functions do once per process, before
// lambda.Start: read the configuration, log what is wrong with it, read the
// secrets from SSM under a short timeout, and build the Galxe client.
// Nothing here stops the process: a failure is logged and answered per
// invocation (the next one tries the secrets again).
package coldstart

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// Function is which function a process is: it decides what its cold start
// loads and how it shares the account's budget.
type Function int

const (
	// Webhook loads the webhook signing secret and the read cache, and
	// calls Galxe in the foreground (its synchronous routes).
	Webhook Function = iota
	// Scheduled and Pusher call Galxe in the background: they leave the
	// foreground share of the account's rate, and the quota's reserve.
	Scheduled
	Pusher
)

// Deps are what a handler is built from.
type Deps struct {
	Config        config.Config
	Log           *slog.Logger
	Metrics       *obs.Metrics
	Token         *secret.Source
	WebhookSecret *secret.Source // nil unless wanted
	Galxe         galxe.Caller   // nil when GalxeErr says why
	GalxeErr      error
	// AWS is the SDK configuration the function's clients share, loaded
	// once when a service is configured; AWSErr says why it is missing.
	AWS    aws.Config
	AWSErr error
	// State is the fleet's shared-state table (STATE_TABLE), nil without
	// one; StateErr says why a configured table cannot be used.
	State    *state.Table
	StateErr error
	// Budget is the account's budget and quota meter every Galxe request
	// goes through (DESIGN.md §11); without a table, this process's alone.
	Budget *budget.Budget
	// ReadCache keeps the webhook's query answers for the fleet; nil when
	// off (no table, READ_CACHE_SECONDS=0, or not the webhook).
	ReadCache *readcache.Cache
}

// Init builds the dependencies of function fn. The webhook also loads its
// signing secret (with standard-webhooks) and the read cache.
func Init(ctx context.Context, getenv func(string) string, stdout io.Writer, fn Function) *Deps {
	setMemoryLimit(getenv)
	d := &Deps{Config: config.FromEnv(getenv), Log: newLogger(stdout, getenv), Metrics: obs.NewMetrics(stdout, getenv("AWS_LAMBDA_FUNCTION_NAME"))}
	cfg := d.Config
	withWebhookSecret := fn == Webhook && cfg.WebhookAuth == config.AuthStandardWebhooks
	problems := cfg.Problems
	if withWebhookSecret {
		problems = append(problems, cfg.WebhookProblems()...)
	}
	for _, p := range problems {
		d.Log.Error("configuration problem", "problem", p)
	}

	ctx, cancel := context.WithTimeout(ctx, secret.DefaultLoadTimeout)
	defer cancel()
	var ssmClient secret.GetParameterAPI
	if cfg.NeedsAWS() {
		d.AWS, d.AWSErr = awsconf.Load(ctx)
		if d.AWSErr != nil {
			d.Log.Error("AWS configuration could not be loaded", "error", d.AWSErr.Error())
		}
	}
	if cfg.NeedsSSM() {
		if d.AWSErr != nil {
			ssmClient = secret.Unreachable(d.AWSErr) // each secret then says so, not "not configured"
		} else {
			ssmClient = ssm.NewFromConfig(d.AWS)
		}
	}
	d.Token = cfg.TokenSource(ssmClient)
	sources := []*secret.Source{d.Token}
	if withWebhookSecret {
		d.WebhookSecret = cfg.WebhookSecretSource(ssmClient)
		sources = append(sources, d.WebhookSecret)
	}
	// Both reads at once: cold start waits for the slower, not the sum.
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Go(func() {
			if _, err := src.Get(ctx); err != nil {
				d.Log.Warn("secret not loaded at cold start; the next invocation tries again",
					"secret", src.What(), "parameter", src.Parameter(), "error", err.Error())
			}
		})
	}
	wg.Wait()

	if cfg.StateTable != "" {
		if d.AWSErr != nil {
			d.StateErr = d.AWSErr
		} else {
			d.State = state.New(dynamodb.NewFromConfig(d.AWS, state.ClientOptions), cfg.StateTable)
		}
	}

	class := budget.Background
	if fn == Webhook {
		class = budget.Foreground
	}
	d.Budget = budget.New(budget.Options{Table: d.State, Class: class, AccountQPS: cfg.AccountQPS, ForegroundQPS: none(cfg.ForegroundQPS),
		MonthlyQuota: cfg.MonthlyQuota, QuotaReserve: none(cfg.QuotaReserve), Metrics: d.Metrics, Log: d.Log})
	if fn == Webhook {
		d.ReadCache = readcache.New(d.State, readcache.Options{Override: cfg.ReadCacheSet, Lifetime: cfg.ReadCacheTTL})
	}

	client, err := cfg.NewClient(d.Token, d.Metrics.Attempt, d.Budget)
	if err != nil {
		d.GalxeErr = err
		d.Log.Error("Galxe client not configured", "error", err.Error())
	} else {
		d.Galxe = client // assigned only when set: a nil *Client would be a non-nil Caller
	}
	return d
}

// none turns a configured 0 (none, on purpose) into the budget's "none"
// (-1); its 0 means the default, which the configuration has applied.
func none[T int64 | float64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// flushTimeout bounds adding an invocation's Galxe requests to the month's
// count after it ran: the table's one write, and its retries.
const flushTimeout = time.Second

// Counted wraps a function's handler so that, before each invocation
// returns, the Galxe requests it made are added to the month's count in the
// table (DESIGN.md §11 "A quota meter": a frozen process may never run
// again). The answer is never held past the invocation's deadline for it.
func (d *Deps) Counted(h lambda.Handler) lambda.Handler {
	return countedHandler{h: h, d: d}
}

type countedHandler struct {
	h lambda.Handler
	d *Deps
}

func (c countedHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := c.h.Invoke(ctx, payload)
	fctx, cancel := state.AfterWork(ctx, flushTimeout, state.AnswerReserve)
	defer cancel()
	_ = c.d.Budget.FlushDue(fctx) // counts not added are kept for a later invocation
	return out, err
}

// newLogger uses aws-lambda-go's own handler where Lambda configured the log
// format (it reads the variables itself and writes to stdout), and the same
// behaviour with JSON as the default everywhere else.
func newLogger(stdout io.Writer, getenv func(string) string) *slog.Logger {
	if f, ok := stdout.(*os.File); ok && f == os.Stdout && getenv("AWS_LAMBDA_LOG_FORMAT") != "" {
		return lambdacontext.NewLogger()
	}
	return obs.NewLogger(stdout, getenv)
}

// memoryLimitShare is the part of the function's memory the Go heap may
// grow to before the collector works harder; the rest is the binary, the
// stacks and the runtime's own.
const memoryLimitShare = 0.85

// setMemoryLimit gives the collector the function's memory size as a soft
// limit (GOMEMLIMIT in the environment wins): a large push collects more
// often as it nears the limit, instead of being killed by Lambda past it.
// Set once at start: process-wide settings are not changed per invocation.
func setMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if err != nil || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(float64(mb) * memoryLimitShare * (1 << 20)))
}
