package webhook_test

// Each test here reproduces a defect found by an attacker's or a
// reviewer's run (issue "Hardening"), through the handler as Lambda
// invokes it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// ssmStandIn is the SSM stand-in and the real SDK client pointed at it.
func ssmStandIn(t *testing.T) (*ssmtest.Server, secret.GetParameterAPI) {
	t.Helper()
	ssm := ssmtest.NewServer()
	t.Cleanup(ssm.Close)
	ssm.Env(t)
	client, err := secret.NewSSMClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ssm, client
}

// 1. A captured request replayed with its timestamp written another way
// ("0T", "00T", "+T") is the same request: refused, and Galxe never sees it.
func TestReplayWithRewrittenTimestampRefused(t *testing.T) {
	e := newEnv(t, setup{})
	at := time.Now()
	ts := strconv.FormatInt(at.Unix(), 10)
	first := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: "msg_cap", signAt: at}, apigw.V2)
	if first.Status != 200 {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	for _, rewritten := range []string{"0" + ts, "00" + ts, "+" + ts, " " + ts} {
		a := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: "msg_cap", signAt: at,
			headers: map[string]string{"webhook-timestamp": rewritten}}, apigw.V2)
		if a.Status != 401 {
			t.Errorf("timestamp %q: %d %s", rewritten, a.Status, a.Raw)
		}
	}
	if n := e.srv.Requests(); n != 1 {
		t.Fatalf("Galxe saw %d requests; the replays reached it", n)
	}
}

// 2. Signature headers are bounded before anything parses or remembers
// them.
func TestSignatureHeadersBounded(t *testing.T) {
	e := newEnv(t, setup{})
	longID := strings.Repeat("i", webhook.MaxWebhookIDBytes+1)
	cases := map[string]request{
		"an id over 256 bytes":           {method: "POST", path: "/operations/health", id: longID},
		"a 6 MB signature of spaces":     {method: "POST", path: "/operations/health", headers: map[string]string{"webhook-signature": strings.Repeat(" ", 6<<20)}},
		"a signature header over 8 KiB":  {method: "POST", path: "/operations/health", headers: map[string]string{"webhook-signature": "v1," + strings.Repeat("A", 9<<10)}},
		"33 signatures":                  {method: "POST", path: "/operations/health", headers: map[string]string{"webhook-signature": strings.TrimSpace(strings.Repeat("v1,AAAA ", 33))}},
		"a timestamp that is not digits": {method: "POST", path: "/operations/health", headers: map[string]string{"webhook-timestamp": "1e9"}},
	}
	for name, r := range cases {
		a := e.call(context.Background(), r, apigw.V2)
		if a.Status != 401 || a.code() != "UNAUTHENTICATED" || len(a.Raw) > 1024 {
			t.Errorf("%s: %d %.300s", name, a.Status, a.Raw)
		}
	}
	// An id of exactly 256 bytes is fine.
	if a := e.call(context.Background(), request{method: "POST", path: "/operations/health", id: longID[:256]}, apigw.V2); a.Status != 200 {
		t.Errorf("a 256-byte id: %d %s", a.Status, a.Raw)
	}
	if e.srv.Requests() != 1 {
		t.Errorf("Galxe saw %d requests", e.srv.Requests())
	}
}

// 3. Caller input echoed in a message or a log line is cut to 256 bytes.
func TestEchoesCut(t *testing.T) {
	e := newEnv(t, setup{})
	huge := strings.Repeat("A", 5<<20)
	for _, r := range []request{
		{method: huge, path: "/health", unsigned: true},
		{method: "GET", path: "/" + huge, unsigned: true},
		{method: "POST", path: "/credentials/" + huge + "/items", body: `{"operation":"APPEND","items":["a"]}`},
		{method: "POST", path: "/operations/" + huge},
	} {
		e.logs.Reset()
		a := e.call(context.Background(), r, apigw.V2)
		if a.Status < 400 || len(a.Raw) > 2048 {
			t.Errorf("%.40s %.40s: %d, a body of %d bytes", r.method, r.path, a.Status, len(a.Raw))
		}
		if e.logs.Len() > 4096 {
			t.Errorf("%.40s %.40s: a log line of %d bytes", r.method, r.path, e.logs.Len())
		}
	}
}

