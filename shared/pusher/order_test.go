package pusher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const stateTable = "galxe-lambda-state"

// testLease keeps short the waits of the tests where a push finds its mark
// leased by an earlier one; a call that outlives it (a slow machine) fails
// and is delivered again, which those tests' redeliveries absorb.
const testLease = 2 * time.Second

// ordered is newEnv with the shared-state table on a DynamoDB stand-in,
// through the SDK's real client; its metrics are kept.
func ordered(t *testing.T) (*env, *dynamotest.Server, *bytes.Buffer) {
	t.Helper()
	e := newEnv(t, true)
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(stateTable)
	e.h.State = state.New(db.Client(), stateTable)
	metrics := &bytes.Buffer{}
	e.h.Metrics = obs.NewMetrics(metrics, "pusher")
	return e, db, metrics
}

// another is a second pusher process beside e's: its own Galxe client and
// its own table client, on the same stand-ins.
func (e *env) another(db *dynamotest.Server) *env {
	e.t.Helper()
	client, err := galxe.New(galxe.Config{Endpoint: e.galxe.URL, Token: secret.Static("t", token), MaxQPS: 1000, BaseBackoff: 5 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	h := &pusher.Handler{Galxe: client, Queues: e.h.Queues, DeadLetters: e.h.DeadLetters,
		State: state.New(db.Client(), stateTable), MarkLease: e.h.MarkLease, Log: slog.New(slog.DiscardHandler)}
	return &env{t: e.t, galxe: e.galxe, sqs: e.sqs, h: h, logs: &bytes.Buffer{}}
}

// pushAt is a body as the webhook queues it: accepted at `at`.
func pushAt(credID, op string, at int64, items ...string) string {
	return string(pushqueue.Encode(credID, op, items, at)[0])
}

// deliver invokes with the records and delivers what is reported again,
// as SQS does, until nothing is; past a generous bound the test fails.
func (e *env) deliver(recs ...events.SQSMessage) {
	e.t.Helper()
	for range 50 {
		failed := e.invoke(ctxFor(e.t, time.Minute), recs...)
		if len(failed) == 0 {
			return
		}
		recs = slices.DeleteFunc(recs, func(r events.SQSMessage) bool { return !slices.Contains(failed, r.MessageId) })
	}
	e.t.Errorf("still reported after 50 deliveries: %d records", len(recs))
}

// superseded sums the ItemsSuperseded values of the metrics lines.
func superseded(t *testing.T, metrics *bytes.Buffer) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a metrics line does not parse: %v", err)
		}
		if v, ok := m["ItemsSuperseded"].(float64); ok {
			n += int(v)
		}
	}
	return n
}

// The first case: an APPEND fails once (Galxe answers with an error
// the client does not retry), a later REMOVE of the address succeeds, then
// SQS delivers the APPEND again: it is skipped (not sent, its message done),
// and Galxe does not hold the address. Before: Galxe held it again.
func TestAppendRedeliveredAfterLaterRemoveSkipped(t *testing.T) {
	e, _, metrics := ordered(t)
	e.h.MarkLease = testLease // the REMOVE waits for the failed APPEND's lease
	a := addr(301)
	now := time.Now().UnixMilli()
	appendRec := record("append", pushAt(cred, "APPEND", now, a), now)
	e.galxe.Fail(galxetest.HTMLPage(501))
	if failed := e.invoke(ctxFor(t, time.Minute), appendRec); !slices.Equal(failed, []string{"append"}) {
		t.Fatalf("reported %v, want the failed APPEND", failed)
	}
	e.deliver(record("remove", pushAt(cred, "REMOVE", now+1000, a), now+1000))
	calls := e.galxe.Calls("credentialItems")

	if failed := e.invoke(ctxFor(t, time.Minute), appendRec); len(failed) != 0 {
		t.Fatalf("the redelivered APPEND reported %v: it is done (superseded)", failed)
	}
	if e.holds(cred, a) {
		t.Fatal("Galxe holds the address the later REMOVE removed")
	}
	if got := e.galxe.Calls("credentialItems"); got != calls {
		t.Fatalf("%d Galxe calls for the superseded APPEND, want none", got-calls)
	}
	if n := superseded(t, metrics); n != 1 {
		t.Fatalf("ItemsSuperseded %d, want 1", n)
	}
	if !strings.Contains(e.logs.String(), `"items_superseded":1`) {
		t.Fatalf("the log line does not count it: %s", e.logs.String())
	}
}

