package state_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const tableName = "galxe-lambda-state"

// newTables starts a stand-in with the project's table and returns n
// instances' views of it (each its own SDK client, as separate processes
// have), sharing one clock.
func newTables(t *testing.T, n int) ([]*state.Table, *dynamotest.Server, *dynamotest.Clock) {
	t.Helper()
	srv := dynamotest.NewServer()
	t.Cleanup(srv.Close)
	srv.CreateTable(tableName)
	clk := dynamotest.NewClock(time.Now())
	tables := make([]*state.Table, n)
	for i := range tables {
		tables[i] = &state.Table{Client: srv.Client(), Name: tableName, Now: clk.Now}
	}
	return tables, srv, clk
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestDeliveryAnsweredOnce(t *testing.T) {
	tables, _, clk := newTables(t, 2)
	a, b := tables[0], tables[1]
	fp := state.Fingerprint("POST", "/credentials/1/items", []byte(`{"operation":"REPLACE","items":["x"]}`))
	until := clk.Now().Add(25 * time.Second)

	c, err := a.Claim(ctx(t), "msg_1", fp, until)
	if err != nil || c.Outcome != state.Claimed {
		t.Fatalf("first claim: %+v %v", c, err)
	}
	// Another instance while the first runs: in progress.
	if c, err := b.Claim(ctx(t), "msg_1", fp, until); err != nil || c.Outcome != state.InProgress {
		t.Fatalf("concurrent claim: %+v %v", c, err)
	}
	// The same key with another request.
	other := state.Fingerprint("POST", "/credentials/1/items", []byte(`{"operation":"REMOVE","items":["x"]}`))
	if c, err := b.Claim(ctx(t), "msg_1", other, until); err != nil || c.Outcome != state.KeyReused {
		t.Fatalf("reused key: %+v %v", c, err)
	}
	body := []byte(`{"data":{"credId":"1","operation":"REPLACE","items":1,"batches":1}}`)
	if err := a.Complete(ctx(t), "msg_1", fp, state.Answer{Status: 200, Body: body}, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err = b.Claim(ctx(t), "msg_1", fp, until)
	if err != nil || c.Outcome != state.Completed || c.Answer.Status != 200 || !bytes.Equal(c.Answer.Body, body) {
		t.Fatalf("after completion: %+v %v", c, err)
	}
	// Past its TTL the record is ignored, although the table still holds it.
	clk.Advance(time.Hour + time.Second)
	if c, err := b.Claim(ctx(t), "msg_1", fp, clk.Now().Add(25*time.Second)); err != nil || c.Outcome != state.Claimed {
		t.Fatalf("after the TTL: %+v %v", c, err)
	}
}

func TestReleasedClaimRunsAgain(t *testing.T) {
	tables, _, clk := newTables(t, 2)
	fp := state.Fingerprint("POST", "/p", []byte("b"))
	until := clk.Now().Add(25 * time.Second)
	if c, _ := tables[0].Claim(ctx(t), "k", fp, until); c.Outcome != state.Claimed {
		t.Fatal("not claimed")
	}
	// Another attempt's release does not free a claim that is not its own.
	if err := tables[1].Release(ctx(t), "k", state.Fingerprint("POST", "/p", []byte("other"))); err != nil {
		t.Fatal(err)
	}
	if c, _ := tables[1].Claim(ctx(t), "k", fp, until); c.Outcome != state.InProgress {
		t.Fatalf("claim freed by another request: %+v", c)
	}
	if err := tables[0].Release(ctx(t), "k", fp); err != nil {
		t.Fatal(err)
	}
	if c, _ := tables[1].Claim(ctx(t), "k", fp, until); c.Outcome != state.Claimed {
		t.Fatalf("after release: %+v", c)
	}
}

// A claim whose attempt outlived its deadline (the process froze, was
// killed) is taken over by the next attempt.
func TestStaleClaimTakenOver(t *testing.T) {
	tables, _, clk := newTables(t, 2)
	fp := state.Fingerprint("POST", "/p", []byte("b"))
	if c, _ := tables[0].Claim(ctx(t), "k", fp, clk.Now().Add(time.Second)); c.Outcome != state.Claimed {
		t.Fatal("not claimed")
	}
	clk.Advance(2 * time.Second)
	if c, _ := tables[1].Claim(ctx(t), "k", fp, clk.Now().Add(25*time.Second)); c.Outcome != state.Claimed {
		t.Fatalf("stale claim kept: %+v", c)
	}
	// The first attempt, back late, cannot overwrite the new claim's outcome.
	if err := tables[0].Complete(ctx(t), "k", fp, state.Answer{Status: 200, Body: []byte("late")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := tables[1].Complete(ctx(t), "k", fp, state.Answer{Status: 200, Body: []byte("second")}, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, _ := tables[0].Claim(ctx(t), "k", fp, clk.Now().Add(time.Second))
	if c.Outcome != state.Completed {
		t.Fatalf("%+v", c)
	}
}

func TestConcurrentClaimsOneWinner(t *testing.T) {
	tables, _, clk := newTables(t, 8)
	fp := state.Fingerprint("POST", "/p", []byte("b"))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[state.ClaimOutcome]int{}
	)
	for _, tb := range tables {
		wg.Go(func() {
			c, err := tb.Claim(ctx(t), "race", fp, clk.Now().Add(25*time.Second))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			counts[c.Outcome]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[state.Claimed] != 1 || counts[state.InProgress] != 7 {
		t.Fatalf("outcomes %v", counts)
	}
}

// An answer over DynamoDB's 400 KB item is kept gzip-compressed, byte for
// byte; one that does not fit even so keeps its status and code.
func TestLargeAnswers(t *testing.T) {
	tables, _, clk := newTables(t, 1)
	tb := tables[0]
	compressible := bytes.Repeat([]byte(`{"index":1,"reason":"not an address"},`), 20_000) // 760 KB
	random := make([]byte, 600_000)
	rand.Read(random)
	for name, c := range map[string]struct {
		body     []byte
		wantBody bool
	}{"compressible": {compressible, true}, "incompressible": {random, false}} {
		t.Run(name, func(t *testing.T) {
			fp := state.Fingerprint("POST", "/p", []byte(name))
			if c, _ := tb.Claim(ctx(t), name, fp, clk.Now().Add(time.Minute)); c.Outcome != state.Claimed {
				t.Fatal("not claimed")
			}
			if err := tb.Complete(ctx(t), name, fp, state.Answer{Status: 400, Body: c.body, Code: "INVALID_REQUEST"}, time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err := tb.Claim(ctx(t), name, fp, clk.Now().Add(time.Minute))
			if err != nil || got.Outcome != state.Completed || got.Answer.Status != 400 {
				t.Fatalf("%+v %v", got, err)
			}
			if c.wantBody && !bytes.Equal(got.Answer.Body, c.body) {
				t.Fatalf("body of %d bytes back as %d", len(c.body), len(got.Answer.Body))
			}
			if !c.wantBody && (got.Answer.Body != nil || got.Answer.Code != "INVALID_REQUEST") {
				t.Fatalf("kept %d bytes, code %q", len(got.Answer.Body), got.Answer.Code)
			}
		})
	}
}

func TestTableFailuresAreTyped(t *testing.T) {
	tables, srv, clk := newTables(t, 1)
	tb := tables[0]
	fp := state.Fingerprint("POST", "/p", nil)
	srv.Fail("PutItem", dynamotest.Fault{Status: 500, Code: "InternalServerError", Message: "boom"},
		dynamotest.Fault{Status: 500, Code: "InternalServerError", Message: "boom"},
		dynamotest.Fault{Status: 500, Code: "InternalServerError", Message: "boom"},
		dynamotest.Fault{Status: 500, Code: "InternalServerError", Message: "boom"})
	_, err := tb.Claim(ctx(t), "k", fp, clk.Now().Add(time.Minute))
	var se *state.Error
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("a 5xx: %v", err)
	}
	// AWS's text (ARNs, account ids) stays out of the error, in the log's detail.
	if !strings.Contains(err.Error(), "InternalServerError") || strings.Contains(err.Error(), "boom") || !strings.Contains(state.Detail(err), "boom") {
		t.Fatalf("error %q, detail %q", err, state.Detail(err))
	}
	missing := &state.Table{Client: srv.Client(), Name: "no-such-table", Now: clk.Now}
	_, err = missing.Claim(ctx(t), "k", fp, clk.Now().Add(time.Minute))
	if !errors.As(err, &se) || !se.Permanent {
		t.Fatalf("a missing table: %v", err)
	}
}

// Marks order pushes of one item: the latest accepted wins, a retry of the
// same push is taken again, an older one is superseded.
func TestMarksOrderPushes(t *testing.T) {
	tables, _, _ := newTables(t, 2)
	a, b := tables[0], tables[1]
	m := func(op string, at int64) state.Mark { return state.Mark{CredID: "7", Item: "0xabc", Op: op, At: at} }
	take := func(tb *state.Table, mk state.Mark) bool {
		t.Helper()
		got, err := tb.TakeMarks(ctx(t), []state.Mark{mk})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	if !take(a, m("APPEND", 100)) {
		t.Fatal("first mark refused")
	}
	if !take(b, m("APPEND", 100)) {
		t.Fatal("the same push again (a retry) refused")
	}
	if !take(b, m("REMOVE", 200)) {
		t.Fatal("a later push refused")
	}
	if take(a, m("APPEND", 100)) {
		t.Fatal("the older APPEND, redelivered after the later REMOVE, was taken")
	}
	if take(a, m("APPEND", 150)) {
		t.Fatal("an older APPEND taken")
	}
	// A REPLACE at 300 supersedes every older push of the credential.
	if ok, err := a.TakeReplace(ctx(t), "7", 300); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if take(b, state.Mark{CredID: "7", Item: "0xdef", Op: "APPEND", At: 250}) {
		t.Fatal("an APPEND older than the REPLACE taken")
	}
	if !take(b, state.Mark{CredID: "7", Item: "0xdef", Op: "APPEND", At: 350}) {
		t.Fatal("an APPEND after the REPLACE refused")
	}
	if ok, _ := b.TakeReplace(ctx(t), "7", 250); ok {
		t.Fatal("an older REPLACE taken")
	}
}

// Two pushers take the marks of the same items at once: for each item
// exactly one push wins, and it is the latest.
func TestMarksRacingPushers(t *testing.T) {
	tables, _, _ := newTables(t, 2)
	const n = 300
	batch := func(op string, at int64) []state.Mark {
		ms := make([]state.Mark, n)
		for i := range ms {
			ms[i] = state.Mark{CredID: "9", Item: fmt.Sprintf("item%d", i), Op: op, At: at}
		}
		return ms
	}
	older, newer := batch("APPEND", 1000), batch("REMOVE", 2000)
	var tookNew []bool
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := tables[0].TakeMarks(ctx(t), older); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		var err error
		if tookNew, err = tables[1].TakeMarks(ctx(t), newer); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for i := range n {
		if !tookNew[i] {
			t.Fatalf("item %d: the later REMOVE lost its mark", i)
		}
	}
	// The older APPEND may have gone first (then the REMOVE follows it);
	// retried now, after the REMOVE, it is superseded for every item.
	again, err := tables[0].TakeMarks(ctx(t), older)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if again[i] {
			t.Fatalf("item %d: the older APPEND retaken after the REMOVE", i)
		}
	}
}

// Expired marks are ignored although the table still holds them.
func TestExpiredMarkIgnored(t *testing.T) {
	tables, _, clk := newTables(t, 1)
	tb := tables[0]
	if got, _ := tb.TakeMarks(ctx(t), []state.Mark{{CredID: "1", Item: "a", Op: "REMOVE", At: 5000}}); !got[0] {
		t.Fatal("refused")
	}
	clk.Advance(state.DefaultMarkTTL + time.Minute)
	if got, _ := tb.TakeMarks(ctx(t), []state.Mark{{CredID: "1", Item: "a", Op: "APPEND", At: 10}}); !got[0] {
		t.Fatal("an expired mark still orders pushes")
	}
}