// 3b. Galxe's message and details may quote the caller's input: they are
// cut to 256 bytes each too, in the answer and in the log.
func TestGalxeEchoesCut(t *testing.T) {
	e := newEnv(t, setup{})
	huge := strings.Repeat("Z", 100_000)
	a := e.call(context.Background(), request{method: "POST", path: "/operations/credential",
		body: fmt.Sprintf(`{"variables":{"id":%q}}`, huge)}, apigw.V2)
	msg, _ := a.errField("message").(string)
	if a.Status != 404 || a.code() != "CREDENTIAL_NOT_FOUND" || !strings.HasPrefix(msg, "Credential not found: ZZZ") {
		t.Fatalf("%d %.300s", a.Status, a.Raw)
	}
	t.Logf("a 100,000-byte id: an answer of %d bytes, a log of %d", len(a.Raw), e.logs.Len())
	if len(msg) > 256 || len(a.Raw) > 2048 || e.logs.Len() > 4096 {
		t.Fatalf("a message of %d bytes, an answer of %d, a log of %d", len(msg), len(a.Raw), e.logs.Len())
	}

	e.logs.Reset()
	e.srv.Fail(galxetest.Fault{Code: "INVALID_ARGUMENT", Status: 400, Message: huge, Details: []string{"field: id", huge, huge}})
	a = e.call(context.Background(), request{method: "POST", path: "/operations/credential",
		body: fmt.Sprintf(`{"variables":{"id":%q}}`, credID)}, apigw.V2)
	details, _ := a.errField("details").([]any)
	if a.Status != 400 || len(details) != 3 || details[0] != "field: id" || len(a.Raw) > 2048 || e.logs.Len() > 4096 {
		t.Fatalf("%d, a log of %d bytes: %.600s", a.Status, e.logs.Len(), a.Raw)
	}
	for _, d := range details {
		if s, _ := d.(string); len(s) > 256 {
			t.Fatalf("a detail of %d bytes", len(s))
		}
	}
}

// 4. AWS's error text (the role's ARN, the account) reaches the log, never
// the caller; the caller learns the parameter and SSM's code.
func TestAWSErrorTextNotInResponses(t *testing.T) {
	ssm, client := ssmStandIn(t)
	const param = "/galxe-lambda/access-token"
	ssm.Fail(param, ssmtest.AccessDenied(param))
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": param, "WEBHOOK_AUTH": "none", "GALXE_ENDPOINT": "http://127.0.0.1:9/q"}[k]
	})
	var logs bytes.Buffer
	tok := cfg.TokenSource(client)
	gc, _ := galxe.New(galxe.Config{Endpoint: cfg.Endpoint, Token: tok})
	h := webhook.New(webhook.Options{Config: cfg, Galxe: gc, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	e := &env{t: t, h: h, logs: &logs}
	for _, v := range versions {
		a := e.call(context.Background(), request{method: "POST", path: "/operations/health", unsigned: true}, v)
		if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" || !strings.Contains(a.Raw, param) || !strings.Contains(a.Raw, "AccessDeniedException") {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		for _, leak := range []string{"arn:", "123456789012", "assumed-role"} {
			if strings.Contains(a.Raw, leak) {
				t.Errorf("the answer holds %q: %s", leak, a.Raw)
			}
		}
	}
	if !strings.Contains(logs.String(), "assumed-role") {
		t.Errorf("the log lacks AWS's text: %s", logs.String())
	}
}

// 5. Items: invalid UTF-8 (refused, not silently replaced), invisible
// format characters, and 0X addresses (normalised like 0x).
func TestItemRules(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		addr := "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
		for name, c := range map[string]struct {
			body   string
			status int
			has    string
		}{
			"invalid UTF-8":        {"{\"operation\":\"APPEND\",\"items\":[\"ok@example.com\",\"bad\xff\xfe@example.com\"]}", 400, `"index":1`},
			"a lone surrogate":     {`{"operation":"APPEND","items":["a\ud800b"]}`, 400, "not valid UTF-8"},
			"a zero-width space":   {`{"operation":"APPEND","items":["alice\u200b@example.com"]}`, 400, "U+200B"},
			"a soft hyphen":        {"{\"operation\":\"APPEND\",\"items\":[\"ali\u00adce@example.com\"]}", 400, "U+00AD"},
			"a direction override": {"{\"operation\":\"APPEND\",\"items\":[\"\u202eevil@example.com\"]}", 400, "U+202E"},
			"0X and 0x the same":   {`{"operation":"APPEND","items":["0X` + strings.ToUpper(addr) + `","0x` + addr + `"]}`, 200, `"items":1`},
			"a proper pair":        {`{"operation":"APPEND","items":["smile\ud83d\ude00@example.com"]}`, 200, `"items":1`},
		} {
			before := e.srv.Received(credID)
			a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: c.body, b64: true}, v)
			if a.Status != c.status || !strings.Contains(a.Raw, c.has) {
				t.Errorf("%s: %d %s", name, a.Status, a.Raw)
			}
			if c.status == 400 && e.srv.Received(credID) != before {
				t.Errorf("%s: items reached Galxe", name)
			}
		}
		held := strings.Join(e.srv.Items(credID), " ")
		if !strings.Contains(held, "0x"+addr) || strings.Contains(held, "0X") {
			t.Error("the 0X address was not stored as 0x lower-case")
		}
	})
}

