// Package galxe calls the Galxe Server API: persisted GraphQL operations sent
// with the access-token header, every failure classified into one *Error
// (classify.go), and retries with backoff inside the invocation's time
// budget (Do, backoff.go), under a per-process rate limit.
package galxe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/sethvargo/go-retry"
	"golang.org/x/time/rate"
)

// Defaults from the design: Galxe's endpoint, its free tier's rate, a
// reserve of the deadline kept for answering, and the per-request timeout.
const (
	DefaultEndpoint       = "https://graphigo-business.prd.galaxy.eco/query"
	DefaultMaxQPS         = 10
	DefaultReserve        = 500 * time.Millisecond
	DefaultAttemptTimeout = 10 * time.Second
	// DefaultBudget applies when the context has no deadline (tests, tools).
	DefaultBudget = 30 * time.Second
	// MaxResponseBytes caps what is read of an answer.
	MaxResponseBytes = 10 << 20
)

// Caller runs a persisted Galxe operation; *Client implements it, and
// tests give stand-ins.
type Caller interface {
	Do(ctx context.Context, operation string, variables any) (*Result, error)
}

// TokenSource gives the access token and re-reads it when Galxe rejects it.
// *secret.Source implements it.
type TokenSource interface {
	Get(ctx context.Context) (secret.Value, error)
	Refresh(ctx context.Context, stale secret.Value) (secret.Value, error)
}

// Attempt describes one request to Galxe, for logs and metrics.
type Attempt struct {
	Operation string
	Number    int // 1 for the first request of a call
	Latency   time.Duration
	Err       *Error // nil on success
}

// Config configures a Client. Endpoint and Token are required.
type Config struct {
	Endpoint       string
	Token          TokenSource
	MaxQPS         float64                        // requests per second for this process; 0: DefaultMaxQPS
	Reserve        time.Duration                  // kept back from the deadline for answering; 0: DefaultReserve
	AttemptTimeout time.Duration                  // per request; 0: DefaultAttemptTimeout
	BaseBackoff    time.Duration                  // 0: DefaultBaseBackoff
	MaxBackoff     time.Duration                  // 0: DefaultMaxBackoff
	HTTPClient     *http.Client                   // nil: a client with sane transport timeouts
	OnAttempt      func(context.Context, Attempt) // called after every request, with the caller's context; may be nil
	Budget         Budget                         // the fleet's account budget; nil: this process's MaxQPS alone
}

// Budget is a budget shared with other processes (package budget's, over
// the shared-state table): every request takes a slot from it after the
// process's own limiter, and every answer is reported to it. Admit waits
// for a slot, never past deadline; its error (a *Error: RATE_LIMITED when
// no slot fits, a spent quota) ends the call as the process's own limit
// does. Defined here so the budget may import this package.
type Budget interface {
	Admit(ctx context.Context, deadline time.Time) error
	Observe(ctx context.Context, a Attempt)
}

// Client calls Galxe. It is safe for concurrent use; all its calls share one
// rate limiter, so a process never exceeds MaxQPS.
type Client struct {
	endpoint string
	cfg      Config
	http     *http.Client
	limiter  *rate.Limiter
	now      func() time.Time
}

// New checks the configuration and makes a client. The endpoint must be
// https, except on loopback addresses (local stand-ins).
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	if err := CheckEndpoint(cfg.Endpoint); err != nil {
		return nil, err
	}
	if cfg.Token == nil {
		return nil, errors.New("galxe: no token source")
	}
	if cfg.MaxQPS <= 0 {
		cfg.MaxQPS = DefaultMaxQPS
	}
	if cfg.Reserve <= 0 {
		cfg.Reserve = DefaultReserve
	}
	if cfg.AttemptTimeout <= 0 || cfg.AttemptTimeout > DefaultAttemptTimeout {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: newTransport()}
	}
	// A burst of one spaces requests evenly at MaxQPS: a server that counts
	// per second, or a token bucket of its own, never sees more than MaxQPS.
	lim := rate.NewLimiter(rate.Limit(cfg.MaxQPS), 1)
	return &Client{endpoint: cfg.Endpoint, cfg: cfg, http: hc, limiter: lim, now: time.Now}, nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = DefaultAttemptTimeout
	return t
}