// A retry of a message whose call failed takes the same mark again and is
// sent.
func TestRetryTakesItsMarkAgain(t *testing.T) {
	e, _, _ := ordered(t)
	now := time.Now().UnixMilli()
	rec := record("append", pushAt(cred, "APPEND", now, addr(302)), now)
	e.galxe.Fail(galxetest.HTMLPage(501))
	if failed := e.invoke(ctxFor(t, time.Minute), rec); len(failed) != 1 {
		t.Fatalf("reported %v", failed)
	}
	e.deliver(rec)
	if !e.holds(cred, addr(302)) {
		t.Fatal("the retried APPEND was not sent")
	}
}

// The second case: SQS hands the REMOVE to an earlier invocation
// than the older APPEND (a standard queue keeps no order): the APPEND is
// skipped.
func TestOlderAppendAfterLaterRemoveSkipped(t *testing.T) {
	e, _, metrics := ordered(t)
	e.h.MarkLease = testLease // the REMOVE waits for the seed's lease
	a := addr(303)
	now := time.Now().UnixMilli()
	e.deliver(record("seed", pushAt(cred, "APPEND", now-5000, a), now-5000))
	e.deliver(record("remove", pushAt(cred, "REMOVE", now, a), now+20)) // sent second, accepted later
	if e.holds(cred, a) {
		t.Fatal("the REMOVE was not applied")
	}
	e.deliver(record("append", pushAt(cred, "APPEND", now-1000, a), now+10))
	if e.holds(cred, a) {
		t.Fatal("the older APPEND, delivered after the later REMOVE, was applied")
	}
	if n := superseded(t, metrics); n != 1 {
		t.Fatalf("ItemsSuperseded %d, want 1", n)
	}
}

// A REPLACE recorded as the webhook records it (state.TakeReplace, before
// it is sent): queued APPENDs accepted before it are skipped, one accepted
// after it is sent.
func TestReplaceThenOlderQueuedAppendsSkipped(t *testing.T) {
	e, db, metrics := ordered(t)
	now := time.Now().UnixMilli()
	webhook := state.New(db.Client(), stateTable)
	if ok, err := webhook.TakeReplace(context.Background(), cred, now); err != nil || !ok {
		t.Fatal(ok, err)
	}
	var recs []events.SQSMessage
	for i := range 20 {
		recs = append(recs, record(fmt.Sprintf("old%d", i), pushAt(cred, "APPEND", now-int64(1000+i), addr(400+i)), now+1))
	}
	recs = append(recs, record("new", pushAt(cred, "APPEND", now+1, addr(499)), now+2))
	e.deliver(recs...)
	for i := range 20 {
		if e.holds(cred, addr(400+i)) {
			t.Fatalf("%s, queued before the REPLACE, was sent after it", addr(400+i))
		}
	}
	if !e.holds(cred, addr(499)) {
		t.Fatal("the APPEND accepted after the REPLACE was not sent")
	}
	if n := superseded(t, metrics); n != 20 {
		t.Fatalf("ItemsSuperseded %d, want 20", n)
	}
}

// Coalescing orders by the body's "at" when it has one, by SentTimestamp
// when not (bodies queued before "at" existed), and a body with "at" needs
// no SentTimestamp; an "at" a day past the clock is INVALID_MESSAGE.
func TestBodiesWithAndWithoutAt(t *testing.T) {
	for _, withTable := range []bool{false, true} {
		t.Run(fmt.Sprintf("table %v", withTable), func(t *testing.T) {
			var e *env
			if withTable {
				e, _, _ = ordered(t)
			} else {
				e = newEnv(t, true)
			}
			a, b, c := addr(501), addr(502), addr(503)
			now := time.Now().UnixMilli()
			noSent := record("no-sent", pushAt(cred, "APPEND", now, c), 0)
			delete(noSent.Attributes, "SentTimestamp")
			failed := e.invoke(ctxFor(t, time.Minute),
				// at says the REMOVE is later, though SQS got it first.
				record("r-a", pushAt(cred, "REMOVE", now+10, a), now+100),
				record("a-a", pushAt(cred, "APPEND", now, a), now+200),
				// Without at: SentTimestamp orders them.
				record("a-b", push(cred, "APPEND", b), now+300),
				record("r-b", push(cred, "REMOVE", b), now+100),
				noSent,
				record("future", pushAt(cred, "APPEND", time.Now().Add(48*time.Hour).UnixMilli(), addr(504)), now),
			)
			if len(failed) != 0 {
				t.Fatalf("reported %v", failed)
			}
			if e.holds(cred, a) || !e.holds(cred, b) || !e.holds(cred, c) || e.holds(cred, addr(504)) {
				t.Fatalf("held: a %v (want false), b %v (want true), c %v (want true), future %v (want false)",
					e.holds(cred, a), e.holds(cred, b), e.holds(cred, c), e.holds(cred, addr(504)))
			}
			dead := e.sqs.Messages("push-dlq")
			if len(dead) != 1 || dead[0].Attributes["original_message_id"] != "future" || dead[0].Attributes["error_code"] != pusher.CodeInvalidMessage {
				t.Fatalf("dead letters %+v", dead)
			}
		})
	}
}

