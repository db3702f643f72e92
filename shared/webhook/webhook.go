// Package webhook is the webhook function's logic: it takes an API Gateway
// event of either payload version, routes it, checks its Standard Webhooks
// signature, validates the body, calls Galxe, and answers with a response
// from the contract's table (status.go). It never returns a Go error to
// API Gateway.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// MaxBodyBytes is the largest request body accepted (after base64 decoding).
const MaxBodyBytes = 5 << 20

// Handler serves the webhook routes. Build it with New.
type Handler struct {
	galxe    galxe.Caller      // nil when the configuration cannot make a client
	galxeErr error             // why galxe is nil
	queue    *pushqueue.Sender // nil: pushes run synchronously
	queueErr error             // a queue is configured but cannot be used
	state    *state.Table      // nil: per-process behaviour (no STATE_TABLE)
	stateErr error             // a table is configured but cannot be used
	idemTTL  time.Duration     // how long a delivery's answer is kept
	cache    *readcache.Cache  // nil: every query goes to Galxe
	budget   *budget.Budget    // nil: no quota in /health
	metrics  *obs.Metrics
	auth     string
	secret   *secret.Source
	maxItems int
	problems []string // configuration problems, for /health
	log      *slog.Logger
	cold     atomic.Bool

	verifierMu sync.Mutex
	verifier   *standardwebhooks.Webhook
	verifierOf secret.Value
	replays    replayGuard
}

// Options are a Handler's dependencies.
type Options struct {
	Config        config.Config
	Galxe         galxe.Caller // nil: GalxeErr says why
	GalxeErr      error
	WebhookSecret *secret.Source
	Log           *slog.Logger
	// Queue, when set, takes APPEND and REMOVE pushes (PUSH_QUEUE_URL);
	// QueueErr says why a configured queue cannot be used.
	Queue    *pushqueue.Sender
	QueueErr error
	// State, when set, is the fleet's shared-state table (STATE_TABLE):
	// deliveries of the items route are answered once and pushes applied in
	// order (DESIGN.md §11); StateErr says why a configured table cannot be
	// used.
	State    *state.Table
	StateErr error
	Metrics  *obs.Metrics // may be nil
	// ReadCache, when set, keeps the answers of POST /operations queries
	// in the shared-state table for the fleet (readcache.New over State,
	// with READ_CACHE_SECONDS); nil: off.
	ReadCache *readcache.Cache
	// Budget, when set, is the account's budget and quota meter; GET
	// /health reports the month's quota from it.
	Budget *budget.Budget
}

// New makes a handler.
func New(o Options) *Handler {
	h := &Handler{galxe: o.Galxe, galxeErr: o.GalxeErr, auth: o.Config.WebhookAuth, secret: o.WebhookSecret,
		maxItems: o.Config.MaxItemsPerRequest, log: o.Log, queue: o.Queue, queueErr: o.QueueErr, metrics: o.Metrics,
		state: o.State, idemTTL: o.Config.IdempotencyTTL, cache: o.ReadCache, budget: o.Budget}
	h.problems = append(append([]string(nil), o.Config.Problems...), o.Config.WebhookProblems()...)
	if o.QueueErr != nil {
		h.problems = append(h.problems, "PUSH_QUEUE_URL: "+o.QueueErr.Error())
		h.queueErr = &config.Error{Problems: []string{"PUSH_QUEUE_URL: the queue cannot be used (the function's log says why)"}}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if o.StateErr != nil {
		// The error may carry AWS's text: the log has it, /health and the
		// answers only say the table cannot be used.
		h.log.Error("shared-state table not usable", "error", state.Detail(o.StateErr))
		h.state, h.cache = nil, nil
		h.problems = append(h.problems, stateUnusable)
		h.stateErr = &config.Error{Problems: []string{stateUnusable + " (the function's log says why)"}}
	}
	if h.maxItems <= 0 {
		h.maxItems = config.DefaultMaxItemsPerRequest
	}
	if h.galxe == nil && h.galxeErr == nil {
		h.galxeErr = &config.Error{Problems: []string{"no Galxe client"}}
	}
	h.cold.Store(true)
	return h
}

// Invoke is the Lambda entry point (it implements lambda.Handler, so the
// runtime hands over the payload's bytes without decoding them first): an
// API Gateway event in, a response of the same payload version out, and
// never an error.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return apigw.Marshal(h.Handle(ctx, payload))
}

