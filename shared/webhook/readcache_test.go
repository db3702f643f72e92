package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

// The fleet-wide read cache (DESIGN.md §11) through the operations route:
// instances of one fleet share answers through the shared-state table.

// cachedInstance is one webhook process of the fleet with the read cache
// over the fleet's table (opts as READ_CACHE_SECONDS would set them).
func (f *fleet) cachedInstance(opts readcache.Options, caller galxe.Caller) *instance {
	f.t.Helper()
	e := f.base
	if caller == nil {
		gc, err := galxe.New(galxe.Config{Endpoint: e.cfg.Endpoint, Token: e.cfg.TokenSource(nil), MaxQPS: 1000, BaseBackoff: 5 * time.Millisecond})
		if err != nil {
			f.t.Fatal(err)
		}
		caller = gc
	}
	table := &state.Table{Client: f.db.Client(), Name: stateTableName, Now: f.clk.Now}
	logs, metrics := &bytes.Buffer{}, &bytes.Buffer{}
	h := webhook.New(webhook.Options{Config: e.cfg, WebhookSecret: e.cfg.WebhookSecretSource(nil), Galxe: caller, State: table,
		ReadCache: readcache.New(table, opts), Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics: obs.NewMetrics(metrics, "galxe-lambda-webhook")})
	f.t.Cleanup(func() { noSecrets(f.t, logs.String()+metrics.String()) })
	return &instance{env: &env{t: f.t, srv: e.srv, h: h, logs: logs, cfg: e.cfg}, metrics: metrics}
}

func operation(name, vars string) request {
	return request{method: "POST", path: "/operations/" + name, body: `{"variables":` + vars + `}`}
}

func (a answer) cacheStatus() string { return a.Headers[readcache.HeaderCacheStatus] }

const notHolder = "0x00000000000000000000000000000000000000b7"

func eligibility(address string) request {
	return operation("credentialEligibility", `{"id":"`+credID+`","address":"`+address+`"}`)
}

func eligible(t *testing.T, a answer) float64 {
	t.Helper()
	data, _ := a.Body["data"].(map[string]any)
	c, _ := data["credential"].(map[string]any)
	n, ok := c["eligible"].(float64)
	if a.Status != 200 || !ok {
		t.Fatalf("not an eligibility: %d %s", a.Status, a.Raw)
	}
	return n
}

// The case: the same question asked of two instances is asked of
// Galxe once; the second answers from the table, saying how old the
// answer is, with the same data.
func TestReadCacheSharedByInstances(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		a, b := f.cachedInstance(readcache.Options{}, nil), f.cachedInstance(readcache.Options{}, nil)
		first := a.call(ctxWithin(t, 20*time.Second), eligibility(galxetest.DemoHolder), v)
		if eligible(t, first) != 1 || first.cacheStatus() != "galxe-lambda; fwd=miss; stored" || first.Headers["Age"] != "" {
			t.Fatalf("first: %v %s", first.Headers, first.Raw)
		}
		f.clk.Advance(7 * time.Second)
		// The same question, written otherwise: keys reordered, the address in mixed case.
		upper := "0x" + strings.ToUpper(strings.TrimPrefix(galxetest.DemoHolder, "0x"))
		second := b.call(ctxWithin(t, 20*time.Second), operation("credentialEligibility", `{"address":"`+upper+`","id":"`+credID+`"}`), v)
		if second.Status != 200 || second.cacheStatus() != "galxe-lambda; hit; ttl=53" || second.Headers["Age"] != "7" {
			t.Fatalf("second: %d %v %s", second.Status, second.Headers, second.Raw)
		}
		if second.Raw != first.Raw {
			t.Fatalf("the hit's body %s differs from %s", second.Raw, first.Raw)
		}
		if n := f.base.srv.Calls("credentialEligibility"); n != 1 {
			t.Fatalf("Galxe asked %d times", n)
		}
		if !strings.Contains(a.metrics.String(), `"ReadCacheMisses":1`) || !strings.Contains(b.metrics.String(), `"ReadCacheHits":1`) {
			t.Errorf("metrics:\n%s\n%s", a.metrics.String(), b.metrics.String())
		}
		if !strings.Contains(b.logs.String(), `"cache":"galxe-lambda; hit; ttl=53"`) {
			t.Errorf("the log line does not say what the cache did: %s", b.logs.String())
		}
	})
}

