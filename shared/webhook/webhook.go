// Package webhook is the webhook function's logic: it takes an API Gateway
// event of either payload version, routes it, checks its Standard Webhooks
// signature, validates the body, calls Galxe, and answers with a response
// from the contract's table (status.go). It never returns a Go error to
// API Gateway.
package webhook

import (
	"bytes"
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
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// MaxBodyBytes is the largest request body accepted (after base64 decoding).
const MaxBodyBytes = 5 << 20

// Handler serves the webhook routes. Build it with New.
type Handler struct {
	galxe    credentials.Caller // nil when the configuration cannot make a client
	galxeErr error              // why galxe is nil
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
	Galxe         credentials.Caller // nil: GalxeErr says why
	GalxeErr      error
	WebhookSecret *secret.Source
	Log           *slog.Logger
}

// New makes a handler.
func New(o Options) *Handler {
	h := &Handler{galxe: o.Galxe, galxeErr: o.GalxeErr, auth: o.Config.WebhookAuth, secret: o.WebhookSecret,
		maxItems: o.Config.MaxItemsPerRequest, log: o.Log}
	h.problems = append(append([]string(nil), o.Config.Problems...), o.Config.WebhookProblems()...)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
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
		p := problemFor(badRequest(err.Error(), nil), req.RequestID)
		o = outcome{resp: p.response(), failure: &p}
	} else {
		o = h.serve(ctx, req)
	}
	h.logOutcome(ctx, req, o, time.Since(start), upstream)
	return o.resp.For(req.Version)
}

// outcome is a request's answer, the route it took and, on failure, the
// mapped problem (for the log line, without reading the body back).
type outcome struct {
	resp    apigw.Response
	route   route // zero when no route matched
	failure *problem
}

// logOutcome writes the invocation's one line: the route, the outcome, what
// Galxe was asked and how long it took, and the code and category of a failure.
func (h *Handler) logOutcome(ctx context.Context, req *apigw.Request, o outcome, took time.Duration, up *obs.Upstream) {
	attrs := []any{"method", req.Method, "path", req.Path, "status", o.resp.Status,
		"duration_ms", took.Milliseconds(), "api_request_id", req.RequestID}
	switch o.route.name {
	case "":
	case "operation":
		attrs = append(attrs, "route", o.route.name, "operation", o.route.param)
	case "items":
		attrs = append(attrs, "route", o.route.name, "operation", "credentialItems", "cred_id", o.route.param)
	default:
		attrs = append(attrs, "route", o.route.name)
	}
	attrs = append(attrs, up.Attrs()...)
	if h.cold.Swap(false) {
		attrs = append(attrs, "cold_start", true)
	}
	level := slog.LevelInfo
	if f := o.failure; f != nil {
		attrs = append(attrs, "code", f.fields.Code, "category", f.fields.Category)
	}
	switch {
	case o.resp.Status >= 500:
		level = slog.LevelError
	case o.resp.Status >= 400:
		level = slog.LevelWarn
	}
	h.log.Log(ctx, level, "request", attrs...)
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
			Message: fmt.Sprintf("no route for %s %s", method, path)}
	}
	if method != want {
		return route{}, &RequestError{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s takes %s, not %s", path, want, method)}
	}
	return r, nil
}

// Serve answers one request.
func (h *Handler) Serve(ctx context.Context, req *apigw.Request) apigw.Response {
	return h.serve(ctx, req).resp
}

// serve routes first (an unknown route is 404, signed or not), then checks
// the size limit, then the signature, then runs the route.
func (h *Handler) serve(ctx context.Context, req *apigw.Request) outcome {
	fail := func(r route, err error) outcome {
		p := problemFor(err, req.RequestID)
		return outcome{resp: p.response(), route: r, failure: &p}
	}
	r, err := match(req.Method, req.Path)
	if err != nil {
		return fail(route{}, err)
	}
	if r.name == "health" {
		return outcome{resp: h.health(), route: r}
	}
	if len(req.Body) > MaxBodyBytes {
		return fail(r, &RequestError{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
			Message: fmt.Sprintf("the body is %d bytes; the limit is %d", len(req.Body), MaxBodyBytes)})
	}
	if err := h.authenticate(ctx, req); err != nil {
		return fail(r, err)
	}
	var data any
	switch r.name {
	case "items":
		data, err = h.pushItems(ctx, r.param, req.Body)
	case "operation":
		data, err = h.runOperation(ctx, r.param, req.Body)
	}
	if err != nil {
		return fail(r, err)
	}
	return outcome{resp: apigw.JSON(http.StatusOK, map[string]any{"data": data}), route: r}
}

func (h *Handler) health() apigw.Response {
	if len(h.problems) > 0 {
		return apigw.JSON(http.StatusServiceUnavailable, map[string]string{"status": "degraded", "reason": strings.Join(h.problems, "; ")})
	}
	return apigw.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// authenticate checks the Standard Webhooks signature over the decoded
// body; the library compares in constant time and refuses stale timestamps.
func (h *Handler) authenticate(ctx context.Context, req *apigw.Request) error {
	if h.auth == config.AuthNone {
		return nil
	}
	if h.auth != config.AuthStandardWebhooks {
		return &config.Error{Problems: []string{"WEBHOOK_AUTH is not a known mode"}}
	}
	wh, err := h.verifierFor(ctx)
	if err != nil {
		return err
	}
	if err := wh.Verify(req.Body, req.Header); err != nil {
		return &RequestError{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: signatureProblem(err)}
	}
	id, ts := req.Header.Get(standardwebhooks.HeaderWebhookID), req.Header.Get(standardwebhooks.HeaderWebhookTimestamp)
	signedAt, _ := strconv.ParseInt(ts, 10, 64) // Verify parsed it already
	if !h.replays.firstUse(id+"."+ts, time.Unix(signedAt, 0), time.Now()) {
		return &RequestError{Status: http.StatusUnauthorized, Code: CodeUnauthenticated,
			Message: "this signed request was already received (replay); a retry must be signed anew"}
	}
	return nil
}

// signatureProblem says what was wrong without repeating the library's
// wrapping.
func signatureProblem(err error) string {
	switch {
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return "missing webhook-id, webhook-timestamp or webhook-signature header"
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return "the webhook-timestamp header is not a Unix time"
	case errors.Is(err, standardwebhooks.ErrMessageTooOld), errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return "the webhook-timestamp is more than 5 minutes from now"
	}
	return "the webhook signature does not match"
}

// verifierFor returns the Standard Webhooks verifier for the current
// secret, made once per secret value.
func (h *Handler) verifierFor(ctx context.Context) (*standardwebhooks.Webhook, error) {
	if h.secret == nil {
		return nil, &config.Error{Problems: []string{"no webhook signing secret configured"}}
	}
	sec, err := h.secret.Get(ctx)
	if err != nil {
		return nil, err
	}
	h.verifierMu.Lock()
	defer h.verifierMu.Unlock()
	if h.verifier != nil && h.verifierOf.Equal(sec) {
		return h.verifier, nil
	}
	wh, err := standardwebhooks.NewWebhook(sec.Reveal())
	if err != nil || len(bytes.TrimSpace([]byte(sec.Reveal()))) == 0 {
		// The library's error names only a byte offset, but say nothing of the value at all.
		return nil, &config.Error{Problems: []string{"the webhook signing secret is not a whsec_ base64 secret"}}
	}
	h.verifier, h.verifierOf = wh, sec
	return wh, nil
}