// Handle answers one event with the response value for its payload version.
func (h *Handler) Handle(ctx context.Context, event []byte) any {
	start := time.Now()
	ctx, upstream := obs.WithUpstream(ctx)
	req, err := apigw.Parse(event)
	if req == nil {
		// Not API Gateway at all: answer in the 2.0 shape, which API
		// Gateway never sees, so the invoker reads a clear 400.
		resp := ErrorResponse(badRequest("the event is not an API Gateway proxy event (payload 1.0 or 2.0)", nil), "")
		h.log.WarnContext(ctx, "rejected event", "status", resp.Status, "cold_start", h.cold.Swap(false))
		return resp.For(apigw.V2)
	}
	var o outcome
	if err != nil {
		// A known version that cannot be read: a 400 naming the field,
		// in the event's own shape.
		p := problemFor(badRequest(err.Error(), nil), req.RequestID)
		o = outcome{resp: p.response(), failure: &p}
		req.Method, req.Path = galxe.Clip(req.Method), galxe.Clip(req.Path)
	} else {
		o = h.serve(ctx, req)
	}
	h.logOutcome(ctx, req, o, time.Since(start), upstream)
	return o.resp.For(req.Version)
}

// outcome is a request's answer, the route it took and, on failure, the
// mapped problem (for the log line, without reading the body back).
type outcome struct {
	resp        apigw.Response
	route       route // zero when no route matched
	failure     *problem
	idempotency string // what the shared-state table made of the delivery, if asked
	cache       string // what the read cache did (Cache-Status), if asked
}

// logOutcome writes the invocation's one line: the route, the outcome, what
// Galxe was asked and how long it took, and the code and category of a failure.
func (h *Handler) logOutcome(ctx context.Context, req *apigw.Request, o outcome, took time.Duration, up *obs.Upstream) {
	attrs := []any{"method", galxe.Clip(req.Method), "path", galxe.Clip(req.Path), "status", o.resp.Status,
		"duration_ms", took.Milliseconds(), "api_request_id", req.RequestID}
	switch o.route.name {
	case "":
	case "operation":
		attrs = append(attrs, "route", o.route.name, "operation", galxe.Clip(o.route.param))
	case "items":
		attrs = append(attrs, "route", o.route.name, "operation", "credentialItems", "cred_id", galxe.Clip(o.route.param))
	default:
		attrs = append(attrs, "route", o.route.name)
	}
	if o.idempotency != "" {
		attrs = append(attrs, "idempotency", o.idempotency)
	}
	if o.cache != "" {
		attrs = append(attrs, "cache", o.cache)
	}
	attrs = append(attrs, up.Attrs()...)
	if h.cold.Swap(false) {
		attrs = append(attrs, "cold_start", true)
	}
	level := slog.LevelInfo
	if o.idempotency == idemUnsettled || o.failure != nil && o.failure.fromState {
		h.countStateError()
	}
	if f := o.failure; f != nil {
		attrs = append(attrs, "code", f.fields.Code, "category", f.fields.Category)
		if f.internal != "" {
			attrs = append(attrs, "error", f.internal) // what the caller is not told (AWS's text)
		}
	}
	switch {
	case o.resp.Status >= 500:
		level = slog.LevelError
	case o.resp.Status >= 400:
		level = slog.LevelWarn
	}
	h.log.Log(ctx, level, "request", attrs...)
}