// A push to the credential through the items route, on any instance,
// makes its cached reads stale at once.
func TestPushInvalidatesCachedReads(t *testing.T) {
	f := newFleet(t, nil)
	a, b := f.cachedInstance(readcache.Options{}, nil), f.cachedInstance(readcache.Options{}, nil)
	if got := a.call(ctxWithin(t, 20*time.Second), eligibility(notHolder), apigw.V2); eligible(t, got) != 0 {
		t.Fatalf("before: %s", got.Raw)
	}
	if got := b.call(ctxWithin(t, 20*time.Second), eligibility(notHolder), apigw.V2); got.cacheStatus() == "" || !strings.Contains(got.cacheStatus(), "hit") {
		t.Fatalf("not cached: %v", got.Headers)
	}
	push := b.call(ctxWithin(t, 20*time.Second), itemsRequest("APPEND", notHolder), apigw.V2)
	if push.Status != 200 {
		t.Fatalf("push: %d %s", push.Status, push.Raw)
	}
	after := a.call(ctxWithin(t, 20*time.Second), eligibility(notHolder), apigw.V2)
	if eligible(t, after) != 1 || after.cacheStatus() != "galxe-lambda; fwd=miss; stored" {
		t.Fatalf("after the push: %v %s", after.Headers, after.Raw)
	}
	if n := f.base.srv.Calls("credentialEligibility"); n != 2 {
		t.Fatalf("Galxe asked %d times, want 2", n)
	}
}

// Errors are never kept; nor is health, nor an answer over 256 KiB; with
// READ_CACHE_SECONDS=0 nothing is kept and nothing said.
func TestReadCacheKeepsOnlyWhatItShould(t *testing.T) {
	f := newFleet(t, nil)
	in := f.cachedInstance(readcache.Options{}, nil)
	for range 2 {
		got := in.call(ctxWithin(t, 20*time.Second), operation("credential", `{"id":"999"}`), apigw.V2)
		if got.Status != 404 || got.cacheStatus() != "" {
			t.Fatalf("not found: %d %v %s", got.Status, got.Headers, got.Raw)
		}
		if got := in.call(ctxWithin(t, 20*time.Second), request{method: "POST", path: "/operations/health"}, apigw.V2); got.Status != 200 || got.cacheStatus() != "" {
			t.Fatalf("health: %d %v", got.Status, got.Headers)
		}
	}
	if n, h := f.base.srv.Calls("credential"), f.base.srv.Calls("health"); n != 2 || h != 2 {
		t.Fatalf("Galxe asked %d and %d times, want 2 and 2", n, h)
	}

	big := &fixedGalxe{data: json.RawMessage(`{"quest":{"name":"` + strings.Repeat("x", readcache.MaxBytes) + `"}}`)}
	large := f.cachedInstance(readcache.Options{}, big)
	for range 2 {
		got := large.call(ctxWithin(t, 20*time.Second), operation("quest", `{"id":"GC1"}`), apigw.V2)
		if got.Status != 200 || got.cacheStatus() != "galxe-lambda; fwd=miss; detail=too-large" {
			t.Fatalf("large: %d %v", got.Status, got.Headers)
		}
	}
	if n := big.calls.Load(); n != 2 {
		t.Fatalf("Galxe asked %d times for a large answer, want 2", n)
	}

	small := &fixedGalxe{data: json.RawMessage(`{"quest":{"id":"GC1"}}`)}
	off := f.cachedInstance(readcache.Options{Override: true, Lifetime: 0}, small)
	for range 2 {
		if got := off.call(ctxWithin(t, 20*time.Second), operation("quest", `{"id":"GC1"}`), apigw.V2); got.Status != 200 || len(got.Headers[readcache.HeaderCacheStatus]+got.Headers["Age"]) != 0 {
			t.Fatalf("READ_CACHE_SECONDS=0: %d %v", got.Status, got.Headers)
		}
	}
	if n := small.calls.Load(); n != 2 {
		t.Fatalf("READ_CACHE_SECONDS=0: Galxe asked %d times, want 2", n)
	}
}

