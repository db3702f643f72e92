package readcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const (
	tableName = "galxe-lambda-state"
	cred      = "380512468497932288"
	eligVars  = `{"id":"` + cred + `","address":"0x00000000000000000000000000000000000000a1"}`
)

// world is a table shared by instances, and a Galxe that counts its calls.
type world struct {
	db    *dynamotest.Server
	clk   *dynamotest.Clock
	calls atomic.Int64
	data  atomic.Value // json.RawMessage the next fetch answers
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(tableName)
	w := &world{db: db, clk: dynamotest.NewClock(time.Now())}
	w.data.Store(json.RawMessage(`{"credential":{"id":"` + cred + `","eligible":1,"syncStatus":"SYNCED"}}`))
	return w
}

// table is one instance's view of the table (its own SDK client).
func (w *world) table() *state.Table {
	return &state.Table{Client: w.db.Client(), Name: tableName, Now: w.clk.Now}
}

func (w *world) cache(o readcache.Options) *readcache.Cache { return readcache.New(w.table(), o) }

func (w *world) fetch(context.Context) (json.RawMessage, error) {
	w.calls.Add(1)
	return w.data.Load().(json.RawMessage), nil
}

func get(t *testing.T, c *readcache.Cache, op, vars string, fetch readcache.Fetch) readcache.Answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := c.Get(ctx, op, json.RawMessage(vars), fetch)
	if err != nil {
		t.Fatalf("%s %s: %v", op, vars, err)
	}
	return a
}

// A miss is asked of Galxe and stored; another instance answers the same
// question, however written, from the table, saying how old it is.
func TestMissThenHitOnAnotherInstance(t *testing.T) {
	w := newWorld(t)
	a, b := w.cache(readcache.Options{}), w.cache(readcache.Options{})
	first := get(t, a, "credentialEligibility", eligVars, w.fetch)
	if first.Hit || first.Status != "galxe-lambda; fwd=miss; stored" || first.Headers()["Age"] != "" {
		t.Fatalf("first: %+v", first)
	}
	w.clk.Advance(12500 * time.Millisecond)
	reordered := `{"address":"0x00000000000000000000000000000000000000A1","id":"` + cred + `"}`
	second := get(t, b, "credentialEligibility", reordered, w.fetch)
	h := second.Headers()
	if !second.Hit || h["Cache-Status"] != "galxe-lambda; hit; ttl=47" || h["Age"] != "12" || string(second.Data) != string(first.Data) {
		t.Fatalf("second: %+v %v", second, h)
	}
	if n := w.calls.Load(); n != 1 {
		t.Fatalf("Galxe asked %d times", n)
	}
}

// Lists are kept 30 s, objects 60 s; READ_CACHE_SECONDS replaces both; an
// expired entry is ignored though the table still holds it.
func TestLifetimesAndExpiry(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{})
	get(t, c, "spaceQuests", `{"input":{"spaceId":42}}`, w.fetch)
	w.clk.Advance(29 * time.Second)
	if a := get(t, c, "spaceQuests", `{"input":{"spaceId":42}}`, w.fetch); !a.Hit {
		t.Fatalf("at 29 s: %+v", a)
	}
	w.clk.Advance(time.Second)
	if a := get(t, c, "spaceQuests", `{"input":{"spaceId":42}}`, w.fetch); a.Hit || !strings.Contains(a.Status, "stored") {
		t.Fatalf("at 30 s (expired, present): %+v", a)
	}
	if n := w.calls.Load(); n != 2 {
		t.Fatalf("Galxe asked %d times, want 2", n)
	}

	short := w.cache(readcache.Options{Override: true, Lifetime: 5 * time.Second})
	get(t, short, "quest", `{"id":"GC1"}`, w.fetch)
	w.clk.Advance(5 * time.Second)
	if a := get(t, short, "quest", `{"id":"GC1"}`, w.fetch); a.Hit {
		t.Fatalf("READ_CACHE_SECONDS=5 after 5 s: %+v", a)
	}
	if readcache.New(w.table(), readcache.Options{Override: true, Lifetime: 0}) != nil {
		t.Fatal("READ_CACHE_SECONDS=0 did not turn the cache off")
	}
	if readcache.New(nil, readcache.Options{}) != nil {
		t.Fatal("a cache without a table")
	}
}