// countStateError counts a failure of the shared-state table (the metric
// SharedStateErrors): the answer was 503 or 500, or the answer went out
// but could not be kept.
func (h *Handler) countStateError() {
	if h.metrics != nil {
		h.metrics.Emit(obs.Metric{Name: "SharedStateErrors", Unit: "Count", Values: []float64{1}})
	}
}

// route is a matched route: its name and path parameter.
type route struct {
	name  string // "health", "items", "operation"
	param string // credId or operation name
}

// match finds the route for a path; a wrong method is 405, no match 404.
func match(method, path string) (route, error) {
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var r route
	want := http.MethodPost
	switch {
	case len(parts) == 1 && parts[0] == "health":
		r, want = route{name: "health"}, http.MethodGet
	case len(parts) == 3 && parts[0] == "credentials" && parts[2] == "items" && parts[1] != "":
		r = route{name: "items", param: parts[1]}
	case len(parts) == 2 && parts[0] == "operations" && parts[1] != "":
		r = route{name: "operation", param: parts[1]}
	default:
		return route{}, &RequestError{Status: http.StatusNotFound, Code: CodeRouteNotFound,
			Message: fmt.Sprintf("no route for %s %s", galxe.Clip(method), galxe.Clip(path))}
	}
	if method != want {
		return route{}, &RequestError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s takes %s, not %s", galxe.Clip(path), want, galxe.Clip(method))}
	}
	return r, nil
}

// Serve answers one request.
func (h *Handler) Serve(ctx context.Context, req *apigw.Request) apigw.Response {
	return h.serve(ctx, req).resp
}

// serve checks in the contract's order (DESIGN.md §6): the route (404/405),
// then /health, which never reads the body, then the signature headers,
// then the body (decoded from base64, size-limited), then the signature,
// then the content.
func (h *Handler) serve(ctx context.Context, req *apigw.Request) (o outcome) {
	accepted := time.Now()
	fail := func(r route, err error) outcome {
		p := problemFor(err, req.RequestID)
		return outcome{resp: p.response(), route: r, failure: &p}
	}
	r, err := match(req.Method, req.Path)
	if err != nil {
		return fail(route{}, err)
	}
	if r.name == "health" {
		return outcome{resp: h.health(ctx), route: r}
	}
	signed := h.auth == config.AuthStandardWebhooks
	if signed {
		if err := checkSignatureHeaders(req.Header); err != nil {
			return fail(r, err)
		}
	}
	if err := req.DecodeBody(); err != nil {
		return fail(r, badRequest(err.Error(), nil))
	}
	if len(req.Body) > MaxBodyBytes {
		return fail(r, &RequestError{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
			Message: fmt.Sprintf("the body is %d bytes; the limit is %d", len(req.Body), MaxBodyBytes)})
	}
	// With the shared-state table the items route's deliveries are
	// answered once by the table, whatever the timestamp: the process's
	// replay memory stays for the other routes.
	once := r.name == "items" && (h.state != nil || h.stateErr != nil)
	replay, err := h.authenticate(ctx, req, !once)
	if err != nil {
		return fail(r, err)
	}
	if replay != "" {
		// Remembered only once the outcome is final (a panic's is not).
		defer func() { h.replays.settle(replay, final(o.resp)) }()
	}
	run := func() outcome {
		var (
			data   any
			status = http.StatusOK
			header map[string]string // the read cache's Cache-Status and Age
			err    error
		)
		switch r.name {
		case "items":
			status, data, err = h.pushItems(ctx, r.param, req.Body, accepted)
		case "operation":
			data, header, err = h.runOperation(ctx, r.param, req.Body)
		}
		if err != nil {
			return fail(r, err)
		}
		resp := apigw.JSON(status, map[string]any{"data": data})
		if resp.Status == status {
			resp.Header = header
		}
		return outcome{resp: resp, route: r, cache: header[readcache.HeaderCacheStatus]}
	}
	if once {
		return h.answerOnce(ctx, req, r, run)
	}
	return run()
}

