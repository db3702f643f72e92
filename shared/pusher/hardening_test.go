package pusher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// oneAddressEach is n one-address messages for cred, sent at sent.
func oneAddressEach(n int, sent int64) []events.SQSMessage {
	recs := make([]events.SQSMessage, n)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("m%d", i), push(cred, "APPEND", addr(100_000+i)), sent)
	}
	return recs
}

// Galxe refuses one address of a 500-item call with INVALID_ADDRESS: the
// call is split in halves until the address stands alone, and only its
// message is dead-lettered, with Galxe's code; the 999 others are pushed.
// Before: 2 calls, 500 messages dead-lettered (499 of them valid).
func TestValidationRefusalSplitUntilTheItemStandsAlone(t *testing.T) {
	e := newEnv(t, true)
	bad := addr(100_000 + 600)
	e.galxe.RefuseItems(bad)
	recs := oneAddressEach(1000, time.Now().UnixMilli())
	if failed := e.invoke(ctxFor(t, 60*time.Second), recs...); len(failed) != 0 {
		t.Fatalf("%d messages reported: %v", len(failed), failed)
	}
	dead := e.sqs.Messages("push-dlq")
	if len(dead) != 1 || dead[0].Body != recs[600].Body || dead[0].Attributes["error_code"] != "INVALID_ADDRESS" ||
		dead[0].Attributes["original_message_id"] != "m600" {
		t.Fatalf("dead letters: %+v", dead)
	}
	for i := range 1000 {
		if i != 600 && !e.holds(cred, addr(100_000+i)) {
			t.Fatalf("%s was not pushed", addr(100_000+i))
		}
	}
	calls := e.galxe.Calls("credentialItems")
	if calls != 2+2*9 { // 500 → 250 → 125 → 63 → 32 → 16 → 8 → 4 → 2 → 1: nine splits of two calls
		t.Fatalf("%d Galxe calls, want 20", calls)
	}
	t.Logf("one refused address among 1,000: %d Galxe calls, 1 message dead-lettered, 999 pushed", calls)
}

// receiveAll takes every message of the queue as Lambda's poller does,
// hidden for hide, and makes them an event's records.
func receiveAll(t *testing.T, q *sqstest.Server, name string, n int, hide time.Duration) []events.SQSMessage {
	t.Helper()
	client, err := q.Client()
	if err != nil {
		t.Fatal(err)
	}
	url := q.URL + "/" + sqstest.AccountID + "/" + name
	var (
		mu   sync.Mutex
		recs []events.SQSMessage
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				mu.Lock()
				done := len(recs) >= n
				mu.Unlock()
				if done {
					return
				}
				out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
					MaxNumberOfMessages: 10, VisibilityTimeout: int32(hide / time.Second),
					MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
				if err != nil {
					t.Error(err)
					return
				}
				if len(out.Messages) == 0 {
					return
				}
				mu.Lock()
				for _, m := range out.Messages {
					recs = append(recs, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
						Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs",
						EventSourceARN: "arn:aws:sqs:us-east-1:" + sqstest.AccountID + ":" + name, AWSRegion: "us-east-1"})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.MessageId] = true
	}
	if len(recs) != n || len(ids) != n {
		t.Fatalf("received %d records of %d distinct messages, want %d: the receives outlasted their visibility (%v)", len(recs), len(ids), n, hide)
	}
	return recs
}

// queueCounts are the queue's visible and in-flight messages, as
// GetQueueAttributes gives them.
func queueCounts(t *testing.T, q *sqstest.Server, name string) (visible, hidden int) {
	t.Helper()
	client, _ := q.Client()
	out, err := client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.URL + "/" + sqstest.AccountID + "/" + name),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	hidden, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, hidden
}

// queueOf makes a queue holding n one-address messages for cred.
func queueOf(q *sqstest.Server, name string, n int) {
	q.CreateQueue(name, sqstest.QueueOptions{})
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = push(cred, "APPEND", addr(100_000+i))
	}
	q.Put(name, bodies...)
}