// Off, or for an operation that is not cached, every read goes to Galxe
// and nothing is said.
func TestOffAndNotCacheable(t *testing.T) {
	w := newWorld(t)
	var off *readcache.Cache
	c := w.cache(readcache.Options{})
	for _, r := range []struct {
		c        *readcache.Cache
		op, vars string
	}{
		{off, "quest", `{"id":"GC1"}`},
		{c, "health", ``},
		{c, "credential", `{"id":"not digits"}`}, // no credential a push could name: not invalidated, so not kept
		{c, "credential", `{}`},
		{c, "credential", `{"id":"0380512468497932288"}`}, // a leading zero: 0123 and 123 would be two keys for one credential
		{c, "quest", `{"id":"1","id":"2"}`},
	} {
		for range 2 {
			if a := get(t, r.c, r.op, r.vars, w.fetch); a.Status != "" || a.Headers() != nil || a.Hit {
				t.Fatalf("%s %s: %+v", r.op, r.vars, a)
			}
		}
	}
	if n := w.calls.Load(); n != 12 {
		t.Fatalf("Galxe asked %d times, want 12", n)
	}
	if n := w.db.Calls("PutItem") + w.db.Calls("GetItem") + w.db.Calls("BatchGetItem"); n != 0 {
		t.Fatalf("%d table calls", n)
	}
}

// A push to the credential (its generation bumped) makes its cached reads
// stale at once, on every instance; other credentials' reads stay.
func TestPushInvalidatesAtOnce(t *testing.T) {
	w := newWorld(t)
	a, b := w.cache(readcache.Options{}), w.cache(readcache.Options{})
	other := `{"id":"1"}`
	get(t, a, "credentialEligibility", eligVars, w.fetch)
	get(t, a, "credential", other, w.fetch)
	if err := w.table().BumpGeneration(context.Background(), cred); err != nil {
		t.Fatal(err)
	}
	w.data.Store(json.RawMessage(`{"credential":{"eligible":0}}`))
	got := get(t, b, "credentialEligibility", eligVars, w.fetch)
	if got.Hit || string(got.Data) != `{"credential":{"eligible":0}}` || got.Status != "galxe-lambda; fwd=miss; stored" {
		t.Fatalf("after the push: %+v", got)
	}
	if again := get(t, a, "credentialEligibility", eligVars, w.fetch); !again.Hit || string(again.Data) != `{"credential":{"eligible":0}}` {
		t.Fatalf("stored anew under the new generation: %+v", again)
	}
	if o := get(t, b, "credential", other, w.fetch); !o.Hit {
		t.Fatalf("another credential's read: %+v", o)
	}
}

// Errors are never kept; answers over 256 KiB are not stored.
func TestErrorsAndLargeAnswersNotKept(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{})
	refused := &galxe.Error{Code: "QUEST_NOT_FOUND", Category: galxe.CategoryNotFound}
	for range 2 {
		a, err := c.Get(context.Background(), "quest", json.RawMessage(`{"id":"nope"}`), func(context.Context) (json.RawMessage, error) {
			w.calls.Add(1)
			return nil, refused
		})
		if !errors.Is(err, refused) || a.Hit || a.Status != "galxe-lambda; fwd=miss" {
			t.Fatalf("error: %+v %v", a, err)
		}
	}
	big := json.RawMessage(`"` + strings.Repeat("x", readcache.MaxBytes) + `"`)
	w.data.Store(big)
	for range 2 {
		if a := get(t, c, "credentialHolders", `{"id":"`+cred+`"}`, w.fetch); a.Hit || a.Status != "galxe-lambda; fwd=miss; detail=too-large" || len(a.Data) != len(big) {
			t.Fatalf("large: %q", a.Status)
		}
	}
	if n := w.calls.Load(); n != 4 {
		t.Fatalf("Galxe asked %d times, want 4", n)
	}
	if n := w.db.Calls("PutItem"); n != 0 {
		t.Fatalf("%d entries written", n)
	}
}

