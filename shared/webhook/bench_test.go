package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The handler path without any runtime: what each request costs before
// and after Galxe.

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func benchItems(n int) []byte {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("0x%040X", i)
	}
	b, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": items})
	return b
}

func BenchmarkRoute(b *testing.B) {
	paths := []string{"/health", "/credentials/380512468497932288/items", "/operations/credential", "/nope/x"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := paths[i%len(paths)]
		_, _ = match(http.MethodPost, p)
	}
}

func BenchmarkSignatureCheck500Items(b *testing.B) {
	body := benchItems(500)
	cfg := config.FromEnv(func(k string) string { return map[string]string{"GALXE_ACCESS_TOKEN": "t"}[k] })
	h := New(Options{Config: cfg, WebhookSecret: secret.Static("s", benchSecret)})
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	reqs := make([]*apigw.Request, 1024)
	for i := range reqs {
		id := fmt.Sprintf("msg_%d", i)
		sig, _ := wh.Sign(id, now, body)
		hd := http.Header{}
		hd.Set("webhook-id", id)
		hd.Set("webhook-timestamp", ts)
		hd.Set("webhook-signature", sig)
		reqs[i] = &apigw.Request{Body: body, Header: hd}
	}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(reqs) == 0 {
			h.replays = replayGuard{} // the same ids again: not replays for the benchmark
		}
		if _, err := h.authenticate(ctx, reqs[i%len(reqs)], true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate500Items(b *testing.B) {
	body := benchItems(500)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var in itemsBody
		if err := decode(body, &in); err != nil {
			b.Fatal(err)
		}
		items, invalid := credentials.Normalize(in.Items)
		if len(items) != 500 || len(invalid) != 0 {
			b.Fatal("wrong result")
		}
	}
}

func BenchmarkErrorMapping(b *testing.B) {
	err := &galxe.Error{Code: "QUOTA_EXCEEDED", Category: galxe.CategoryRateLimit, HTTPStatus: 429,
		RequestID: "req_123456789", Message: "Rate limit exceeded", RetryAfter: 2 * time.Second,
		Details: json.RawMessage(`["quota_type: per_second"]`)}
	b.ReportAllocs()
	for b.Loop() {
		if r := ErrorResponse(err, "apigw-1"); r.Status != 429 {
			b.Fatal(r.Status)
		}
	}
}

// BenchmarkInvoke is the whole handler for a parsed-from-JSON event, with
// Galxe answering at once in memory: GET /health and POST /operations/health.
func BenchmarkInvoke(b *testing.B) {
	cfg := config.FromEnv(func(k string) string {
		return map[string]string{"GALXE_ACCESS_TOKEN": "t", "WEBHOOK_AUTH": "none"}[k]
	})
	h := New(Options{Config: cfg, Galxe: answersData{}})
	for _, c := range []struct{ name, method, path, body string }{
		{"health", "GET", "/health", ""},
		{"operation", "POST", "/operations/health", `{"variables":{}}`},
	} {
		ev, _ := json.Marshal(map[string]any{"version": "2.0", "rawPath": c.path, "body": c.body,
			"headers":        map[string]string{"content-type": "application/json"},
			"requestContext": map[string]any{"requestId": "r", "stage": "$default", "http": map[string]any{"method": c.method}}})
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
