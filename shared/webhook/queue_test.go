package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

// queuedEnv is the webhook with PUSH_QUEUE_URL, through the real SQS client.
func queuedEnv(t *testing.T) (*env, *sqstest.Server) {
	t.Helper()
	q := sqstest.NewServer()
	t.Cleanup(q.Close)
	q.Env(t)
	url := q.CreateQueue("push", sqstest.QueueOptions{})
	e := newEnv(t, setup{vars: map[string]string{"PUSH_QUEUE_URL": url}})
	e.sendTo(url)
	return e, q
}

// sendTo makes the webhook queue its pushes at url, logging to e.logs.
func (e *env) sendTo(url string) {
	e.t.Helper()
	cfg, err := awsconf.Load(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	sender, err := pushqueue.Open(cfg, nil, url)
	if err != nil {
		e.t.Fatal(err)
	}
	gc, _ := galxe.New(galxe.Config{Endpoint: e.cfg.Endpoint, Token: e.cfg.TokenSource(nil), MaxQPS: 1000})
	e.h = webhook.New(webhook.Options{Config: e.cfg, Galxe: gc, WebhookSecret: e.cfg.WebhookSecretSource(nil), Queue: sender,
		Log: slog.New(slog.NewJSONHandler(e.logs, nil))})
}

func itemsBody(op string, items ...string) string {
	b, _ := json.Marshal(map[string]any{"operation": op, "items": items})
	return string(b)
}

func TestQueuedPushAnswered202(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e, q := queuedEnv(t)
		start := time.Now()
		a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items",
			body: itemsBody("APPEND", " 0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED ", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")}, v)
		data, _ := a.Body["data"].(map[string]any)
		if a.Status != 202 || data["queued"] != true || data["items"] != 1.0 || data["credId"] != credID || data["operation"] != "APPEND" {
			t.Fatalf("%d %s", a.Status, a.Raw)
		}
		msgs := q.Messages("push")
		want := `{"credId":"` + credID + `","operation":"APPEND","items":["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"],"at":`
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Body, want) {
			t.Fatalf("queued %+v", msgs)
		}
		// "at" is when the webhook accepted the request, in ms.
		if m, err := pushqueue.Decode([]byte(msgs[0].Body)); err != nil || m.At < start.UnixMilli() || m.At > time.Now().UnixMilli() {
			t.Fatalf("at %d, not within the call (%v)", m.At, err)
		}
		if e.srv.Requests() != 0 {
			t.Fatal("a queued push called Galxe")
		}
	})
}

func TestLargeQueuedPushSplitIntoMessages(t *testing.T) {
	e, q := queuedEnv(t)
	items := make([]string, 20000)
	for i := range items {
		items[i] = fmt.Sprintf("0x%040x", i+1)
	}
	a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("REMOVE", items...)}, apigw.V2)
	if a.Status != 202 {
		t.Fatalf("%d %.300s", a.Status, a.Raw)
	}
	total := 0
	msgs := q.Messages("push")
	for _, m := range msgs {
		if len(m.Body) > pushqueue.MaxBodyBytes {
			t.Fatalf("a message of %d bytes", len(m.Body))
		}
		p, err := pushqueue.Decode([]byte(m.Body))
		if err != nil || p.Operation != "REMOVE" {
			t.Fatal(err)
		}
		total += len(p.Items)
	}
	if total != 20000 || len(msgs) < 4 {
		t.Fatalf("%d items in %d messages", total, len(msgs))
	}
}

// REPLACE cannot be coalesced: it stays synchronous; a bad request is
// still a 400 before anything is queued.
func TestReplaceAndBadRequestsNotQueued(t *testing.T) {
	e, q := queuedEnv(t)
	a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("REPLACE", "a@example.com")}, apigw.V2)
	if a.Status != 200 || e.srv.Requests() != 1 {
		t.Fatalf("REPLACE: %d %s", a.Status, a.Raw)
	}
	a = e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "0x12")}, apigw.V1)
	if a.Status != 400 {
		t.Fatalf("invalid items: %d %s", a.Status, a.Raw)
	}
	if n := q.Sent("push"); n != 0 {
		t.Fatalf("%d messages queued", n)
	}
}

// SQS refusing entries: retried, and the answer is still a 202 only once
// all are queued.
func TestRefusedEntriesStillQueued(t *testing.T) {
	e, q := queuedEnv(t)
	q.FailEntries(3)
	items := make([]string, 12000)
	for i := range items {
		items[i] = fmt.Sprintf("0x%040x", i+1)
	}
	a := e.call(ctxWithin(t, 10*time.Second), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", items...)}, apigw.V2)
	if a.Status != 202 {
		t.Fatalf("%d %.300s", a.Status, a.Raw)
	}
	total := 0
	for _, m := range q.Messages("push") {
		p, _ := pushqueue.Decode([]byte(m.Body))
		total += len(p.Items)
	}
	if total != 12000 {
		t.Fatalf("%d items queued, want 12000", total)
	}
}

// The queue down: 503 QUEUE_UNAVAILABLE with Retry-After, before the
// deadline; never a 202 for items that were not queued.
func TestQueueDownAnswered503(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e, q := queuedEnv(t)
		q.SetDown(true)
		start := time.Now()
		a := e.call(ctxWithin(t, 2*time.Second), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "a@example.com")}, v)
		if a.Status != 503 || a.code() != "QUEUE_UNAVAILABLE" || a.errField("category") != "UPSTREAM" || a.Headers["Retry-After"] == "" {
			t.Fatalf("%d %v %s", a.Status, a.Headers, a.Raw)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("answered after %v", time.Since(start))
		}
		if strings.Contains(a.Raw, "arn:") || strings.Contains(a.Raw, "123456789012") {
			t.Fatalf("AWS's text in the answer: %s", a.Raw)
		}
	})
}