// Identical reads at once in one process share one call to Galxe; the
// others say so (collapsed).
func TestConcurrentMissesShareOneCall(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{})
	const n = 8
	var joined sync.WaitGroup
	joined.Add(n)
	readcache.OnJoin(c, joined.Done)
	release := make(chan struct{})
	go func() { joined.Wait(); close(release) }()
	fetch := func(ctx context.Context) (json.RawMessage, error) {
		<-release // every read has joined before Galxe answers
		return w.fetch(ctx)
	}
	answers := make([]readcache.Answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = get(t, c, "credentialEligibility", eligVars, fetch) })
	}
	wg.Wait()
	if got := w.calls.Load(); got != 1 {
		t.Fatalf("Galxe asked %d times for %d identical reads", got, n)
	}
	collapsed := 0
	for _, a := range answers {
		if strings.HasSuffix(a.Status, "; collapsed") {
			collapsed++
		}
		if a.Hit || !strings.Contains(a.Status, "fwd=miss; stored") {
			t.Errorf("answer %q", a.Status)
		}
	}
	if collapsed != n-1 {
		t.Errorf("%d collapsed, want %d", collapsed, n-1)
	}
}

// A read that shares another's call still stops at its own deadline.
func TestSharedReadStopsAtItsDeadline(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{})
	release := make(chan struct{})
	started := make(chan struct{})
	leader := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "quest", json.RawMessage(`{"id":"GC1"}`), func(ctx context.Context) (json.RawMessage, error) {
			close(started)
			<-release
			return w.fetch(ctx)
		})
		leader <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, "quest", json.RawMessage(`{"id":"GC1"}`), w.fetch)
	var ge *galxe.Error
	if !errors.As(err, &ge) || ge.Code != galxe.CodeUpstreamTimeout {
		t.Fatalf("got %v, want UPSTREAM_TIMEOUT", err)
	}
	close(release)
	if err := <-leader; err != nil {
		t.Fatal(err)
	}
}

// The table unreachable: a miss, the answer still given, the failure
// reported for the metric.
func TestTableDownIsAMiss(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{TableTimeout: 2 * time.Second})
	w.db.SetDown(true)
	a := get(t, c, "credentialEligibility", eligVars, w.fetch)
	var se *state.Error
	if a.Hit || a.Status != "galxe-lambda; fwd=miss; detail=state-unavailable" || !errors.As(a.TableErr, &se) || len(a.Data) == 0 {
		t.Fatalf("table down: %+v", a)
	}
	// Hanging, it costs the table timeout, not the request.
	w.db.SetDown(false)
	w.db.Fail("GetItem", dynamotest.Hang)
	c = w.cache(readcache.Options{TableTimeout: 50 * time.Millisecond})
	if a := get(t, c, "quest", `{"id":"GC1"}`, w.fetch); a.Hit || a.TableErr == nil || len(a.Data) == 0 {
		t.Fatalf("table hanging: %+v", a)
	}
}

// A fetch that panics is that read's error, not the end of the process
// (the shared call runs on a goroutine of its own).
func TestPanicIsAnError(t *testing.T) {
	w := newWorld(t)
	c := w.cache(readcache.Options{})
	_, err := c.Get(context.Background(), "quest", json.RawMessage(`{"id":"GC1"}`), func(context.Context) (json.RawMessage, error) {
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("got %v", err)
	}
}
