package coldstart_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const stateTable = "galxe-lambda-state"

// counted starts a process of fn with STATE_TABLE on a DynamoDB stand-in
// (AWS_ENDPOINT_URL_DYNAMODB, the SDK's own override) and a Galxe
// stand-in: its Deps, the Galxe stand-in, and a view of the table for the
// test's reads.
func counted(t *testing.T, fn coldstart.Function) (*coldstart.Deps, *galxetest.Server, *state.Table, *bytes.Buffer) {
	t.Helper()
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(stateTable)
	db.Env(t)
	g := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	t.Cleanup(g.Close)
	vars := map[string]string{"GALXE_ENDPOINT": g.URL, "GALXE_ACCESS_TOKEN": token, "STATE_TABLE": stateTable,
		"WEBHOOK_AUTH": "none"}
	var out bytes.Buffer
	d := coldstart.Init(context.Background(), func(k string) string { return vars[k] }, &out, fn)
	if d.Galxe == nil || d.State == nil || d.Budget == nil {
		t.Fatalf("deps without Galxe, the table or the budget: %+v\n%s", d, out.String())
	}
	return d, g, state.New(db.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), stateTable), &out
}

// calling is a handler that makes n Galxe calls through d.Galxe, waits
// for wait (with the invocation's context), and answers answer.
func calling(d *coldstart.Deps, n int, wait func(ctx context.Context), answer string) lambda.Handler {
	return lambda.NewHandler(func(ctx context.Context) (string, error) {
		for range n {
			if _, err := d.Galxe.Do(ctx, "health", nil); err != nil {
				return "", err
			}
		}
		if wait != nil {
			wait(ctx)
		}
		return answer, nil
	})
}

func monthUsed(t *testing.T, tb *state.Table) int64 {
	t.Helper()
	n, err := tb.Used(context.Background(), state.Month(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A handler wrapped with d.Counted that makes budget.FlushBatch Galxe
// calls: once Invoke returns, the month's quota item in the table holds
// them (no later flush needed: a frozen process may never run again), and
// the answer is the handler's, unchanged. Fewer wait for the next
// invocation's (the count is at most FlushBatch−1 behind).
func TestCountedAddsTheInvocationsRequests(t *testing.T) {
	for name, fn := range map[string]coldstart.Function{"pusher": coldstart.Pusher, "webhook": coldstart.Webhook} {
		t.Run(name, func(t *testing.T) {
			d, g, tb, _ := counted(t, fn)
			const n = budget.FlushBatch
			h := d.Counted(calling(d, n, nil, "done"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := h.Invoke(ctx, []byte(`{}`))
			if err != nil || string(out) != `"done"` {
				t.Fatalf("answer %s %v, want the handler's own", out, err)
			}
			if g.Requests() != n {
				t.Fatalf("%d Galxe requests, want %d", g.Requests(), n)
			}
			if got := monthUsed(t, tb); got != n {
				t.Fatalf("the month's count is %d once Invoke returned, want %d", got, n)
			}
			out, err = d.Counted(calling(d, 2, nil, "again")).Invoke(ctx, []byte(`{}`))
			if err != nil || string(out) != `"again"` {
				t.Fatalf("answer %s %v", out, err)
			}
			if got := monthUsed(t, tb); got != n {
				t.Fatalf("the month's count is %d after a second invocation of 2, want %d (2 held for the next)", got, n)
			}
			if _, err = d.Counted(calling(d, n-2, nil, "third")).Invoke(ctx, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if got := monthUsed(t, tb); got != 2*n {
				t.Fatalf("the month's count is %d after a third invocation, want %d", got, 2*n)
			}
		})
	}
}

// A handler's error comes back through Counted as it was, and the requests
// the invocation made are counted all the same.
func TestCountedKeepsTheHandlersError(t *testing.T) {
	d, _, tb, _ := counted(t, coldstart.Scheduled)
	refusal := errors.New("the job refused its input")
	h := d.Counted(lambda.NewHandler(func(ctx context.Context) (string, error) {
		for range budget.FlushBatch {
			if _, err := d.Galxe.Do(ctx, "health", nil); err != nil {
				return "", err
			}
		}
		return "", refusal
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := h.Invoke(ctx, []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), refusal.Error()) {
		t.Fatalf("error %v, want the handler's", err)
	}
	if got := monthUsed(t, tb); got != budget.FlushBatch {
		t.Fatalf("the month's count is %d, want %d", got, budget.FlushBatch)
	}
}

// An invocation whose deadline is nearly spent when its handler returns
// still returns, with the handler's answer intact (the count is not
// allowed to hold it past the deadline); what could not be added then is
// kept and added by the next invocation, so the month's count ends up
// equal to the requests Galxe received.
func TestCountedNearTheDeadline(t *testing.T) {
	d, g, tb, _ := counted(t, coldstart.Pusher)
	deadline := time.Now().Add(5 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	nearlySpent := func(ctx context.Context) {
		dl, _ := ctx.Deadline()
		select {
		case <-time.After(time.Until(dl) - 20*time.Millisecond):
		case <-ctx.Done():
		}
	}
	done := make(chan struct{})
	var (
		out []byte
		err error
	)
	go func() {
		defer close(done)
		out, err = d.Counted(calling(d, budget.FlushBatch-1, nearlySpent, "late but whole")).Invoke(ctx, []byte(`{}`))
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) + 20*time.Second):
		t.Fatal("Invoke never returned")
	}
	if err != nil || string(out) != `"late but whole"` {
		t.Fatalf("answer %s %v, want the handler's own", out, err)
	}
	first := g.Requests()
	if first != budget.FlushBatch-1 {
		t.Fatalf("%d Galxe requests, want %d", first, budget.FlushBatch-1)
	}

	next, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if out, err := d.Counted(calling(d, 1, nil, "next")).Invoke(next, []byte(`{}`)); err != nil || string(out) != `"next"` {
		t.Fatalf("next answer %s %v", out, err)
	}
	if got, want := monthUsed(t, tb), int64(g.Requests()); got != want {
		t.Fatalf("the month's count is %d after the next invocation, want the %d requests Galxe received", got, want)
	}
}

// An invocation that ends too close to its deadline for the count to be
// added has not seen the table fail: the next invocation's requests still
// take their slots from the account's budget (no BudgetFallbacks), and no
// SharedStateErrors is counted nor a table failure logged. (Before
// e05e9be, Flush took its context's expiry for the table's failure and
// left the table alone for 5 s: the process's next requests bypassed the
// fleet's budget.)
func TestCountedNearTheDeadlineKeepsTheBudget(t *testing.T) {
	d, _, _, out := counted(t, coldstart.Pusher)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	nearlySpent := func(ctx context.Context) {
		dl, _ := ctx.Deadline()
		select {
		case <-time.After(time.Until(dl) - 20*time.Millisecond):
		case <-ctx.Done():
		}
	}
	if _, err := d.Counted(calling(d, 1, nearlySpent, "x")).Invoke(ctx, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	next, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if _, err := d.Counted(calling(d, 2, nil, "y")).Invoke(next, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`"SharedStateErrors"`, `"BudgetFallbacks"`, "shared-state table failed"} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("%s after an invocation that only ran out of time, with the table healthy:\n%s", bad, out.String())
		}
	}
}
