package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

// answersData stands in for Galxe in the fuzz target: the target is the
// parsing and mapping in front of it, and must not wait on a network.
type answersData struct{}

func (answersData) Do(_ context.Context, op string, vars any) (*galxe.Result, error) {
	if _, err := json.Marshal(vars); err != nil {
		return nil, err
	}
	return &galxe.Result{Data: json.RawMessage(`{"ok":true}`), Attempts: 1}, nil
}

var allowed = map[int]bool{200: true, 400: true, 401: true, 404: true, 405: true, 413: true, 500: true, 502: true, 503: true}

// FuzzServe: any request gets a status from the table and a JSON body of
// the contract's shape; none panics.
func FuzzServe(f *testing.F) {
	f.Add("POST", "/credentials/123/items", []byte(`{"operation":"APPEND","items":["0x00000000000000000000000000000000000000a1","a@b.c"]}`), false)
	f.Add("POST", "/operations/credential", []byte(`{"variables":{"id":"1"}}`), true)
	f.Add("GET", "/health", []byte(nil), false)
	f.Add("POST", "/operations/nope", []byte(`{"variables":[]}`), false)
	f.Add("PUT", "/credentials//items", []byte(`{"operation":"REPLACE","items":[""]}`), false)
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN": "t", "WEBHOOK_AUTH": "none", "MAX_ITEMS_PER_REQUEST": "1000"}[k]
	})
	h := New(Options{Config: cfg, Galxe: answersData{}})
	f.Fuzz(func(t *testing.T, method, path string, body []byte, b64 bool) {
		ev := map[string]any{"version": "2.0", "rawPath": "/" + path,
			"requestContext": map[string]any{"requestId": "r", "stage": "$default", "http": map[string]any{"method": method}}}
		if b64 {
			ev["body"], ev["isBase64Encoded"] = base64.StdEncoding.EncodeToString(body), true
		} else {
			ev["body"] = string(body)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return
		}
		out, err := h.Invoke(context.Background(), raw)
		if err != nil {
			t.Fatalf("an error for Lambda: %v", err)
		}
		var resp struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if !allowed[resp.StatusCode] || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("%s %q -> %d %v", method, path, resp.StatusCode, resp.Headers)
		}
		var shape map[string]json.RawMessage
		if err := json.Unmarshal([]byte(resp.Body), &shape); err != nil {
			t.Fatalf("body not a JSON object: %q", resp.Body)
		}
		if resp.StatusCode >= 400 && resp.StatusCode != http.StatusServiceUnavailable || resp.StatusCode == 503 && shape["error"] != nil {
			var eb errorBody
			if json.Unmarshal([]byte(resp.Body), &eb) != nil || eb.Error.Code == "" || eb.Error.Category == "" || eb.Error.Message == "" {
				t.Fatalf("error body without code, category or message: %s", resp.Body)
			}
		}
	})
}

// FuzzSignatureHeaders: any signature headers, however long or odd, are
// answered 401 with the contract's body, short, before the body is read;
// none panics and the replay memory stays bounded.
func FuzzSignatureHeaders(f *testing.F) {
	f.Add("msg_1", "1700000000", "v1,AAAA", []byte(`{}`))
	f.Add("", "+1700000000", "v1,a v1,b v1,c", []byte(`%%%`))
	f.Add(strings.Repeat("i", 300), "0001700000000", strings.Repeat(" ", 9000), []byte(nil))
	f.Add("msg\x00", "1e9", "v2,x", []byte(`{"variables":{}}`))
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN": "t", "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}[k]
	})
	h := New(Options{Config: cfg, Galxe: answersData{}, WebhookSecret: cfg.WebhookSecretSource(nil)})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		ev := map[string]any{"version": "2.0", "rawPath": "/operations/health",
			"headers":        map[string]string{"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig},
			"requestContext": map[string]any{"requestId": "r", "stage": "$default", "http": map[string]any{"method": "POST"}},
			"body":           base64.StdEncoding.EncodeToString(body), "isBase64Encoded": true}
		raw, err := json.Marshal(ev)
		if err != nil {
			return
		}
		out, err := h.Invoke(context.Background(), raw)
		if err != nil {
			t.Fatalf("an error for Lambda: %v", err)
		}
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		var eb errorBody
		if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal([]byte(resp.Body), &eb) != nil || eb.Error.Code != CodeUnauthenticated {
			t.Fatalf("id %q ts %q sig %.80q: %d %s", id, ts, sig, resp.StatusCode, resp.Body)
		}
		if len(resp.Body) > 1024 {
			t.Fatalf("a %d-byte answer", len(resp.Body))
		}
		if n := h.replays.remembered(); n > maxRemembered {
			t.Fatalf("%d remembered", n)
		}
	})
}
