package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	token         = "glx_test_token_9d1f0c3b7a5e2d4f6a8c0e1b3d5f7a9c"
	webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	credID        = galxetest.DemoCredentialID
)

type env struct {
	t    *testing.T
	srv  *galxetest.Server
	h    *webhook.Handler
	logs *bytes.Buffer
	cfg  config.Config
}

type setup struct {
	vars    map[string]string
	srvOpts galxetest.Options
	reserve time.Duration
}

func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	if s.srvOpts.Tokens == nil {
		s.srvOpts.Tokens = []string{token}
	}
	if s.srvOpts.QPS == 0 {
		s.srvOpts.QPS = -1
	}
	srv := galxetest.NewServer(s.srvOpts)
	t.Cleanup(srv.Close)
	vars := map[string]string{"GALXE_ENDPOINT": srv.URL, "GALXE_ACCESS_TOKEN": token, "WEBHOOK_SECRET": webhookSecret,
		"GALXE_MAX_QPS": "1000"}
	for k, v := range s.vars {
		vars[k] = v
	}
	cfg := config.FromEnv(func(k string) string { return vars[k] })
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tok := cfg.TokenSource(nil)
	opts := webhook.Options{Config: cfg, WebhookSecret: cfg.WebhookSecretSource(nil), Log: log}
	client, err := galxe.New(galxe.Config{Endpoint: cfg.Endpoint, Token: tok, MaxQPS: cfg.MaxQPS,
		BaseBackoff: 5 * time.Millisecond, Reserve: s.reserve})
	if err != nil {
		opts.GalxeErr = err
	} else {
		opts.Galxe = client
	}
	return &env{t: t, srv: srv, h: webhook.New(opts), logs: logs, cfg: cfg}
}

// request describes a call; event renders it in a payload version.
type request struct {
	method, path string
	body         string
	unsigned     bool
	b64          bool
	badB64       bool // marked base64 but not
	id           string
	headers      map[string]string
	signAt       time.Time
	signWith     string
}

func (r request) event(t *testing.T, v apigw.Version) []byte {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if !r.unsigned {
		secretKey := webhookSecret
		if r.signWith != "" {
			secretKey = r.signWith
		}
		wh, err := standardwebhooks.NewWebhook(secretKey)
		if err != nil {
			t.Fatal(err)
		}
		at := r.signAt
		if at.IsZero() {
			at = time.Now()
		}
		id := r.id
		if id == "" {
			id = fmt.Sprintf("msg_%d", msgSeq.Add(1))
		}
		sig, _ := wh.Sign(id, at, []byte(r.body))
		// Payload 2.0 lower-cases header names; 1.0 keeps the sender's case.
		names := [3]string{"webhook-id", "webhook-timestamp", "webhook-signature"}
		if v == apigw.V1 {
			names = [3]string{"Webhook-Id", "WEBHOOK-TIMESTAMP", "Webhook-Signature"}
		}
		h[names[0]], h[names[1]], h[names[2]] = id, strconv.FormatInt(at.Unix(), 10), sig
	}
	for k, val := range r.headers {
		h[k] = val
	}
	body := r.body
	if r.b64 && !r.badB64 {
		body = base64.StdEncoding.EncodeToString([]byte(r.body))
	}
	if r.badB64 {
		r.b64 = true // the event says base64; the body is not
	}
	var ev any
	if v == apigw.V2 {
		e := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: "/prod" + r.path, Headers: h,
			Body: body, IsBase64Encoded: r.b64}
		e.RequestContext.Stage = "prod"
		e.RequestContext.RequestID = "apigw-req-2"
		e.RequestContext.HTTP.Method = r.method
		e.RequestContext.HTTP.Path = "/prod" + r.path
		ev = e
	} else {
		e := events.APIGatewayProxyRequest{HTTPMethod: r.method, Path: r.path, Resource: r.path, Headers: h,
			Body: body, IsBase64Encoded: r.b64}
		e.RequestContext.RequestID = "apigw-req-1"
		e.RequestContext.Stage = "prod"
		ev = e
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type answer struct {
	Status  int
	Headers map[string]string
	Body    map[string]any
	Raw     string
}

func (a answer) code() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a answer) errField(k string) any {
	e, _ := a.Body["error"].(map[string]any)
	return e[k]
}