// stateUnusable is /health's reason when STATE_TABLE is set and the table
// cannot be used.
const stateUnusable = "STATE_TABLE: the shared-state table cannot be used"

// healthBody is GET /health's answer.
type healthBody struct {
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	SharedState bool   `json:"shared_state"` // the fleet's table is in use (DESIGN.md §11)
	Quota       *quota `json:"quota,omitempty"`
}

// quota is the month's use of the account's quota, as the fleet counted it.
type quota struct {
	Month string `json:"month"` // YYYY-MM, UTC
	Used  int64  `json:"used"`
	Limit int64  `json:"limit"`
}

// quotaReadTimeout bounds /health's read of the month's count: a slow
// table leaves the last count this process knew.
const quotaReadTimeout = 500 * time.Millisecond

func (h *Handler) quota(ctx context.Context) *quota {
	if h.budget == nil {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, quotaReadTimeout)
	defer cancel()
	q, _ := h.budget.Quota(qctx) // on a failure, the last count known
	return &quota{Month: q.Month, Used: q.Used, Limit: q.Limit}
}

func (h *Handler) health(ctx context.Context) apigw.Response {
	problems := h.problems
	if h.auth == config.AuthStandardWebhooks && h.secret != nil {
		// A secret that is malformed or cannot be read for good leaves every
		// signed route answering 500: not healthy. (Never a read here.)
		if p := h.secret.Problem(); p != nil {
			problems = append(problems[:len(problems):len(problems)], p.Public())
		}
	}
	if len(problems) > 0 {
		return apigw.JSON(http.StatusServiceUnavailable, healthBody{Status: "degraded", Reason: strings.Join(problems, "; "), SharedState: h.state != nil, Quota: h.quota(ctx)})
	}
	return apigw.JSON(http.StatusOK, healthBody{Status: "ok", SharedState: h.state != nil, Quota: h.quota(ctx)})
}

// final reports whether an answer is a request's last word: not a 5xx
// (QUEUE_UNAVAILABLE included), nor an answer that invites the same request
// again (429 and 409 come with Retry-After). The replay memory and the
// shared table both keep only final answers.
func final(resp apigw.Response) bool {
	return resp.Status >= 200 && resp.Status < 500 && resp.Header["Retry-After"] == ""
}