// A spent monthly quota stops the invocation's calls after one request:
// every message is reported and held back (invisible) for the quota's
// Retry-After (an hour at least), through ChangeMessageVisibilityBatch
// with the records' receipt handles on the queue their eventSourceARN
// names, each change taken by the SQS stand-in. Before: 20 refused
// requests, every message reported, none held back (each came back after
// the queue's visibility timeout, spending a receive).
func TestSpentQuotaStopsAndHoldsBack(t *testing.T) {
	e := newEnv(t, true)
	const n = 10_000
	queueOf(e.sqs, "push", n)
	recs := receiveAll(t, e.sqs, "push", n, time.Hour)
	log := &visibilityLog{Client: e.h.Queues.(*sqs.Client)}
	e.h.Queues = log
	for range 100 {
		e.galxe.Fail(galxetest.QuotaSpent("monthly"))
	}

	failed := e.invoke(ctxFor(t, 60*time.Second), recs...)
	if len(failed) != n {
		t.Fatalf("%d messages reported, want all %d", len(failed), n)
	}
	if r := e.galxe.Requests(); r != 1 {
		t.Fatalf("%d Galxe requests, want 1", r)
	}
	if c := e.sqs.Calls("ChangeMessageVisibilityBatch"); c != n/10 {
		t.Fatalf("%d visibility calls, want %d", c, n/10)
	}
	if len(log.held) != n || !slices.Equal(slices.Compact(slices.Sorted(maps.Values(log.held))), []int32{3600}) {
		t.Fatalf("%d messages held back, want %d for 3600 s", len(log.held), n)
	}
	t.Logf("a spent monthly quota: %d Galxe request, %d messages reported, %d held back in %d calls",
		e.galxe.Requests(), len(failed), len(log.held), e.sqs.Calls("ChangeMessageVisibilityBatch"))
}

// Held-back messages stay hidden past the visibility they were received
// with; without the SQS client they come back then (the queue's own pace).
func TestHeldBackMessagesStayHidden(t *testing.T) {
	e := newEnv(t, true)
	queueOf(e.sqs, "held", 20)
	queueOf(e.sqs, "control", 20)
	const hide = time.Second
	received := time.Now()
	held := receiveAll(t, e.sqs, "held", 20, hide)
	control := receiveAll(t, e.sqs, "control", 20, hide)
	for range 10 {
		e.galxe.Fail(galxetest.QuotaSpent("monthly"))
	}
	if failed := e.invoke(ctxFor(t, 30*time.Second), held...); len(failed) != 20 {
		t.Fatalf("%d reported", len(failed))
	}
	e.h.Queues = nil
	if failed := e.invoke(ctxFor(t, 30*time.Second), control...); len(failed) != 20 {
		t.Fatalf("%d reported", len(failed))
	}
	// The stand-in applies a visibility when the queue is next read: the
	// changes landed however long the invocations took.
	time.Sleep(time.Until(received.Add(hide + 500*time.Millisecond)))
	if visible, hidden := queueCounts(t, e.sqs, "held"); visible != 0 || hidden != 20 {
		t.Fatalf("held back: %d visible, %d hidden, want 0 and 20", visible, hidden)
	}
	if visible, _ := queueCounts(t, e.sqs, "control"); visible != 20 {
		t.Fatalf("not held back: %d visible, want 20", visible)
	}
}

// visibilityLog is the real SQS client, keeping, per receipt handle, the
// visibility timeout of each change the SQS stand-in took.
type visibilityLog struct {
	*sqs.Client
	mu   sync.Mutex
	held map[string]int32
}

func (v *visibilityLog) ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	out, err := v.Client.ChangeMessageVisibilityBatch(ctx, in, optFns...)
	if err != nil {
		return out, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.held == nil {
		v.held = map[string]int32{}
	}
	for _, ok := range out.Successful {
		for _, e := range in.Entries {
			if aws.ToString(e.Id) == aws.ToString(ok.Id) {
				v.held[aws.ToString(e.ReceiptHandle)] = e.VisibilityTimeout
			}
		}
	}
	return out, nil
}