// Two pushers (two processes: each its own Galxe and table client) drain
// one queue of interleaved APPENDs and REMOVEs of the same items at once,
// in small batches under an event source like Lambda's: Galxe ends holding
// exactly the items whose latest push is an APPEND. The later of two
// pushes held in different invocations waits for the earlier one's lease,
// so it cannot reach Galxe first.
func TestTwoPushersApplyTheLatestPush(t *testing.T) {
	e, db, _ := ordered(t)
	e.galxe.Close()
	e.galxe = galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1, Latency: 5 * time.Millisecond}) // a window for a later push to overtake
	t.Cleanup(e.galxe.Close)
	client, _ := galxe.New(galxe.Config{Endpoint: e.galxe.URL, Token: secret.Static("t", token), MaxQPS: 1000, BaseBackoff: 5 * time.Millisecond})
	e.h.Galxe, e.h.MarkLease = client, testLease
	pushers := []*env{e, e.another(db)}

	const items = 60
	rng := rand.New(rand.NewPCG(16, 2))
	now := time.Now().UnixMilli()
	latest := map[string]string{}
	var bodies []string
	for i := range items {
		it := addr(600 + i)
		for k := range 2 + rng.IntN(4) {
			op := []string{"APPEND", "REMOVE"}[rng.IntN(2)]
			bodies = append(bodies, pushAt(cred, op, now+int64(k*10+rng.IntN(5)), it))
			latest[it] = op // k rises, so the last is the latest
		}
	}
	rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	url := e.sqs.CreateQueue("interleaved", sqstest.QueueOptions{VisibilityTimeout: 10 * time.Second})
	e.sqs.Put("interleaved", bodies...)

	free := make(chan *env, len(pushers))
	for _, p := range pushers {
		free <- p
	}
	client2, _ := e.sqs.Client()
	es := &sqstest.EventSource{Client: client2, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:" + sqstest.AccountID + ":interleaved",
		BatchSize: 7, Window: 10 * time.Millisecond, MaxConcurrency: len(pushers),
		Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			p := <-free
			defer func() { free <- p }()
			return lambdaInvoke(ctx, p.h, payload)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { es.Run(ctx); close(done) }()
	for end := time.Now().Add(2 * time.Minute); len(e.sqs.Messages("interleaved")) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d messages still queued after two minutes", len(e.sqs.Messages("interleaved")))
		}
	}
	cancel()
	<-done
	for it, op := range latest {
		if e.holds(cred, it) != (op == "APPEND") {
			t.Errorf("%s: Galxe holds it %v, but its latest push is %s", it, e.holds(cred, it), op)
		}
	}
	t.Logf("%d messages of %d items, %d invocations, %d Galxe calls", len(bodies), items, es.Invocations(), e.galxe.Calls("credentialItems"))
}

// Marks racing: two pushers take the marks of the same 300 items at the
// same moment, one with an APPEND of all of them, the other with a later
// REMOVE. Whichever wins each mark, Galxe ends holding none (three times
// over, on new items each time).
func TestMarksRacingBetweenPushers(t *testing.T) {
	e, db, _ := ordered(t)
	e.h.MarkLease = testLease
	other := e.another(db)
	for round := range 3 {
		items := make([]string, 100) // few enough to mark well within a lease on a busy machine
		for i := range items {
			items[i] = addr(1000*(round+1) + i)
		}
		now := time.Now().UnixMilli()
		older := record(fmt.Sprintf("append%d", round), pushAt(cred, "APPEND", now, items...), now)
		newer := record(fmt.Sprintf("remove%d", round), pushAt(cred, "REMOVE", now+1, items...), now)
		var wg sync.WaitGroup
		wg.Go(func() { e.deliver(older) })
		wg.Go(func() { other.deliver(newer) })
		wg.Wait()
		for _, it := range items {
			if e.holds(cred, it) {
				t.Fatalf("round %d: Galxe holds %s after the later REMOVE", round, it)
			}
		}
	}
}