// 6. The mutation runs only through the items route.
func TestMutationRefusedOnTheOperationRoute(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		body := fmt.Sprintf(`{"variables":{"credId":%q,"operation":"REPLACE","items":["x"]}}`, credID)
		a := e.call(context.Background(), request{method: "POST", path: "/operations/credentialItems", body: body}, v)
		if a.Status != 400 || a.code() != "UNKNOWN_OPERATION" || !strings.Contains(a.Raw, "/credentials/{credId}/items") {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		if e.srv.Requests() != 0 {
			t.Fatal("the mutation reached Galxe")
		}
	})
}

// 7. A webhook secret that is empty or short is a configuration error, and
// /health says so instead of "ok".
func TestMalformedWebhookSecret(t *testing.T) {
	for name, sec := range map[string]string{
		"whsec_ alone":     "whsec_",
		"a few bytes":      "whsec_" + base64.StdEncoding.EncodeToString([]byte("short")),
		"not base64":       "whsec_!!!!",
		"no whsec_ prefix": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32)),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, setup{vars: map[string]string{"WEBHOOK_SECRET": sec}})
			a := e.call(context.Background(), request{method: "POST", path: "/operations/health", signWith: webhookSecret}, apigw.V2)
			if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" {
				t.Errorf("signed route: %d %s", a.Status, a.Raw)
			}
			h := e.call(context.Background(), request{method: "GET", path: "/health", unsigned: true}, apigw.V2)
			if h.Status != 503 || h.Body["status"] != "degraded" || !strings.Contains(h.Raw, "WEBHOOK_SECRET") {
				t.Errorf("health: %d %s", h.Status, h.Raw)
			}
			if strings.Contains(a.Raw+h.Raw+e.logs.String(), strings.TrimPrefix(sec, "whsec_")) && len(sec) > 6 {
				t.Error("the secret leaked")
			}
		})
	}
}

// 7b. A secret whose parameter cannot be read for good: /health degraded.
func TestMissingSecretParameterDegradesHealth(t *testing.T) {
	_, client := ssmStandIn(t)
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN": token, "WEBHOOK_SECRET_PARAMETER": "/galxe-lambda/missing", "GALXE_ENDPOINT": "http://127.0.0.1:9/q"}[k]
	})
	src := cfg.WebhookSecretSource(client)
	_, _ = src.Get(context.Background()) // what cold start does
	e := &env{t: t, h: webhook.New(webhook.Options{Config: cfg, WebhookSecret: src}), logs: &bytes.Buffer{}}
	h := e.call(context.Background(), request{method: "GET", path: "/health", unsigned: true}, apigw.V1)
	if h.Status != 503 || !strings.Contains(h.Raw, "/galxe-lambda/missing") || !strings.Contains(h.Raw, "ParameterNotFound") {
		t.Fatalf("health: %d %s", h.Status, h.Raw)
	}
}

// 8. A rotated webhook secret is picked up by a warm instance: one re-read
// when a signature fails, at most once a minute however many fail.
func TestRotatedWebhookSecretPickedUp(t *testing.T) {
	ssm, client := ssmStandIn(t)
	const param = "/galxe-lambda/webhook-secret"
	ssm.PutSecure(param, webhookSecret)
	e := newEnv(t, setup{})
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN": token, "WEBHOOK_SECRET_PARAMETER": param, "GALXE_ENDPOINT": e.srv.URL}[k]
	})
	gc, _ := galxe.New(galxe.Config{Endpoint: cfg.Endpoint, Token: cfg.TokenSource(nil)})
	e.h = webhook.New(webhook.Options{Config: cfg, Galxe: gc, WebhookSecret: cfg.WebhookSecretSource(client)})
	if a := e.call(context.Background(), request{method: "POST", path: "/operations/health"}, apigw.V2); a.Status != 200 {
		t.Fatalf("before rotation: %d %s", a.Status, a.Raw)
	}
	rotated := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("r"), 32))
	ssm.PutSecure(param, rotated)
	if a := e.call(context.Background(), request{method: "POST", path: "/operations/health", signWith: rotated}, apigw.V2); a.Status != 200 {
		t.Fatalf("after rotation: %d %s", a.Status, a.Raw)
	}
	if n := ssm.Reads(param); n != 2 {
		t.Fatalf("%d reads, want 2 (cold start, one re-read)", n)
	}
	// Forged signatures: each is refused, and SSM is not asked again.
	forged := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("f"), 32))
	for range 20 {
		if a := e.call(context.Background(), request{method: "POST", path: "/operations/health", signWith: forged}, apigw.V2); a.Status != 401 {
			t.Fatalf("forged: %d %s", a.Status, a.Raw)
		}
	}
	if n := ssm.Reads(param); n != 2 {
		t.Fatalf("%d reads after 20 forged signatures, want still 2", n)
	}
}