// A queue that cannot be used (here: named by its ARN) is a configuration
// error: /health says so, and a queued push answers 500, not 202.
func TestUnusableQueueIsAConfigurationError(t *testing.T) {
	e := newEnv(t, setup{vars: map[string]string{"PUSH_QUEUE_URL": "arn:aws:sqs:us-east-1:123456789012:push"}})
	_, qerr := pushqueue.Open(aws.Config{}, nil, e.cfg.PushQueueURL)
	gc, _ := galxe.New(galxe.Config{Endpoint: e.cfg.Endpoint, Token: e.cfg.TokenSource(nil), MaxQPS: 1000})
	e.h = webhook.New(webhook.Options{Config: e.cfg, Galxe: gc, WebhookSecret: e.cfg.WebhookSecretSource(nil), QueueErr: qerr})
	h := e.call(context.Background(), request{method: "GET", path: "/health", unsigned: true}, apigw.V2)
	if h.Status != 503 || !strings.Contains(h.Raw, "PUSH_QUEUE_URL") {
		t.Fatalf("health: %d %s", h.Status, h.Raw)
	}
	a := e.call(context.Background(), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "a@example.com")}, apigw.V2)
	if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" || e.srv.Requests() != 0 {
		t.Fatalf("%d %s", a.Status, a.Raw)
	}
}

// Unicode noncharacters and U+FFFD are refused like format characters: a
// 400 naming each item's code point, before anything is queued. (They
// used to pass, and U+FFFE and U+FFFF were escaped after the message was
// measured: every message went over 256 KiB and the request ended 503 at
// the end of its budget.)
func TestNoncharacterItemsRefusedBeforeQueueing(t *testing.T) {
	e, q := queuedEnv(t)
	odd := []rune{0xFFFE, 0xFFFF, 0xFDD0, 0xFDEF, 0x1FFFE, 0x10FFFF, 0xFFFD}
	items := make([]string, 2000)
	for i := range items {
		items[i] = fmt.Sprintf("%04d", i) + strings.Repeat(string(odd[i%len(odd)]), 60) // at most 244 bytes
	}
	a := e.call(ctxWithin(t, 6*time.Second), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", items...)}, apigw.V2)
	t.Logf("%d, %d SendMessageBatch calls", a.Status, q.Calls("SendMessageBatch"))
	var body struct {
		Error struct {
			Details struct {
				Invalid []struct {
					Index  int
					Reason string
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(a.Raw), &body); err != nil || a.Status != 400 || a.code() != "INVALID_REQUEST" {
		t.Fatalf("%d %.300s", a.Status, a.Raw)
	}
	invalid := body.Error.Details.Invalid
	if len(invalid) != len(items) {
		t.Fatalf("%d items listed, want %d", len(invalid), len(items))
	}
	for i, iv := range invalid {
		if want := fmt.Sprintf("U+%04X", odd[i%len(odd)]); iv.Index != i || !strings.Contains(iv.Reason, want) {
			t.Fatalf("item %d listed as %+v, want index %d naming %s", i, iv, i, want)
		}
	}
	if n := q.Calls("SendMessageBatch"); n != 0 {
		t.Fatalf("%d SendMessageBatch calls", n)
	}
}

// A queue URL naming no queue is a permanent refusal: 500
// CONFIGURATION_ERROR after one call, AWS's text in the log only. (It
// used to be retried until the budget ran out and answered 503.)
func TestMissingQueueIsAConfigurationErrorAtOnce(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		e, q := queuedEnv(t)
		e.sendTo(e.cfg.PushQueueURL + "-gone")
		a := e.call(ctxWithin(t, 6*time.Second), request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "a@example.com")}, v)
		t.Logf("%d %s, %d SendMessageBatch calls", a.Status, a.code(), q.Calls("SendMessageBatch"))
		if a.Status != 500 || a.code() != "CONFIGURATION_ERROR" || a.errField("category") != "CONFIGURATION" || a.Headers["Retry-After"] != "" {
			t.Fatalf("%d %v %s", a.Status, a.Headers, a.Raw)
		}
		if msg, _ := a.errField("message").(string); !strings.Contains(msg, "queue") {
			t.Errorf("the message does not name the queue: %q", msg)
		}
		if n := q.Calls("SendMessageBatch"); n != 1 {
			t.Errorf("%d SendMessageBatch calls, want 1", n)
		}
		if strings.Contains(a.Raw, "NonExistentQueue") || strings.Contains(a.Raw, "does not exist") {
			t.Errorf("AWS's text in the answer: %s", a.Raw)
		}
		if !strings.Contains(e.logs.String(), "NonExistentQueue") && !strings.Contains(e.logs.String(), "QueueDoesNotExist") {
			t.Errorf("the log lacks AWS's code: %s", e.logs.String())
		}
	})
}
