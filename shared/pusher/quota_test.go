package pusher_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// The quota meter's limits for these tests: background callers stop at
// testQuota − testReserve.
const (
	testQuota   = int64(1000)
	testReserve = int64(10)
)

// metered gives e's pusher the fleet's table (its own SDK client, as a
// separate process has) and a Galxe client whose every request goes
// through a background budget over that table, as coldstart builds the
// pusher's. It returns the budget and a second view of the table for the
// test's own reads and writes.
func metered(t *testing.T, e *env) (*budget.Budget, *state.Table, *dynamotest.Server) {
	t.Helper()
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(stateTable)
	return meteredOn(t, e, db, testQuota), state.New(db.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), stateTable), db
}

// meteredOn is metered on an existing table, with a monthly quota of its own.
func meteredOn(t *testing.T, e *env, db *dynamotest.Server, quota int64) *budget.Budget {
	t.Helper()
	b := budget.New(budget.Options{Table: state.New(db.Client(), stateTable), Class: budget.Background,
		AccountQPS: 10, ForegroundQPS: 2, MonthlyQuota: quota, QuotaReserve: testReserve,
		TableTimeout: time.Minute}) // a busy machine's slow answer is not the table's failure
	client, err := galxe.New(galxe.Config{Endpoint: e.galxe.URL, Token: secret.Static("t", token), MaxQPS: 1000,
		BaseBackoff: 5 * time.Millisecond, Budget: b})
	if err != nil {
		t.Fatal(err)
	}
	e.h.Galxe = client
	e.h.State = state.New(db.Client(), stateTable)
	return b
}

// used is the table's count for the current UTC month.
func used(t *testing.T, tb *state.Table) (string, int64) {
	t.Helper()
	month := state.Month(time.Now())
	n, err := tb.Used(context.Background(), month)
	if err != nil {
		t.Fatal(err)
	}
	return month, n
}

// A background budget whose month is already at the limit less the
// reserve (counted by other instances: the table's quota item) refuses the
// pusher's calls before any reaches Galxe. The refusal is account-wide: no
// Galxe request, nothing dead-lettered, every message reported for retry
// and held back (invisible) for at least an hour through
// ChangeMessageVisibilityBatch. The month's count is left as it was.
func TestBackgroundQuotaSpentHoldsEveryMessage(t *testing.T) {
	e := newEnv(t, true)
	e.h.MarkLease = testLease
	b, tb, db := metered(t, e)
	month := state.Month(time.Now())
	if _, err := tb.AddUsed(context.Background(), month, testQuota-testReserve); err != nil {
		t.Fatal(err)
	}
	const n = 40
	queueOf(e.sqs, "push", n)
	recs := receiveAll(t, e.sqs, "push", n, time.Minute)
	log := &visibilityLog{Client: e.h.Queues.(*sqs.Client)}
	e.h.Queues = log

	failed := e.invoke(ctxFor(t, 30*time.Second), recs...)
	if r := e.galxe.Requests(); r != 0 {
		t.Fatalf("%d Galxe requests past the background limit, want 0", r)
	}
	if len(failed) != n {
		t.Fatalf("%d of %d messages reported for retry: the rest would be deleted unpushed", len(failed), n)
	}
	if visible, hidden := queueCounts(t, e.sqs, "push-dlq"); visible+hidden != 0 {
		t.Fatalf("%d messages dead-lettered for a spent quota, want none", visible+hidden)
	}
	if len(log.held) != n {
		t.Fatalf("%d of %d messages held back", len(log.held), n)
	}
	for _, r := range recs {
		if s, ok := log.held[r.ReceiptHandle]; !ok || time.Duration(s)*time.Second < time.Hour {
			t.Fatalf("message %s held back for %d s, want at least an hour", r.MessageId, s)
		}
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, got := used(t, tb); got != testQuota-testReserve {
		t.Fatalf("the month's count is %d after a refused invocation, want %d", got, testQuota-testReserve)
	}

	// The held messages come back (here at once) to a process whose quota
	// has room: every one is pushed, none skipped as superseded by the
	// marks the refused invocation took before its budget refused it.
	again := e.another(db)
	meteredOn(t, again, db, 100*testQuota)
	again.h.MarkLease = testLease
	again.deliver(recs...)
	for i := range n {
		if !e.holds(cred, addr(100_000+i)) {
			t.Fatalf("%s was never pushed after the hold: %d Galxe requests", addr(100_000+i), e.galxe.Requests())
		}
	}
}

// Under the limit, the same invocation pushes every message, and once the
// budget is flushed the month's count in the table has grown by exactly
// the requests Galxe received (the count another instance had left
// included: an atomic add, not an overwrite).
func TestBackgroundUnderQuotaCountsItsRequests(t *testing.T) {
	e := newEnv(t, true)
	b, tb, _ := metered(t, e)
	const before = testQuota - testReserve - 100
	month := state.Month(time.Now())
	if _, err := tb.AddUsed(context.Background(), month, before); err != nil {
		t.Fatal(err)
	}
	// Three credentials, two operations: several calls, each a request.
	var bodies []string
	for i := range 30 {
		c := []string{cred, other, third}[i%3]
		op := []string{"APPEND", "REMOVE"}[i/15]
		bodies = append(bodies, push(c, op, addr(200_000+i)))
	}
	e.sqs.CreateQueue("push", sqstest.QueueOptions{})
	e.sqs.Put("push", bodies...)
	recs := receiveAll(t, e.sqs, "push", len(bodies), time.Minute)

	if failed := e.invoke(ctxFor(t, 30*time.Second), recs...); len(failed) != 0 {
		t.Fatalf("%d messages reported under the quota: %v", len(failed), failed)
	}
	for i := range 15 {
		c := []string{cred, other, third}[i%3]
		if !e.holds(c, addr(200_000+i)) {
			t.Fatalf("%s does not hold %s", c, addr(200_000+i))
		}
	}
	requests := e.galxe.Requests()
	if requests == 0 {
		t.Fatal("no Galxe request")
	}
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, got := used(t, tb); m != month || got != before+int64(requests) {
		t.Fatalf("the month's count is %d (%s), want %d + %d Galxe requests", got, m, before, requests)
	}
	if e.galxe.RateLimited() != 0 {
		t.Fatalf("%d requests refused for their rate", e.galxe.RateLimited())
	}
}