// An entry past its lifetime is a miss though the table still holds it;
// READ_CACHE_SECONDS replaces the lifetime.
func TestExpiredEntryIgnored(t *testing.T) {
	f := newFleet(t, nil)
	a := f.cachedInstance(readcache.Options{}, nil)
	b := f.cachedInstance(readcache.Options{Override: true, Lifetime: 5 * time.Second}, nil)
	list := operation("credentialHolders", `{"id":"`+credID+`","first":2}`)
	a.call(ctxWithin(t, 20*time.Second), list, apigw.V2)
	f.clk.Advance(30 * time.Second) // a list's lifetime
	if got := a.call(ctxWithin(t, 20*time.Second), list, apigw.V2); got.cacheStatus() != "galxe-lambda; fwd=miss; stored" {
		t.Fatalf("expired: %v", got.Headers)
	}
	b.call(ctxWithin(t, 20*time.Second), operation("quest", `{"id":"`+galxetest.DemoQuestID+`"}`), apigw.V2)
	f.clk.Advance(5 * time.Second)
	if got := b.call(ctxWithin(t, 20*time.Second), operation("quest", `{"id":"`+galxetest.DemoQuestID+`"}`), apigw.V2); strings.Contains(got.cacheStatus(), "hit") {
		t.Fatalf("READ_CACHE_SECONDS=5, 5 s later: %v", got.Headers)
	}
	if n := f.base.srv.Calls("credentialHolders") + f.base.srv.Calls("quest"); n != 4 {
		t.Fatalf("Galxe asked %d times, want 4", n)
	}
}

// Identical reads at once on one instance share one Galxe call.
func TestConcurrentIdenticalReadsOneCall(t *testing.T) {
	f := newFleet(t, nil)
	g := &fixedGalxe{data: json.RawMessage(`{"quest":{"id":"GC1"}}`), hold: make(chan struct{})}
	in := f.cachedInstance(readcache.Options{}, g)
	const n = 6
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i] = in.call(ctxWithin(t, 20*time.Second), operation("quest", `{"id":"GC1"}`), apigw.V2)
		})
	}
	waitForReaders(t, n) // every read waits on the one call: none comes late
	close(g.hold)
	wg.Wait()
	if got := g.calls.Load(); got != 1 {
		t.Fatalf("Galxe asked %d times for %d identical reads", got, n)
	}
	for _, a := range answers {
		if a.Status != 200 || !strings.HasPrefix(a.cacheStatus(), "galxe-lambda; fwd=miss; stored") {
			t.Fatalf("%d %v %s", a.Status, a.Headers, a.Raw)
		}
	}
}

// waitForReaders waits until n reads are blocked in the cache, waiting for
// a shared call: only then does the call answer. (Goroutine stacks show
// it; a sleep would not prove it on a busy machine.)
func waitForReaders(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		waiting := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.HasPrefix(g, "goroutine ") && strings.Contains(g, " [select") && strings.Contains(g, "readcache.(*Cache).Get(") {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
	}
	t.Fatalf("fewer than %d reads reached the cache", n)
}

// The table unreachable: a miss, the answer still 200, the failure counted.
func TestReadCacheTableDown(t *testing.T) {
	f := newFleet(t, nil)
	in := f.cachedInstance(readcache.Options{TableTimeout: 2 * time.Second}, nil)
	f.db.SetDown(true)
	got := in.call(ctxWithin(t, 20*time.Second), eligibility(galxetest.DemoHolder), apigw.V2)
	f.db.SetDown(false)
	if eligible(t, got) != 1 || got.cacheStatus() != "galxe-lambda; fwd=miss; detail=state-unavailable" {
		t.Fatalf("table down: %v %s", got.Headers, got.Raw)
	}
	if m := in.metrics.String(); !strings.Contains(m, `"SharedStateErrors":1`) || !strings.Contains(m, `"ReadCacheMisses":1`) {
		t.Errorf("metrics: %s", m)
	}
	if !strings.Contains(in.logs.String(), "read cache") {
		t.Errorf("no log line for the table's failure: %s", in.logs.String())
	}
}

// fixedGalxe answers every query with data, counting calls; with hold,
// each call waits for it to close.
type fixedGalxe struct {
	data  json.RawMessage
	hold  chan struct{}
	calls atomic.Int32
}

func (g *fixedGalxe) Do(ctx context.Context, _ string, _ any) (*galxe.Result, error) {
	g.calls.Add(1)
	if g.hold != nil {
		select {
		case <-g.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &galxe.Result{Data: g.data, Attempts: 1}, nil
}