// Each account-wide refusal stops the calls after one request, and holds
// the messages back for as long as it says: a spent daily quota without
// Retry-After an hour, one with a longer Retry-After that long (at most
// SQS's 12 hours), per-second throttling whose Retry-After lies past the
// budget that long; a refused token (after the client read it again) has
// no Retry-After, so the queue's own visibility timeout applies.
func TestAccountWideRefusals(t *testing.T) {
	perSecond := galxetest.ErrorFault("QUOTA_EXCEEDED")
	perSecond.RetryAfter = "600"
	daily := galxetest.QuotaSpent("daily")
	daily.RetryAfter = "86400"
	for name, c := range map[string]struct {
		fault galxetest.Fault
		hold  int32 // seconds; 0: none
	}{
		"daily quota":                      {galxetest.QuotaSpent("daily"), 3600},
		"daily quota, Retry-After a day":   {daily, 41400},
		"throttled past the budget":        {perSecond, 600},
		"token refused after a fresh read": {galxetest.ErrorFault("INVALID_TOKEN"), 0},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, true)
			queueOf(e.sqs, "push", 30)
			recs := receiveAll(t, e.sqs, "push", 30, time.Minute)
			log := &visibilityLog{Client: e.h.Queues.(*sqs.Client)}
			e.h.Queues = log
			for range 20 {
				e.galxe.Fail(c.fault)
			}
			failed := e.invoke(ctxFor(t, 20*time.Second), recs...)
			if len(failed) != len(recs) || e.galxe.Requests() != 1 {
				t.Fatalf("%d reported, %d Galxe requests: want %d and 1", len(failed), e.galxe.Requests(), len(recs))
			}
			want := map[string]int32{}
			for _, r := range recs {
				if c.hold > 0 {
					want[r.ReceiptHandle] = c.hold
				}
			}
			if !maps.Equal(log.held, want) {
				t.Fatalf("%d messages held back (%v), want %d for %d s", len(log.held), slices.Collect(maps.Values(log.held)), len(want), c.hold)
			}
		})
	}
}