// 10. The stage is a whole path segment.
func TestStageNotAPlainPrefix(t *testing.T) {
	e := newEnv(t, setup{})
	ev := []byte(`{"version":"2.0","rawPath":"/prodoperations/credential","requestContext":{"stage":"prod","requestId":"r","http":{"method":"POST"}},"body":""}`)
	resp := e.h.Handle(context.Background(), ev).(events.APIGatewayV2HTTPResponse)
	if resp.StatusCode != 404 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

// 11. A secret with a trailing newline works (trimmed); a token that no
// HTTP header can carry is a configuration error at once, not six
// "network" attempts and a 502.
func TestTokenTrimmedOrRefused(t *testing.T) {
	e := newEnv(t, setup{vars: map[string]string{"GALXE_ACCESS_TOKEN": token + "\n", "WEBHOOK_SECRET": webhookSecret + "\r\n"}})
	if a := e.call(context.Background(), request{method: "POST", path: "/operations/health"}, apigw.V2); a.Status != 200 {
		t.Fatalf("a token with a newline: %d %s", a.Status, a.Raw)
	}
	bad := newEnv(t, setup{vars: map[string]string{"GALXE_ACCESS_TOKEN": "glx_first\nsecond"}})
	start := time.Now()
	a := bad.call(ctxWithin(t, 5*time.Second), request{method: "POST", path: "/operations/health"}, apigw.V2)
	if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" || bad.srv.Requests() != 0 || time.Since(start) > time.Second {
		t.Fatalf("%d %s after %d requests, %v", a.Status, a.Raw, bad.srv.Requests(), time.Since(start))
	}
	if strings.Contains(a.Raw+bad.logs.String(), "glx_first") {
		t.Fatal("the token leaked")
	}
}

// 14. Malformed events get a 400 that names the field, in the event's own
// shape where the version can be told.
func TestMalformedEventsAnswered(t *testing.T) {
	e := newEnv(t, setup{})
	v2 := e.h.Handle(context.Background(), []byte(`{"version":"2.0","rawPath":"/health"}`))
	r2, ok := v2.(events.APIGatewayV2HTTPResponse)
	if !ok || r2.StatusCode != 400 || !strings.Contains(r2.Body, "requestContext.http.method") {
		t.Fatalf("v2 without requestContext: %#v", v2)
	}
	v1 := e.h.Handle(context.Background(), []byte(`{"httpMethod":"POST","path":"/operations/health","body":42,"requestContext":{"requestId":"r1"}}`))
	r1, ok := v1.(events.APIGatewayProxyResponse)
	if !ok || r1.StatusCode != 400 || !strings.Contains(r1.Body, "body must be a string") || !strings.Contains(r1.Body, `"request_id":"r1"`) {
		t.Fatalf("v1 with a numeric body: %#v", v1)
	}
}

// 15. The order of checks: an unknown route and /health never read the
// body; an unsigned request is 401 whatever its body; only a signed one
// learns that its base64 is bad.
func TestOrderOfChecksWithBadBase64(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e := newEnv(t, setup{})
		for _, c := range []struct {
			r    request
			want int
		}{
			{request{method: "POST", path: "/nowhere", badB64: true, body: "%%%"}, 404},
			{request{method: "GET", path: "/health", badB64: true, body: "%%%", unsigned: true}, 200},
			{request{method: "POST", path: "/operations/health", badB64: true, body: "%%%", unsigned: true}, 401},
			{request{method: "POST", path: "/operations/health", badB64: true, body: "%%%"}, 400},
		} {
			if a := e.call(context.Background(), c.r, v); a.Status != c.want {
				t.Errorf("%s %s: %d %s, want %d", c.r.method, c.r.path, a.Status, a.Raw, c.want)
			}
		}
	})
}

// The signature library's own header names, so the tests above speak of
// the same headers the handler reads.
var _ = standardwebhooks.HeaderWebhookSignature