// CheckEndpoint accepts https URLs, and http only on loopback addresses.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("galxe: endpoint %q is not an absolute URL", endpoint)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return nil
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("galxe: endpoint %q must use https (http is allowed only on loopback)", endpoint)
	}
	return fmt.Errorf("galxe: endpoint %q must use https", endpoint)
}

// Result is Galxe's data for a successful call.
type Result struct {
	Data     json.RawMessage
	Attempts int
}

type request struct {
	Query         string `json:"query"`
	Variables     any    `json:"variables,omitempty"`
	OperationName string `json:"operationName"`
}

// Deadline is when retries must stop: the context's deadline less the
// reserve for answering, or DefaultBudget from now without a deadline.
func (c *Client) Deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d.Add(-c.cfg.Reserve)
	}
	return c.now().Add(DefaultBudget)
}

// Do runs a persisted operation with variables (anything encoding/json
// takes; nil for none). It retries what is retryable while the budget
// allows and returns Galxe's data, or an error that is an *Error, a
// *secret.Error (no token), or ErrUnknownOperation; never a bare context error.
func (c *Client) Do(ctx context.Context, operation string, variables any) (*Result, error) {
	op, err := LookupOperation(operation)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(request{Query: op.Document, Variables: variables, OperationName: op.Name})
	if err != nil {
		return nil, fmt.Errorf("galxe: encoding variables of %s: %w", op.Name, err)
	}
	deadline := c.Deadline(ctx)
	if !c.now().Before(deadline) {
		return nil, transportError(errors.New("no time left in the invocation's budget"), true)
	}
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	token, err := c.cfg.Token.Get(bctx)
	if err != nil {
		return nil, err
	}
	if err := checkHeaderValue(token); err != nil {
		return nil, err // no request can carry it: a configuration error, not retried
	}

	var (
		last      *Error
		attempts  int
		refreshed bool
		limited   bool // the rate limit cannot admit another request in the budget
	)
	send := func(ctx context.Context) (json.RawMessage, error) {
		if err := c.limiter.Wait(ctx); err != nil {
			limited = true
			if last != nil {
				return nil, last
			}
			return nil, c.limitUnmet()
		}
		if err := c.admit(ctx, deadline); err != nil {
			limited = true
			if last != nil && !err.QuotaSpent { // a spent quota says more than the last failure
				return nil, last
			}
			return nil, err
		}
		attempts++
		data, gerr := c.attempt(ctx, op.Name, attempts, body, token)
		if gerr == nil {
			return data, nil
		}
		last = gerr
		return nil, gerr
	}
	backoff := newBackoff(c.cfg.BaseBackoff, c.cfg.MaxBackoff, func() time.Duration {
		if last == nil {
			return 0
		}
		return last.RetryAfter
	}, deadline, c.now)

	data, err := retry.DoValue(bctx, backoff, func(ctx context.Context) (json.RawMessage, error) {
		data, err := send(ctx)
		var gerr *Error
		if errors.As(err, &gerr) && gerr.TokenRejected() && !refreshed {
			// The token may have been rotated: read it again once (shared
			// with concurrent callers) and repeat at once if it changed.
			refreshed = true
			if fresh, rerr := c.cfg.Token.Refresh(ctx, token); rerr == nil && !fresh.Equal(token) {
				token = fresh
				data, err = send(ctx)
			}
		}
		if errors.As(err, &gerr) && gerr.Retryable() && !limited {
			return nil, retry.RetryableError(err)
		}
		return data, err
	})
	if err == nil {
		return &Result{Data: data, Attempts: attempts}, nil
	}
	var gerr *Error
	if !errors.As(err, &gerr) {
		// The budget ran out between attempts, or the caller gave up.
		if last != nil {
			gerr = last
		} else {
			gerr = transportError(context.Cause(bctx), true)
		}
	}
	gerr.Attempts = attempts
	return nil, gerr
}