// sized is an invalid push (an unknown field) of exactly n bytes.
func sized(n int) string {
	head, tail := `{"credId":"1","operation":"APPEND","items":["a@b.c"],"pad":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// Dead letters leave room for their attributes, which SQS counts toward a
// message's 256 KiB: as many as fit go with the body, error_code first. A
// 262,142-byte body has no room for any: it is dead-lettered bare (the
// log line keeps its code) rather than reported, which would bring it back
// until the redrive parked it without a code anyway. Before: the
// dead-letter send was refused until the budget ran out (21 calls, 9.4 s
// of 10), and the message was reported, never dead-lettered.
func TestDeadLettersNearTheSizeLimit(t *testing.T) {
	e := newEnv(t, true)
	now := time.Now().UnixMilli()
	bodies := map[string]string{"none-fit": sized(262_142), "code-fits": sized(262_144 - 40), "all-fit": sized(262_000)}
	var recs []events.SQSMessage
	for _, id := range slices.Sorted(maps.Keys(bodies)) {
		recs = append(recs, record(id, bodies[id], now))
	}
	if failed := e.invoke(ctxFor(t, 30*time.Second), recs...); len(failed) != 0 {
		t.Fatalf("reported %v", failed)
	}
	got := map[string]map[string]string{}
	for _, m := range e.sqs.Messages("push-dlq") {
		for id, b := range bodies {
			if m.Body == b {
				got[id] = m.Attributes
			}
		}
	}
	sent := strconv.FormatInt(now, 10)
	want := map[string]map[string]string{
		"none-fit":  {},
		"code-fits": {"error_code": "INVALID_MESSAGE"},
		"all-fit":   {"error_code": "INVALID_MESSAGE", "original_message_id": "all-fit", "original_sent_timestamp": sent},
	}
	if len(e.sqs.Messages("push-dlq")) != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("dead letters' attributes %v, want %v", got, want)
	}
	if calls := e.sqs.Calls("SendMessageBatch"); calls != 3 { // each alone: together they pass 256 KiB
		t.Fatalf("%d dead-letter calls, want 3", calls)
	}
}

// A dead-letter queue that stays down costs a bounded number of calls
// (three rounds of the SDK's three attempts), not the invocation: the
// refused message is reported and the good one pushed. Before: 33 calls
// and 8.6 s of a 10 s invocation.
func TestBrokenDeadLetterQueueBounded(t *testing.T) {
	e := newEnv(t, true)
	e.sqs.SetDown(true)
	start := time.Now()
	failed := e.invoke(ctxFor(t, 60*time.Second), record("bad", "nope", 1), record("good", push(cred, "APPEND", addr(3)), 1))
	if !slices.Equal(failed, []string{"bad"}) || !e.holds(cred, addr(3)) {
		t.Fatalf("reported %v; good pushed %v", failed, e.holds(cred, addr(3)))
	}
	calls := e.sqs.Calls("SendMessageBatch")
	if calls > pusher.DeadLetterAttempts*3 {
		t.Fatalf("%d dead-letter calls, want at most %d", calls, pusher.DeadLetterAttempts*3)
	}
	t.Logf("a dead-letter queue down: %d calls, %v", calls, time.Since(start).Round(100*time.Millisecond))
}

// A message the dead-letter queue took is never also reported, nor sent
// twice: 25 invalid messages, one of which SQS refuses for good (a
// character it does not take) → 24 dead letters, each once, and only the
// refused one reported. Before: all 25 reported after the budget ran out,
// so the 24 already dead-lettered would come back and be sent again.
func TestDeadLetteredNeverReported(t *testing.T) {
	e := newEnv(t, true)
	var recs []events.SQSMessage
	for i := range 25 {
		recs = append(recs, record(fmt.Sprintf("bad%02d", i), fmt.Sprintf("not a push %d", i), 1))
	}
	recs[3].Body = "not a push \x01"
	failed := e.invoke(ctxFor(t, 30*time.Second), recs...)
	if !slices.Equal(failed, []string{"bad03"}) {
		t.Fatalf("reported %v, want [bad03]", failed)
	}
	dead := e.sqs.Messages("push-dlq")
	seen := map[string]bool{}
	for _, m := range dead {
		if seen[m.Attributes["original_message_id"]] {
			t.Fatalf("%s dead-lettered twice", m.Attributes["original_message_id"])
		}
		seen[m.Attributes["original_message_id"]] = true
	}
	if len(dead) != 24 || seen["bad03"] {
		t.Fatalf("%d dead letters (bad03 among them: %v)", len(dead), seen["bad03"])
	}
	if calls := e.sqs.Calls("SendMessageBatch"); calls != 3 {
		t.Fatalf("%d dead-letter calls, want 3", calls)
	}
}

// Records that cannot be trusted are INVALID_MESSAGE and dead-lettered,
// never pushed: a body whose item holds U+FFFD (what aws-lambda-go's
// decoding makes of invalid UTF-8), a SentTimestamp that is missing, not
// a number, not positive, overflowing, or days ahead of the clock. A
// record without a messageId is dead-lettered too and never named in the
// answer. Before: all were pushed (the timestamps saturated or lost every
// tie), and without a dead-letter queue the unnamed record was reported
// with an empty itemIdentifier (Lambda then retries the whole batch).
func TestUntrustworthyRecordsInvalid(t *testing.T) {
	e := newEnv(t, true)
	now := time.Now()
	good := record("good", push(cred, "APPEND", addr(50)), now.UnixMilli())
	fffd := record("fffd", push(cred, "APPEND", "bad\ufffditem@example.com"), now.UnixMilli())
	recs := []events.SQSMessage{good, fffd}
	for id, ts := range map[string]string{"no-sent": "", "letters": "soon", "negative": "-5", "zero": "0",
		"overflow": "99999999999999999999", "future": strconv.FormatInt(now.Add(72*time.Hour).UnixMilli(), 10)} {
		r := record(id, push(cred, "APPEND", addr(60+len(recs))), 0)
		r.Attributes["SentTimestamp"] = ts
		if ts == "" {
			delete(r.Attributes, "SentTimestamp")
		}
		recs = append(recs, r)
	}
	recs = append(recs, record("", push(cred, "APPEND", addr(99)), now.UnixMilli()))
	if failed := e.invoke(ctxFor(t, 30*time.Second), recs...); len(failed) != 0 {
		t.Fatalf("reported %v", failed)
	}
	if held := e.galxe.Items(cred); !e.holds(cred, addr(50)) || len(held) != 4 { // the demo's 3 and the good one
		t.Fatalf("Galxe holds %v", held)
	}
	dead := e.sqs.Messages("push-dlq")
	if len(dead) != len(recs)-1 {
		t.Fatalf("%d dead letters, want %d", len(dead), len(recs)-1)
	}
	for _, m := range dead {
		if m.Attributes["error_code"] != pusher.CodeInvalidMessage {
			t.Fatalf("%s: error_code %q", m.Attributes["original_message_id"], m.Attributes["error_code"])
		}
	}

	// Without a dead-letter queue they are reported, but the unnamed one
	// cannot be: it is left out (invoke fails on an empty identifier).
	e2 := newEnv(t, false)
	failed := e2.invoke(ctxFor(t, 30*time.Second), recs...)
	if len(failed) != len(recs)-2 || slices.Contains(failed, "good") {
		t.Fatalf("reported %v", failed)
	}
}

// EMF lines stay valid for any batch: at most 100 values per metric array
// (more go on further lines), every line parses, ItemsPushed is there, and
// PushLag has one value per pushed message, measured from its own
// SentTimestamp. Before: one PushLag value per call in one array (110 calls
// → 110 values: CloudWatch drops the whole line, ItemsPushed with it),
// measured from the oldest message of the call's credential.
func TestMetricsLinesValid(t *testing.T) {
	e := newEnv(t, true)
	var out strings.Builder
	e.h.Metrics = obs.NewMetrics(&out, "pusher")
	now := time.Now().UnixMilli()
	recs := oneAddressEach(1000, now)
	for i := range 500 { // half sent a minute ago
		recs[i].Attributes["SentTimestamp"] = strconv.FormatInt(now-60_000, 10)
	}
	if failed := e.invoke(ctxFor(t, 30*time.Second), recs...); len(failed) != 0 {
		t.Fatalf("reported %d", len(failed))
	}
	var lags []float64
	itemsPushed := -1.0
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a metrics line does not parse: %v", err)
		}
		for name, v := range m {
			if arr, ok := v.([]any); ok && len(arr) > obs.MaxValues {
				t.Fatalf("%s holds %d values", name, len(arr))
			}
		}
		switch v := m["PushLag"].(type) {
		case float64:
			lags = append(lags, v)
		case []any:
			for _, x := range v {
				lags = append(lags, x.(float64))
			}
		}
		if v, ok := m["ItemsPushed"].(float64); ok {
			itemsPushed = v
		}
	}
	old := 0
	for _, l := range lags {
		if l >= 60_000 {
			old++
		}
	}
	if itemsPushed != 1000 || len(lags) != 1000 || old != 500 {
		t.Fatalf("ItemsPushed %v, %d PushLag values (%d of a minute or more), want 1000, 1000 and 500", itemsPushed, len(lags), old)
	}
	t.Logf("1,000 messages: %d metrics lines", len(lines))
}