// authenticate checks the Standard Webhooks signature over the decoded
// body; the library compares in constant time and refuses stale
// timestamps. A signature that does not match may be from a rotated
// secret: the secret is read again (at most once a minute per process) and
// the signature checked again if it changed. A signed request is claimed
// in the replay memory (when guard is set): the key it returns is settled
// once answered.
func (h *Handler) authenticate(ctx context.Context, req *apigw.Request, guard bool) (replay string, err error) {
	switch h.auth {
	case config.AuthNone:
		return "", nil
	case config.AuthStandardWebhooks:
	default:
		return "", &config.Error{Problems: []string{"WEBHOOK_AUTH is not a known mode"}}
	}
	if h.secret == nil {
		return "", &config.Error{Problems: []string{"no webhook signing secret configured"}}
	}
	sec, err := h.secret.Get(ctx)
	if err != nil {
		return "", err
	}
	wh, err := h.verifierFor(sec)
	if err != nil {
		return "", err
	}
	err = wh.Verify(req.Body, req.Header)
	if isMismatch(err) {
		if fresh, rerr := h.secret.Refresh(ctx, sec); rerr == nil && !fresh.Equal(sec) {
			if wh, rerr = h.verifierFor(fresh); rerr == nil {
				err = wh.Verify(req.Body, req.Header)
			}
		}
	}
	if err != nil {
		return "", &RequestError{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: signatureProblem(err)}
	}
	if !guard {
		return "", nil
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	signedAt, _ := strconv.ParseInt(req.Header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64) // digits, checked
	key := replayKey(id, signedAt)
	switch h.replays.claim(key, signedAt, time.Now()) {
	case alreadyRunning:
		return "", &RequestError{Status: http.StatusConflict, Code: CodeRequestInProgress, RetryAfter: defaultRetryAfter,
			Message: "this signed request is being answered now; send it again later"}
	case alreadyDone:
		return "", &RequestError{Status: http.StatusUnauthorized, Code: CodeUnauthenticated,
			Message: "this signed request was already received (replay); a retry must be signed anew"}
	}
	return key, nil
}

// Bounds on the signature headers, checked before anything parses them: a
// header is remembered (the id) or split (the signatures) only within them.
const (
	MaxWebhookIDBytes        = 256
	MaxSignatureHeaderBytes  = 8 << 10
	MaxSignatures            = 32
	maxTimestampDigits       = 12 // far beyond any Unix time in seconds the tolerance accepts
	unauthenticatedNoHeaders = "missing webhook-id, webhook-timestamp or webhook-signature header"
)

// checkSignatureHeaders refuses, with 401, signature headers that are
// missing or out of bounds, before the body is decoded or anything parsed.
func checkSignatureHeaders(hdr http.Header) error {
	unauth := func(msg string) error {
		return &RequestError{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: msg}
	}
	id := hdr.Get(standardwebhooks.HeaderWebhookID)
	ts := hdr.Get(standardwebhooks.HeaderWebhookTimestamp)
	sig := hdr.Get(standardwebhooks.HeaderWebhookSignature)
	switch {
	case id == "" || ts == "" || sig == "":
		return unauth(unauthenticatedNoHeaders)
	case len(id) > MaxWebhookIDBytes:
		return unauth(fmt.Sprintf("the webhook-id header is %d bytes; at most %d", len(id), MaxWebhookIDBytes))
	case len(ts) > maxTimestampDigits || strings.Trim(ts, "0123456789") != "":
		return unauth("the webhook-timestamp header must be a Unix time in seconds, digits only")
	case len(sig) > MaxSignatureHeaderBytes:
		return unauth(fmt.Sprintf("the webhook-signature header is %d bytes; at most %d", len(sig), MaxSignatureHeaderBytes))
	case strings.Count(sig, " ")+1 > MaxSignatures:
		return unauth(fmt.Sprintf("the webhook-signature header holds more than %d signatures", MaxSignatures))
	}
	return nil
}

// isMismatch reports whether verification failed on the signature itself
// (not on missing headers or a stale timestamp), the one failure a rotated
// secret explains.
func isMismatch(err error) bool {
	return err != nil && !errors.Is(err, standardwebhooks.ErrRequiredHeaders) &&
		!errors.Is(err, standardwebhooks.ErrInvalidHeaders) && !errors.Is(err, standardwebhooks.ErrMessageTooOld) &&
		!errors.Is(err, standardwebhooks.ErrMessageTooNew)
}

// signatureProblem says what was wrong without repeating the library's
// wrapping.
func signatureProblem(err error) string {
	switch {
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return unauthenticatedNoHeaders
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return "the webhook-timestamp header is not a Unix time"
	case errors.Is(err, standardwebhooks.ErrMessageTooOld), errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return "the webhook-timestamp is more than 5 minutes from now"
	}
	return "the webhook signature does not match"
}

// verifierFor returns the Standard Webhooks verifier for a secret value,
// made once per value.
func (h *Handler) verifierFor(sec secret.Value) (*standardwebhooks.Webhook, error) {
	h.verifierMu.Lock()
	defer h.verifierMu.Unlock()
	if h.verifier != nil && h.verifierOf.Equal(sec) {
		return h.verifier, nil
	}
	wh, err := standardwebhooks.NewWebhook(sec.Reveal())
	if err != nil {
		// The library's error names only a byte offset, but say nothing of the value at all.
		return nil, &config.Error{Problems: []string{"the webhook signing secret is not a whsec_ base64 secret"}}
	}
	h.verifier, h.verifierOf = wh, sec
	return wh, nil
}