// call sends the request through lambda's own JSON round trip, as the
// runtime would, in one payload version.
func (e *env) call(ctx context.Context, r request, v apigw.Version) answer {
	e.t.Helper()
	out, err := lambda.NewHandler(e.h).Invoke(ctx, r.event(e.t, v))
	if err != nil {
		e.t.Fatalf("the handler returned an error to Lambda: %v", err)
	}
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		e.t.Fatalf("response: %v", err)
	}
	a := answer{Status: resp.StatusCode, Headers: resp.Headers, Raw: resp.Body}
	if resp.Headers["Content-Type"] != "application/json" {
		e.t.Errorf("Content-Type %q", resp.Headers["Content-Type"])
	}
	if err := json.Unmarshal([]byte(resp.Body), &a.Body); err != nil {
		e.t.Fatalf("body is not JSON: %q", resp.Body)
	}
	if a.Body["error"] != nil {
		wantID := "apigw-req-1"
		if v == apigw.V2 {
			wantID = "apigw-req-2"
		}
		if a.errField("request_id") != wantID {
			e.t.Errorf("error body without API Gateway's request id: %s", resp.Body)
		}
	}
	return a
}

var versions = []apigw.Version{apigw.V1, apigw.V2}

var msgSeq atomic.Int64

func TestReplayedSignatureRefused(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		at := time.Now()
		first := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: "msg_replay", signAt: at}, v)
		replay := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: "msg_replay", signAt: at}, v)
		// The sender's retry: the same id, signed anew a second later.
		retry := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: "msg_replay", signAt: at.Add(time.Second)}, v)
		if first.Status != 200 || replay.Status != 401 || !strings.Contains(replay.Raw, "replay") || retry.Status != 200 {
			t.Fatalf("first %d, replay %d %s, retry %d", first.Status, replay.Status, replay.Raw, retry.Status)
		}
		if e.srv.Requests() != 2 {
			t.Fatalf("the replay reached Galxe: %d requests", e.srv.Requests())
		}
	})
}

// A signed request is remembered once its outcome is final: the same
// bytes sent again after a 503 or a 429, which invite them, are processed;
// after a final answer they are a replay.
func TestRetryAfterNonFinalOutcomeProcessed(t *testing.T) {
	t.Run("503 QUEUE_UNAVAILABLE", func(t *testing.T) {
		e, q := queuedEnv(t)
		r := request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "a@example.com"),
			id: "msg_queue_down", signAt: time.Now()}
		q.SetDown(true)
		first := e.call(ctxWithin(t, 2*time.Second), r, apigw.V2)
		q.SetDown(false)
		again := e.call(ctxWithin(t, 10*time.Second), r, apigw.V2)
		replay := e.call(ctxWithin(t, 10*time.Second), r, apigw.V2)
		if first.Status != 503 || again.Status != 202 || replay.Status != 401 {
			t.Fatalf("first %d, again %d %s, replay %d", first.Status, again.Status, again.Raw, replay.Status)
		}
		if n := len(q.Messages("push")); n != 1 {
			t.Fatalf("%d messages queued, want 1", n)
		}
	})
	t.Run("429", func(t *testing.T) {
		e := newEnv(t, setup{})
		e.srv.Fail(galxetest.QuotaSpent("monthly"))
		r := request{method: "POST", path: "/operations/health", id: "msg_rate_limited", signAt: time.Now()}
		first := e.call(context.Background(), r, apigw.V2)
		again := e.call(context.Background(), r, apigw.V2)
		replay := e.call(context.Background(), r, apigw.V2)
		if first.Status != 429 || again.Status != 200 || replay.Status != 401 {
			t.Fatalf("first %d, again %d %s, replay %d", first.Status, again.Status, again.Raw, replay.Status)
		}
		if n := e.srv.Requests(); n != 2 {
			t.Fatalf("Galxe saw %d requests, want 2", n)
		}
	})
}