// The table throttling past the SDK's retries, unreachable, missing, or
// configured but unusable: nothing the table could not mark is sent, and
// those messages are reported for SQS to deliver again; a missing table is
// logged as a configuration error. A passing throttle the SDK absorbs
// changes nothing.
func TestTableFailuresReportTheBatch(t *testing.T) {
	batch := func() []events.SQSMessage {
		now := time.Now().UnixMilli()
		var recs []events.SQSMessage
		for i := range 30 {
			recs = append(recs, record(fmt.Sprintf("m%02d", i), pushAt(cred, "APPEND", now, addr(700+i)), now))
		}
		return recs
	}
	for name, c := range map[string]struct {
		break_  func(e *env, db *dynamotest.Server)
		logged  string
		allSent bool
	}{
		"throttled": {break_: func(e *env, db *dynamotest.Server) {
			for range 1000 {
				db.Fail("PutItem", dynamotest.Throttled)
			}
		}, logged: "shared-state table unavailable"},
		"down":    {break_: func(e *env, db *dynamotest.Server) { db.SetDown(true) }, logged: "shared-state table unavailable"},
		"missing": {break_: func(e *env, db *dynamotest.Server) { e.h.State.Name = "no-such-table" }, logged: "configuration error"},
		"unusable": {break_: func(e *env, db *dynamotest.Server) {
			e.h.State, e.h.StateErr = nil, fmt.Errorf("AWS configuration: no region")
		}, logged: "configuration error"},
		"a passing throttle": {break_: func(e *env, db *dynamotest.Server) {
			db.Fail("PutItem", dynamotest.Throttled, dynamotest.ThroughputExceeded) // no write gets more than the SDK's three attempts
		}, allSent: true},
	} {
		t.Run(name, func(t *testing.T) {
			e, db, _ := ordered(t)
			c.break_(e, db)
			recs := batch()
			failed := e.invoke(ctxFor(t, time.Minute), recs...)
			if c.allSent {
				if len(failed) != 0 || len(e.galxe.Items(cred)) != 3+len(recs) {
					t.Fatalf("reported %v; Galxe holds %d", failed, len(e.galxe.Items(cred)))
				}
				return
			}
			if len(failed) != len(recs) || e.galxe.Calls("credentialItems") != 0 {
				t.Fatalf("%d of %d reported, %d Galxe calls: want all reported and none", len(failed), len(recs), e.galxe.Calls("credentialItems"))
			}
			if !strings.Contains(e.logs.String(), c.logged) {
				t.Fatalf("the log does not say %q: %s", c.logged, e.logs.String())
			}
			if len(e.sqs.Messages("push-dlq")) != 0 {
				t.Fatal("a message was dead-lettered for the table's failure")
			}
		})
	}
}

// Only the items the table could not mark stay unsent: with a few writes
// throttled past the SDK's retries among many, the items whose marks were
// taken are sent, the others' messages come back, and a redelivery sends
// them.
func TestPartlyMarkedCallSendsWhatWasMarked(t *testing.T) {
	e, db, _ := ordered(t)
	now := time.Now().UnixMilli()
	var recs []events.SQSMessage
	for i := range 100 {
		recs = append(recs, record(fmt.Sprintf("m%03d", i), pushAt(cred, "REMOVE", now, addr(800+i)), now))
	}
	// One write fails for good after the SDK's three attempts.
	e.h.State.Client = db.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	db.Fail("PutItem", dynamotest.InternalError)
	failed := e.invoke(ctxFor(t, time.Minute), recs...)
	if len(failed) == 0 || len(failed) == len(recs) {
		t.Fatalf("%d of %d reported: want the unmarked ones only", len(failed), len(recs))
	}
	carried := e.galxe.Received(cred)
	if carried != len(recs)-len(failed) {
		t.Fatalf("Galxe carried %d items, %d messages reported of %d: an unmarked item was sent", carried, len(failed), len(recs))
	}
	e.deliver(recs...)
}

// lambdaInvoke runs the handler as the Lambda runtime does.
func lambdaInvoke(ctx context.Context, h *pusher.Handler, payload []byte) ([]byte, error) {
	return lambda.NewHandler(h.Handle).Invoke(ctx, payload)
}

// The table's cost: a 10,000-message batch of one-address APPENDs takes
// one conditional write per item and one read of the credential's last
// REPLACE per call (20 calls).
func TestTableRequestsPerItem(t *testing.T) {
	e, db, _ := ordered(t)
	now := time.Now().UnixMilli()
	recs := make([]events.SQSMessage, 10_000)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("m%d", i), pushAt(cred, "APPEND", now, addr(100_000+i)), now)
	}
	if failed := e.invoke(ctxFor(t, 2*time.Minute), recs...); len(failed) != 0 {
		t.Fatalf("%d reported", len(failed))
	}
	puts, gets := db.Calls("PutItem"), db.Calls("GetItem")
	if puts != len(recs) || gets != 20 || e.galxe.Calls("credentialItems") != 20 {
		t.Fatalf("%d writes and %d reads of the table, %d Galxe calls: want %d, 20 and 20", puts, gets, e.galxe.Calls("credentialItems"), len(recs))
	}
	t.Logf("10,000 messages: %d PutItem + %d GetItem = %.3f table requests per pushed item", puts, gets, float64(puts+gets)/float64(len(recs)))
}