// limitUnmet is the error for a call whose first request the process's own
// rate limit cannot admit before the deadline.
func (c *Client) limitUnmet() *Error {
	r := c.limiter.Reserve()
	wait := r.Delay()
	r.Cancel()
	return &Error{Code: CodeRateLimited, Category: CategoryRateLimit, RetryAfter: max(wait, time.Second),
		Message: fmt.Sprintf("the client's limit of %g requests a second leaves no room within the time budget", c.cfg.MaxQPS)}
}

// MinAttemptTime is the least time a request needs after its slot of the
// fleet's budget: a slot later than that before the deadline is not taken,
// and the call ends with 429 RATE_LIMITED rather than a request that could
// only time out.
const MinAttemptTime = 250 * time.Millisecond

// admit takes a slot of the fleet's budget, if there is one.
func (c *Client) admit(ctx context.Context, deadline time.Time) *Error {
	if c.cfg.Budget == nil {
		return nil
	}
	err := c.cfg.Budget.Admit(ctx, deadline.Add(-MinAttemptTime))
	if err == nil {
		return nil
	}
	var gerr *Error
	if !errors.As(err, &gerr) {
		gerr = transportError(err, errors.Is(err, context.DeadlineExceeded))
	}
	return gerr
}

// attempt sends one request and classifies its answer.
func (c *Client) attempt(ctx context.Context, op string, n int, body []byte, token secret.Value) (json.RawMessage, *Error) {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	start := c.now()
	data, gerr := c.exchange(actx, body, token)
	a := Attempt{Operation: op, Number: n, Latency: c.now().Sub(start), Err: gerr}
	if c.cfg.OnAttempt != nil {
		c.cfg.OnAttempt(ctx, a)
	}
	if c.cfg.Budget != nil {
		c.cfg.Budget.Observe(ctx, a)
	}
	return data, gerr
}

func (c *Client) exchange(ctx context.Context, body []byte, token secret.Value) (json.RawMessage, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		e := transportError(err, false)
		e.retryable = false // a request that cannot be built will not build on a retry
		return nil, e
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("access-token", token.Reveal())
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(err, ctx.Err() != nil || isTimeout(err))
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxResponseBytes { // declared too large: not worth reading
		return nil, finish(&Error{Code: CodeUpstreamError, Category: CategoryUpstream, HTTPStatus: resp.StatusCode,
			Err: errBodyTooLarge, Message: fmt.Sprintf("Galxe's answer is %d bytes, over the %d read", resp.ContentLength, MaxResponseBytes)})
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, transportError(err, ctx.Err() != nil || isTimeout(err))
	}
	if len(raw) > MaxResponseBytes {
		return nil, finish(&Error{Code: CodeUpstreamError, Category: CategoryUpstream, HTTPStatus: resp.StatusCode,
			Err: errBodyTooLarge, Message: fmt.Sprintf("Galxe's answer is larger than %d bytes", MaxResponseBytes)})
	}
	data, gerr := classify(resp.StatusCode, resp.Header, raw, c.now())
	if gerr != nil {
		// Whatever Galxe echoes in an error, the token does not travel on.
		if t := token.Reveal(); t != "" {
			gerr.Message = strings.ReplaceAll(gerr.Message, t, secret.Redacted)
			gerr.Details = bytes.ReplaceAll(gerr.Details, []byte(t), []byte(secret.Redacted))
		}
	}
	return data, gerr
}

// checkHeaderValue refuses a token no HTTP header may carry (a control
// character, a line break inside it), which net/http would refuse on every
// attempt as if the network had failed.
func checkHeaderValue(token secret.Value) error {
	t := token.Reveal()
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return secret.Invalid("Galxe access token", "it holds a control character, which no HTTP header may carry")
		}
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