// gatedGalxe holds every call until released, counting them.
type gatedGalxe struct {
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (g *gatedGalxe) Do(ctx context.Context, _ string, _ any) (*galxe.Result, error) {
	if g.calls.Add(1) == 1 { // a second call would not wait: a failing test ends rather than hangs
		g.entered <- struct{}{}
		<-g.release
	}
	return &galxe.Result{Data: json.RawMessage(`{"__typename":"Query"}`), Attempts: 1}, nil
}

// Two identical signed requests at once: one runs; the other is told it
// is in progress and never reaches Galxe. Once the first is answered for
// good, the same bytes are a replay.
func TestConcurrentIdenticalRequestsRunOnce(t *testing.T) {
	e := newEnv(t, setup{})
	g := &gatedGalxe{entered: make(chan struct{}), release: make(chan struct{})}
	e.h = webhook.New(webhook.Options{Config: e.cfg, Galxe: g, WebhookSecret: e.cfg.WebhookSecretSource(nil)})
	r := request{method: "POST", path: "/operations/health", id: "msg_twice", signAt: time.Now()}
	firstOut := make(chan []byte, 1)
	ev := r.event(t, apigw.V2)
	go func() {
		out, _ := lambda.NewHandler(e.h).Invoke(context.Background(), ev)
		firstOut <- out
	}()
	<-g.entered
	second := e.call(context.Background(), r, apigw.V2)
	close(g.release)
	var first struct {
		StatusCode int `json:"statusCode"`
	}
	if err := json.Unmarshal(<-firstOut, &first); err != nil {
		t.Fatal(err)
	}
	third := e.call(context.Background(), r, apigw.V2)
	if first.StatusCode != 200 || second.Status != 409 || second.code() != "REQUEST_IN_PROGRESS" || second.Headers["Retry-After"] == "" || third.Status != 401 {
		t.Fatalf("first %d, second %d %s, third %d %s", first.StatusCode, second.Status, second.Raw, third.Status, third.Raw)
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("Galxe called %d times, want 1", n)
	}
}

func both(t *testing.T, f func(t *testing.T, v apigw.Version)) {
	for _, v := range versions {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { f(t, v) })
	}
}

func ctxWithin(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestHealth(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		a := e.call(context.Background(), request{method: "GET", path: "/health", unsigned: true}, v)
		if a.Status != 200 || a.Body["status"] != "ok" {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		if e.srv.Requests() != 0 {
			t.Fatal("health called Galxe")
		}
		bad := newEnv(t, setup{vars: map[string]string{"GALXE_ACCESS_TOKEN": "", "WEBHOOK_SECRET": ""}})
		a = bad.call(context.Background(), request{method: "GET", path: "/health", unsigned: true}, v)
		if a.Status != 503 || a.Body["status"] != "degraded" || !strings.Contains(a.Body["reason"].(string), "GALXE_ACCESS_TOKEN") {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
	})
}

func TestOperationRoute(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		body := fmt.Sprintf(`{"variables":{"id":%q}}`, credID)
		for _, b64 := range []bool{false, true} {
			a := e.call(context.Background(), request{method: "POST", path: "/operations/credential", body: body, b64: b64}, v)
			data, _ := a.Body["data"].(map[string]any)
			cred, _ := data["credential"].(map[string]any)
			if a.Status != 200 || cred["id"] != credID {
				t.Fatalf("b64=%v: %d %s", b64, a.Status, a.Raw)
			}
		}
		// The body may be omitted, and so may variables.
		for _, body := range []string{"", "{}", `{"variables":null}`} {
			a := e.call(context.Background(), request{method: "POST", path: "/operations/health", body: body}, v)
			if a.Status != 200 || !strings.Contains(a.Raw, `"__typename":"Query"`) {
				t.Fatalf("body %q: %d %s", body, a.Status, a.Raw)
			}
		}
	})
}

func TestItemsRouteBatches1234ItemsInto3Calls(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		items := make([]string, 0, 1300)
		for i := range 1234 {
			items = append(items, fmt.Sprintf("0x%040X", i+1000)) // upper-case: normalised
		}
		// Duplicates after normalisation and surrounding white space.
		items = append(items, "  "+strings.ToLower(items[0])+" ", items[1])
		body, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": items})
		a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: string(body)}, v)
		if a.Status != 200 {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		data := a.Body["data"].(map[string]any)
		if data["items"] != float64(1234) || data["batches"] != float64(3) || data["credId"] != credID || data["operation"] != "APPEND" {
			t.Fatalf("summary %v", data)
		}
		if n := e.srv.Calls("credentialItems"); n != 3 {
			t.Fatalf("%d Galxe calls", n)
		}
		// Nothing lost or repeated: 1234 items carried, all 1234 (+3 seeded) held.
		if got := e.srv.Received(credID); got != 1234 {
			t.Fatalf("Galxe received %d items", got)
		}
		held := map[string]bool{}
		for _, it := range e.srv.Items(credID) {
			held[it] = true
		}
		for i := range 1234 {
			if !held[strings.ToLower(items[i])] {
				t.Fatalf("item %d missing", i)
			}
		}
	})
}

