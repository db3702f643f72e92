package pusher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

const (
	token = "glx_pusher_token_7b3e9a1c5d2f8e4a6c0b"
	cred  = galxetest.DemoCredentialID
	other = "500000000000000002"
	third = "500000000000000003"
)

type env struct {
	t     *testing.T
	galxe *galxetest.Server
	sqs   *sqstest.Server
	h     *pusher.Handler
	logs  *bytes.Buffer
}

func newEnv(t *testing.T, withDLQ bool) *env {
	t.Helper()
	g := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	t.Cleanup(g.Close)
	g.AddCredential(galxetest.Credential{ID: other, Name: "other"})
	g.AddCredential(galxetest.Credential{ID: third, Name: "third"})
	q := sqstest.NewServer()
	t.Cleanup(q.Close)
	q.Env(t)
	client, err := galxe.New(galxe.Config{Endpoint: g.URL, Token: secret.Static("t", token), MaxQPS: 1000, BaseBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cfg, err := awsconf.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := &pusher.Handler{Galxe: client, Queues: sqs.NewFromConfig(cfg), Log: slog.New(slog.NewJSONHandler(logs, nil))}
	if withDLQ {
		url := q.CreateQueue("push-dlq", sqstest.QueueOptions{})
		h.DeadLetters, err = pushqueue.Open(cfg, nil, url)
		if err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, galxe: g, sqs: q, h: h, logs: logs}
}

// record is an SQS record as Lambda's event source mapping delivers it.
func record(id, body string, sent int64) events.SQSMessage {
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:push", AWSRegion: "us-east-1",
		Attributes: map[string]string{"SentTimestamp": strconv.FormatInt(sent, 10), "ApproximateReceiveCount": "1"}}
}

func push(credID, op string, items ...string) string {
	b, _ := json.Marshal(map[string]any{"credId": credID, "operation": op, "items": items})
	return string(b)
}

func addr(i int) string { return fmt.Sprintf("0x%040x", i) }

// invoke goes through lambda's own JSON round trip, as the runtime does,
// and returns the messages reported for retry, sorted. An empty
// itemIdentifier fails the test: Lambda would deliver the whole batch
// again.
func (e *env) invoke(ctx context.Context, recs ...events.SQSMessage) []string {
	e.t.Helper()
	payload, _ := json.Marshal(events.SQSEvent{Records: recs})
	out, err := lambda.NewHandler(e.h.Handle).Invoke(ctx, payload)
	if err != nil {
		e.t.Fatalf("the pusher returned an error: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" {
			e.t.Errorf("an empty itemIdentifier: Lambda would deliver the whole batch again")
		}
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

func (e *env) holds(credID, item string) bool { return slices.Contains(e.galxe.Items(credID), item) }

// A thousand one-address messages for one credential become two calls.
func TestThousandMessagesTwoCalls(t *testing.T) {
	e := newEnv(t, true)
	now := time.Now().UnixMilli()
	recs := make([]events.SQSMessage, 1000)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("m%d", i), push(cred, "APPEND", addr(i+100)), now+int64(i))
	}
	if failed := e.invoke(context.Background(), recs...); len(failed) != 0 {
		t.Fatalf("failures: %v", failed)
	}
	if n := e.galxe.Calls("credentialItems"); n != 2 {
		t.Fatalf("%d Galxe calls, want 2", n)
	}
	for i := range 1000 {
		if !e.holds(cred, addr(i+100)) {
			t.Fatalf("%s not delivered", addr(i+100))
		}
	}
	if e.galxe.Received(cred) != 1000 {
		t.Fatalf("%d items carried, want 1000 (each once)", e.galxe.Received(cred))
	}
}

// The latest message decides an item: APPEND then REMOVE leaves it out,
// REMOVE then APPEND leaves it in, whatever the records' order; equal
// timestamps go to the later record.
func TestLatestMessageDecides(t *testing.T) {
	e := newEnv(t, true)
	a, b, c := addr(901), addr(902), addr(903)
	e.invoke(context.Background(), record("seed", push(cred, "APPEND", a), 1)) // a is held before
	now := time.Now().UnixMilli()
	failed := e.invoke(context.Background(),
		record("r1", push(cred, "REMOVE", a), now+10), // later, though first in the batch
		record("r2", push(cred, "APPEND", a), now),
		record("r3", push(cred, "REMOVE", b), now),
		record("r4", push(cred, "APPEND", b), now+10),
		record("r5", push(cred, "APPEND", c), now+20),
		record("r6", push(cred, "REMOVE", c), now+20), // same time: the later record wins
	)
	if len(failed) != 0 {
		t.Fatalf("failures: %v", failed)
	}
	if e.holds(cred, a) || !e.holds(cred, b) || e.holds(cred, c) {
		t.Fatalf("held: a %v (want false), b %v (want true), c %v (want false)", e.holds(cred, a), e.holds(cred, b), e.holds(cred, c))
	}
	if n := e.galxe.Calls("credentialItems"); n != 3 { // the seed, one APPEND, one REMOVE
		t.Fatalf("%d calls", n)
	}
}

// Messages that are not pushes go, unchanged, to the dead-letter queue
// with INVALID_MESSAGE, and are not retried; the rest go through.
func TestInvalidMessagesDeadLettered(t *testing.T) {
	e := newEnv(t, true)
	now := time.Now().UnixMilli()
	bad := map[string]string{
		"not-json":      `{"credId":`,
		"unknown-op":    push(cred, "REPLACE", addr(1)),
		"bad-items":     push(cred, "APPEND", "0x12", "ok@example.com"),
		"cred-letters":  push("12ab", "APPEND", addr(1)),
		"empty-items":   `{"credId":"` + cred + `","operation":"APPEND","items":[]}`,
		"unknown-field": `{"credId":"` + cred + `","operation":"APPEND","items":["a@b.c"],"extra":1}`,
	}
	recs := []events.SQSMessage{record("good", push(cred, "APPEND", addr(7)), now)}
	for id, body := range bad {
		recs = append(recs, record(id, body, now))
	}
	kinesis := record("kinesis", push(cred, "APPEND", addr(8)), now)
	kinesis.EventSource = "aws:kinesis"
	recs = append(recs, kinesis)
	if failed := e.invoke(context.Background(), recs...); len(failed) != 0 {
		t.Fatalf("failures: %v", failed)
	}
	if !e.holds(cred, addr(7)) || e.holds(cred, addr(8)) {
		t.Fatal("the good message was not delivered, or the foreign record was")
	}
	dead := e.sqs.Messages("push-dlq")
	if len(dead) != len(bad)+1 {
		t.Fatalf("%d dead letters, want %d", len(dead), len(bad)+1)
	}
	bodies := map[string]bool{}
	for _, m := range dead {
		if m.Attributes["error_code"] != pusher.CodeInvalidMessage {
			t.Errorf("error_code %q", m.Attributes["error_code"])
		}
		bodies[m.Body] = true
	}
	for id, body := range bad {
		if !bodies[body] {
			t.Errorf("%s not dead-lettered unchanged", id)
		}
	}
}

// Without a dead-letter queue, the same messages are reported as failures
// (SQS's redrive policy parks them).
func TestInvalidWithoutDeadLetterQueueReported(t *testing.T) {
	e := newEnv(t, false)
	failed := e.invoke(context.Background(), record("bad", "nope", 1), record("good", push(cred, "APPEND", addr(3)), 1))
	if !slices.Equal(failed, []string{"bad"}) {
		t.Fatalf("failures %v", failed)
	}
}

// An empty batch, or an event that is not SQS's, changes nothing.
func TestEmptyBatch(t *testing.T) {
	e := newEnv(t, true)
	if failed := e.invoke(context.Background()); len(failed) != 0 || e.galxe.Requests() != 0 {
		t.Fatalf("failures %v, %d requests", failed, e.galxe.Requests())
	}
	if _, err := lambda.NewHandler(e.h.Handle).Invoke(context.Background(), []byte(`"not an event"`)); err == nil {
		t.Fatal("a payload that is not an SQS event was accepted")
	}
}

// A transient failure for one credential: only its messages come back.
func TestTransientFailureReportsOnlyItsMessages(t *testing.T) {
	e := newEnv(t, true)
	for range 50 {
		e.galxe.FailCredential(other, galxetest.ErrorFault("UNAVAILABLE"))
	}
	now := time.Now().UnixMilli()
	failed := e.invoke(ctxFor(t, 2*time.Second),
		record("a1", push(cred, "APPEND", addr(11)), now),
		record("b1", push(other, "APPEND", addr(12)), now),
		record("b2", push(other, "REMOVE", addr(13)), now),
		record("c1", push(third, "APPEND", addr(14)), now),
	)
	if !slices.Equal(failed, []string{"b1", "b2"}) {
		t.Fatalf("failures %v, want [b1 b2]", failed)
	}
	if !e.holds(cred, addr(11)) || !e.holds(third, addr(14)) || e.holds(other, addr(12)) {
		t.Fatal("the other credentials' items were not delivered")
	}
	if len(e.sqs.Messages("push-dlq")) != 0 {
		t.Fatal("a transient failure was dead-lettered")
	}
}

// A credential Galxe refuses for good: its messages are dead-lettered with
// Galxe's code, not retried, and not sent again.
func TestPermanentRefusalDeadLettered(t *testing.T) {
	e := newEnv(t, true)
	const unknown = "999999999999999999"
	now := time.Now().UnixMilli()
	var recs []events.SQSMessage
	for i := range 1200 { // three calls' worth for the unknown credential
		recs = append(recs, record(fmt.Sprintf("u%d", i), push(unknown, "APPEND", addr(2000+i)), now))
	}
	recs = append(recs, record("ok", push(cred, "APPEND", addr(21)), now))
	if failed := e.invoke(context.Background(), recs...); len(failed) != 0 {
		t.Fatalf("failures %d", len(failed))
	}
	dead := e.sqs.Messages("push-dlq")
	if len(dead) != 1200 || dead[0].Attributes["error_code"] != "CREDENTIAL_NOT_FOUND" {
		t.Fatalf("%d dead letters (%v)", len(dead), dead[0].Attributes)
	}
	if calls := e.galxe.Calls("credentialItems"); calls > 1+pusher.Concurrency {
		t.Fatalf("%d calls: the refused credential was asked again and again", calls)
	}
	if !e.holds(cred, addr(21)) {
		t.Fatal("the good credential's item was not delivered")
	}
}

// The budget runs out mid-drain: what is left is reported, nothing lost,
// and the function answers before its deadline.
func TestBudgetRunsOutMidDrain(t *testing.T) {
	g := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1, Latency: 100 * time.Millisecond})
	defer g.Close()
	client, _ := galxe.New(galxe.Config{Endpoint: g.URL, Token: secret.Static("t", token), MaxQPS: 5})
	h := &pusher.Handler{Galxe: client}
	e := &env{t: t, galxe: g, h: h}
	now := time.Now().UnixMilli()
	// 40 calls at 5 a second need 7.8 s whatever the machine: a 5 s
	// deadline (4 s of budget after the settle time) cuts the drain, and
	// leaves any machine time for the first calls.
	const messages = 40
	var recs []events.SQSMessage
	for i := range messages {
		items := make([]string, 500)
		for j := range items {
			items[j] = addr(10000 + i*500 + j)
		}
		recs = append(recs, record(fmt.Sprintf("m%d", i), push(cred, "APPEND", items...), now))
	}
	start := time.Now()
	failed := e.invoke(ctxFor(t, 5*time.Second), recs...)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v, past the deadline", took)
	}
	held := map[string]bool{}
	for _, it := range g.Items(cred) {
		held[it] = true
	}
	delivered := 0
	for i := range messages {
		id := fmt.Sprintf("m%d", i)
		if slices.Contains(failed, id) {
			continue
		}
		delivered++
		for j := range 500 {
			if !held[addr(10000+i*500+j)] {
				t.Fatalf("%s reported done but %s is not held", id, addr(10000+i*500+j))
			}
		}
	}
	if len(failed) == 0 || delivered == 0 {
		t.Fatalf("%d failed, %d delivered: the budget should have cut the drain", len(failed), delivered)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// The token never reaches the pusher's log or its dead letters.
func TestPusherNeverLogsTheToken(t *testing.T) {
	e := newEnv(t, true)
	e.galxe.FailCredential(cred, galxetest.Fault{Status: 401, Code: "INVALID_TOKEN", Category: "AUTHENTICATION", Message: "bad token " + token})
	e.invoke(ctxFor(t, 2*time.Second), record("m", push(cred, "APPEND", addr(1)), 1), record("x", "bad "+token, 1))
	all := e.logs.String()
	for _, m := range e.sqs.Messages("push-dlq") {
		all += m.Body
	}
	if strings.Contains(strings.ReplaceAll(all, "bad "+token, ""), token) {
		t.Fatalf("the token leaked: %s", all)
	}
}