func TestRequestErrors(t *testing.T) {
	big := `{"operation":"APPEND","items":["` + strings.Repeat("a", webhook.MaxBodyBytes) + `"]}`
	tooMany, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": numbered(1001)})
	replace, _ := json.Marshal(map[string]any{"operation": "REPLACE", "items": numbered(501)})
	cases := []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"bad JSON", request{method: "POST", path: "/credentials/1/items", body: `{"operation":`}, 400, "INVALID_REQUEST"},
		{"wrong types", request{method: "POST", path: "/credentials/1/items", body: `{"operation":"APPEND","items":"0x1"}`}, 400, "INVALID_REQUEST"},
		{"unknown field", request{method: "POST", path: "/credentials/1/items", body: `{"operation":"APPEND","items":["a"],"x":1}`}, 400, "INVALID_REQUEST"},
		{"bad operation", request{method: "POST", path: "/credentials/1/items", body: `{"operation":"UPSERT","items":["a"]}`}, 400, "INVALID_REQUEST"},
		{"empty items", request{method: "POST", path: "/credentials/1/items", body: `{"operation":"APPEND","items":[]}`}, 400, "INVALID_REQUEST"},
		{"credId not digits", request{method: "POST", path: "/credentials/abc/items", body: `{"operation":"APPEND","items":["a"]}`}, 400, "INVALID_REQUEST"},
		{"REPLACE over 500", request{method: "POST", path: "/credentials/1/items", body: string(replace)}, 400, "INVALID_REQUEST"},
		{"unknown operation", request{method: "POST", path: "/operations/dropTables", body: `{}`}, 400, "UNKNOWN_OPERATION"},
		{"variables not object", request{method: "POST", path: "/operations/health", body: `{"variables":[1]}`}, 400, "INVALID_REQUEST"},
		{"bad base64", request{method: "POST", path: "/operations/health", body: "not base64!", badB64: true}, 400, "INVALID_REQUEST"},
		{"missing signature", request{method: "POST", path: "/operations/health", body: `{}`, unsigned: true}, 401, "UNAUTHENTICATED"},
		{"wrong signature", request{method: "POST", path: "/operations/health", body: `{}`, signWith: "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret"))}, 401, "UNAUTHENTICATED"},
		{"stale signature", request{method: "POST", path: "/operations/health", body: `{}`, signAt: time.Now().Add(-6 * time.Minute)}, 401, "UNAUTHENTICATED"},
		{"unknown route unsigned", request{method: "POST", path: "/nope", unsigned: true}, 404, "ROUTE_NOT_FOUND"},
		{"unknown route signed", request{method: "GET", path: "/credentials/1", body: ""}, 404, "ROUTE_NOT_FOUND"},
		{"wrong method", request{method: "GET", path: "/operations/health", unsigned: true}, 405, "METHOD_NOT_ALLOWED"},
		{"wrong method health", request{method: "POST", path: "/health", unsigned: true}, 405, "METHOD_NOT_ALLOWED"},
		{"body over 5 MiB", request{method: "POST", path: "/credentials/1/items", body: big}, 413, "PAYLOAD_TOO_LARGE"},
		{"too many items", request{method: "POST", path: "/credentials/1/items", body: string(tooMany)}, 413, "PAYLOAD_TOO_LARGE"},
	}
	for _, c := range cases {
		both(t, func(t *testing.T, v apigw.Version) {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, setup{vars: map[string]string{"MAX_ITEMS_PER_REQUEST": "1000"}})
				a := e.call(context.Background(), c.req, v)
				if a.Status != c.status || a.code() != c.code {
					t.Fatalf("got %d %s, want %d %s", a.Status, a.Raw, c.status, c.code)
				}
				if a.errField("category") != "REQUEST" {
					t.Errorf("category %v", a.errField("category"))
				}
				if m, _ := a.errField("message").(string); m == "" {
					t.Error("no message")
				}
				if e.srv.Requests() != 0 {
					t.Errorf("a bad request reached Galxe")
				}
			})
		})
	}
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@example.com", i)
	}
	return out
}

func TestInvalidItemsListed(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		body, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": []string{
			"0x00000000000000000000000000000000000000a1", "", "0x123", strings.Repeat("x", 257), "tab\there", "ok@example.com"}})
		a := e.call(context.Background(), request{method: "POST", path: "/credentials/1/items", body: string(body)}, v)
		if a.Status != 400 {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		details := a.errField("details").(map[string]any)
		invalid := details["invalid"].([]any)
		var idx []int
		for _, x := range invalid {
			idx = append(idx, int(x.(map[string]any)["index"].(float64)))
		}
		if fmt.Sprint(idx) != "[1 2 3 4]" {
			t.Fatalf("invalid indexes %v in %s", idx, a.Raw)
		}
	})
}

func TestGalxeErrorsMapped(t *testing.T) {
	quota := galxetest.QuotaSpent("monthly")
	slow := galxetest.Fault{Hang: true}
	cases := []struct {
		name       string
		fault      galxetest.Fault
		status     int
		code       string
		category   string
		retryAfter string
	}{
		{"validation", galxetest.ErrorFault("INVALID_ADDRESS"), 400, "INVALID_ADDRESS", "VALIDATION", ""},
		{"not found", galxetest.ErrorFault("CREDENTIAL_NOT_FOUND"), 404, "CREDENTIAL_NOT_FOUND", "NOT_FOUND", ""},
		{"authorization", galxetest.ErrorFault("PERMISSION_DENIED"), 403, "PERMISSION_DENIED", "AUTHORIZATION", ""},
		{"rate limit", galxetest.ErrorFault("QUOTA_EXCEEDED"), 429, "QUOTA_EXCEEDED", "RATE_LIMIT", "1"},
		{"quota spent", quota, 429, "QUOTA_EXCEEDED", "RATE_LIMIT", "3600"},
		{"authentication", galxetest.ErrorFault("INVALID_TOKEN"), 502, "INVALID_TOKEN", "AUTHENTICATION", ""},
		{"internal", galxetest.ErrorFault("INTERNAL_ERROR"), 502, "INTERNAL_ERROR", "INTERNAL", ""},
		{"unreadable", galxetest.Fault{RawSet: true, Raw: []byte("garbage")}, 502, "UPSTREAM_ERROR", "UPSTREAM", ""},
		{"network", galxetest.Fault{Reset: true}, 502, "UPSTREAM_ERROR", "UPSTREAM", ""},
		{"unavailable", galxetest.ErrorFault("UNAVAILABLE"), 503, "UNAVAILABLE", "UNAVAILABLE", "1"},
		{"hung", slow, 504, "UPSTREAM_TIMEOUT", "UPSTREAM", ""},
	}
	for _, c := range cases {
		// Retried kinds run out their budget: a second of reserve and two of
		// budget leave any machine time to answer; the cases run side by side.
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			both(t, func(t *testing.T, v apigw.Version) {
				e := newEnv(t, setup{reserve: time.Second})
				for range 200 {
					e.srv.Fail(c.fault)
				}
				ctx := ctxWithin(t, 3*time.Second)
				a := e.call(ctx, request{method: "POST", path: "/operations/credential",
					body: fmt.Sprintf(`{"variables":{"id":%q}}`, credID)}, v)
				if ctx.Err() != nil {
					t.Fatal("answered after the deadline")
				}
				if a.Status != c.status || a.code() != c.code || a.errField("category") != c.category {
					t.Fatalf("got %d %s", a.Status, a.Raw)
				}
				if got := a.Headers["Retry-After"]; got != c.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
				}
				if c.retryAfter != "" && a.errField("retry_after_seconds") == nil {
					t.Error("retry_after_seconds missing")
				}
				if gid, _ := a.errField("galxe_request_id").(string); c.category != "UPSTREAM" && !strings.HasPrefix(gid, "req_") {
					t.Errorf("galxe_request_id %q", gid)
				}
			})
		})
	}
}

func TestBudgetLimitedRateLimitAnswered429BeforeDeadline(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{reserve: 150 * time.Millisecond})
		for range 1000 {
			e.srv.Fail(galxetest.ErrorFault("QUOTA_EXCEEDED"))
		}
		ctx := ctxWithin(t, 600*time.Millisecond)
		a := e.call(ctx, request{method: "POST", path: "/operations/health"}, v)
		if ctx.Err() != nil {
			t.Fatal("answered after the deadline")
		}
		if a.Status != 429 || a.Headers["Retry-After"] == "" || e.srv.Requests() < 2 {
			t.Fatalf("%d %v %s after %d requests", a.Status, a.Headers, a.Raw, e.srv.Requests())
		}
	})
}

func TestPartialFailureReportsProgress(t *testing.T) {
	e := newEnv(t, setup{vars: map[string]string{"GALXE_MAX_QPS": "1000"}})
	// The first batch succeeds; every answer after that is a permission error.
	e.srv.Fail(galxetest.Fault{Delay: time.Millisecond, RawSet: true, Raw: []byte(`{"data":{"credentialItems":{"name":"x"}}}`)})
	for range 10 {
		e.srv.Fail(galxetest.Fault{Delay: 50 * time.Millisecond, Code: "PERMISSION_DENIED", Category: "AUTHORIZATION", Status: 403, Message: "no"})
	}
	body, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": numbered(1200)})
	a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: string(body)}, apigw.V2)
	if a.Status != 403 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
	p, _ := a.errField("progress").(map[string]any)
	if p["total"] != float64(1200) || p["done"] != float64(400) {
		t.Fatalf("progress %v", p)
	}
}

func TestTokenAndConfigurationErrors(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		noToken := newEnv(t, setup{vars: map[string]string{"GALXE_ACCESS_TOKEN": ""}})
		a := noToken.call(context.Background(), request{method: "POST", path: "/operations/health"}, v)
		if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" || a.errField("category") != "CONFIGURATION" {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		noSecret := newEnv(t, setup{vars: map[string]string{"WEBHOOK_SECRET": ""}})
		a = noSecret.call(context.Background(), request{method: "POST", path: "/operations/health"}, v)
		if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		open := newEnv(t, setup{vars: map[string]string{"WEBHOOK_SECRET": "", "WEBHOOK_AUTH": "none"}})
		a = open.call(context.Background(), request{method: "POST", path: "/operations/health", unsigned: true}, v)
		if a.Status != 200 {
			t.Fatalf("WEBHOOK_AUTH=none: %d %s", a.Status, a.Raw)
		}
	})
}

func TestTokenUnavailableAnswers503(t *testing.T) {
	failing := secret.NewSource("Galxe access token", "/galxe/token", func(context.Context) (string, error) {
		return "", fmt.Errorf("ThrottlingException: Rate exceeded")
	}, func(error) bool { return false })
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}})
	defer srv.Close()
	client, _ := galxe.New(galxe.Config{Endpoint: srv.URL, Token: failing})
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe/token", "WEBHOOK_AUTH": "none"}[k]
	})
	h := webhook.New(webhook.Options{Config: cfg, Galxe: client})
	req := &apigw.Request{Version: apigw.V2, Method: "POST", Path: "/operations/health", Header: http.Header{}, RequestID: "r"}
	resp := h.Serve(context.Background(), req)
	if resp.Status != 503 || resp.Header["Retry-After"] == "" || !strings.Contains(string(resp.Body), "TOKEN_UNAVAILABLE") ||
		!strings.Contains(string(resp.Body), "/galxe/token") {
		t.Fatalf("%d %v %s", resp.Status, resp.Header, resp.Body)
	}
}

func TestNotAnAPIGatewayEvent(t *testing.T) {
	e := newEnv(t, setup{})
	resp := e.h.Handle(context.Background(), []byte(`{"hello":"world"}`)).(events.APIGatewayV2HTTPResponse)
	if resp.StatusCode != 400 {
		t.Fatalf("%+v", resp)
	}
}

func TestSecretsNeverInResponsesOrLogs(t *testing.T) {
	e := newEnv(t, setup{reserve: 50 * time.Millisecond})
	echo := galxetest.Fault{Status: 401, Code: "INVALID_TOKEN", Category: "AUTHENTICATION", Message: "bad token " + token}
	var seen strings.Builder
	faults := []galxetest.Fault{echo, galxetest.HTMLPage(502), {Reset: true}, galxetest.QuotaSpent("daily"), {}}
	for _, f := range faults {
		if f.Status != 0 || f.RawSet || f.Reset {
			e.srv.Fail(f, f, f)
		}
		for _, v := range versions {
			for _, r := range []request{
				{method: "POST", path: "/operations/health"},
				{method: "POST", path: "/operations/health", unsigned: true},
				{method: "POST", path: "/operations/health", signWith: "whsec_" + base64.StdEncoding.EncodeToString([]byte("x"))},
				{method: "GET", path: "/health"},
			} {
				a := e.call(ctxWithin(t, 500*time.Millisecond), r, v)
				fmt.Fprintf(&seen, "%v %s\n", a.Headers, a.Raw)
			}
		}
	}
	for _, want := range []string{`"code":"INVALID_TOKEN"`, `"category":"AUTHENTICATION"`, `"route":"operation"`, `"operation":"health"`} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("the log lines lack %s", want)
		}
	}
	all := seen.String() + e.logs.String()
	for _, s := range []string{token, webhookSecret, strings.TrimPrefix(webhookSecret, "whsec_")} {
		if strings.Contains(all, s) {
			t.Fatalf("a secret leaked:\n%s", all)
		}
	}
}
