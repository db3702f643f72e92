package budget

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

// busiestSecond is the most slots any half-open sliding second holds.
func busiestSecond(slots []time.Time) int {
	s := append([]time.Time(nil), slots...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	most := 0
	for i, j := 0, 0; i < len(s); i++ {
		for j < len(s) && s[j].Before(s[i].Add(time.Second)) {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

func asError(t *testing.T, err error) *galxe.Error {
	t.Helper()
	var ge *galxe.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want a *galxe.Error, got %T %v", err, err)
	}
	return ge
}

// Instances of both classes, each with its own client, call as fast as
// they can (foreground ones with a pause between calls) for ten fake
// seconds: no sliding second holds more than the account's rate, nor more
// background slots than the background share; foreground callers that do
// not use the whole rate leave the rest to background ones.
func TestNoSlidingSecondOverTheAccountRate(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		fgCallers, bgCallers int // over 2 instances of each class
		minFg, minBg         int // slots at least, of 100 the account allows
	}{
		{"foreground alone", 8, 0, 90, 0},
		{"background alone", 0, 8, 0, 70},
		{"both", 2, 8, 15, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fg, bg := runFleet(t, tc.fgCallers, tc.bgCallers, 10*time.Second)
			t.Logf("%d foreground and %d background slots in 10 s", len(fg), len(bg))
			if n := busiestSecond(append(fg, bg...)); n > 10 {
				t.Fatalf("a second held %d requests, over the account's 10", n)
			}
			if n := busiestSecond(bg); n > 8 {
				t.Fatalf("a second held %d background requests, over their share of 8", n)
			}
			if len(fg) < tc.minFg || len(bg) < tc.minBg {
				t.Fatalf("%d foreground and %d background slots, want at least %d and %d", len(fg), len(bg), tc.minFg, tc.minBg)
			}
		})
	}
}

// runFleet runs callers over two foreground and two background instances
// for a span of fake time and returns the slots each class took.
// Foreground callers pause 400 ms between calls.
func runFleet(t *testing.T, fgCallers, bgCallers int, span time.Duration) (fgSlots, bgSlots []time.Time) {
	f := newFleet(t, t0)
	var fg, bg recorder
	type caller struct {
		b     *Budget
		think time.Duration
	}
	var callers []caller
	fgs := []*Budget{f.instance(Foreground, Options{}), f.instance(Foreground, Options{})}
	bgs := []*Budget{f.instance(Background, Options{}), f.instance(Background, Options{})}
	for i := range 2 {
		fgs[i].admitted, bgs[i].admitted = fg.add, bg.add
	}
	for i := range fgCallers {
		callers = append(callers, caller{fgs[i%2], 400 * time.Millisecond})
	}
	for i := range bgCallers {
		callers = append(callers, caller{bgs[i%2], 0})
	}
	var live atomic.Int64
	live.Store(int64(len(callers)))
	stop := f.clk.auto(func() bool { return int64(f.clk.sleeping()) == live.Load() })
	defer stop()
	end := t0.Add(span)
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			defer live.Add(-1)
			for f.clk.Now().Before(end) {
				err := c.b.Admit(ctx(t), f.clk.Now().Add(2*time.Second))
				pause := c.think
				if err != nil {
					ge := asError(t, err)
					if ge.Code != galxe.CodeRateLimited {
						t.Errorf("admit: %v", err)
						return
					}
					pause = ge.RetryAfter
				}
				f.clk.Sleep(ctx(t), f.clk.Now().Add(max(pause, time.Millisecond)))
			}
		})
	}
	wg.Wait()
	return fg.all(), bg.all()
}

// goroutines runs Admit calls in the background and tells when every one
// is either parked in the fake clock or done.
type goroutines struct {
	started, done atomic.Int64
	wg            sync.WaitGroup
}

func (g *goroutines) admit(t *testing.T, b *Budget, deadline time.Time) {
	g.started.Add(1)
	g.wg.Go(func() {
		defer g.done.Add(1)
		if err := b.Admit(ctx(t), deadline); err != nil {
			t.Errorf("admit: %v", err)
		}
	})
}

// settle waits until no goroutine is doing anything but sleep.
func (g *goroutines) settle(t *testing.T, clk *clock) {
	t.Helper()
	eventually(t, "every caller parked", func() bool {
		return int64(clk.sleeping())+g.done.Load() == g.started.Load()
	})
}

// step advances the clock to `to` 10 ms at a time, letting every caller
// act at each step.
func (g *goroutines) step(t *testing.T, clk *clock, to time.Time) {
	t.Helper()
	for clk.Now().Before(to) {
		clk.advance(10 * time.Millisecond)
		g.settle(t, clk)
	}
}

// When both wait, foreground callers come first: a background caller
// waiting for a due slot finds the ones foreground callers took meanwhile
// and waits behind them.
func TestForegroundFirstWhenBothWait(t *testing.T) {
	f := newFleet(t, t0)
	var fgSlots, bgSlots recorder
	fg, bg := f.instance(Foreground, Options{}), f.instance(Background, Options{})
	fg.admitted, bg.admitted = fgSlots.add, bgSlots.add
	if err := bg.Admit(ctx(t), t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var g goroutines
	for range 5 {
		g.admit(t, fg, t0.Add(5*time.Second))
	}
	g.settle(t, f.clk)
	g.admit(t, bg, t0.Add(5*time.Second))
	g.settle(t, f.clk)
	g.step(t, f.clk, t0.Add(550*time.Millisecond))
	for range 2 {
		g.admit(t, fg, t0.Add(5*time.Second))
	}
	g.step(t, f.clk, t0.Add(time.Second))
	g.wg.Wait()

	if got := bgSlots.all(); len(got) != 2 || !got[0].Equal(t0) || !got[1].Equal(t0.Add(800*time.Millisecond)) {
		t.Fatalf("background slots %v, want t0 and t0+800ms (after the foreground's)", got)
	}
	fgs := fgSlots.all()
	sort.Slice(fgs, func(i, j int) bool { return fgs[i].Before(fgs[j]) })
	for i, s := range fgs {
		if want := t0.Add(time.Duration(i+1) * 100 * time.Millisecond); !s.Equal(want) {
			t.Fatalf("foreground slot %d at %v, want %v", i, s.Sub(t0), want.Sub(t0))
		}
	}
}

// A 429 pauses the account; another instance, knowing nothing of it, sees
// the pause in the refusal of its next write, without a read.
func TestPauseSeenByAnotherInstance(t *testing.T) {
	f := newFleet(t, t0)
	a, b := f.instance(Foreground, Options{}), f.instance(Foreground, Options{})
	var slots recorder
	b.admitted = slots.add
	if err := b.Admit(ctx(t), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	a.Observe(ctx(t), galxe.Attempt{Operation: "credential", Number: 1,
		Err: &galxe.Error{Code: "QUOTA_EXCEEDED", Category: galxe.CategoryRateLimit, HTTPStatus: 429, RetryAfter: 3 * time.Second}})
	reads := f.srv.Calls("GetItem")

	ge := asError(t, b.Admit(ctx(t), t0.Add(time.Second)))
	if ge.Code != galxe.CodeRateLimited || ge.Category != galxe.CategoryRateLimit || ge.RetryAfter != 3*time.Second {
		t.Fatalf("during the pause: %v (retry after %v)", ge, ge.RetryAfter)
	}
	var g goroutines
	g.admit(t, b, t0.Add(5*time.Second))
	g.settle(t, f.clk)
	f.clk.set(t0.Add(3 * time.Second))
	g.wg.Wait()
	if got := slots.all(); len(got) != 2 || !got[1].Equal(t0.Add(3*time.Second)) {
		t.Fatalf("slots %v, want the second at the pause's end", got)
	}
	if f.srv.Calls("GetItem") != reads {
		t.Fatalf("%d reads to learn of the pause", f.srv.Calls("GetItem")-reads)
	}
}

// gatedClient holds the first PutItem until released, so that the callers
// arriving meanwhile queue for the next write.
type gatedClient struct {
	*dynamodb.Client
	once    sync.Once
	first   *dynamodb.PutItemInput // the write held
	entered chan struct{}
	release chan struct{}
}

func (g *gatedClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	g.once.Do(func() { g.first = in; close(g.entered); <-g.release })
	return g.Client.PutItem(ctx, in, opts...)
}

// Callers arriving while a write is under way share the next one: eight
// slots in at most two writes, one after the other.
func TestConcurrentCallersShareOneWrite(t *testing.T) {
	f := newFleet(t, t0)
	gate := &gatedClient{Client: f.srv.Client(), entered: make(chan struct{}), release: make(chan struct{})}
	b := f.instance(Foreground, Options{Table: &state.Table{Client: gate, Name: tableName, Now: f.clk.Now}})
	var slots recorder
	b.admitted = slots.add
	var g goroutines
	for range 8 {
		g.admit(t, b, t0.Add(5*time.Second))
	}
	<-gate.entered
	next, _ := strconv.ParseInt(gate.first.Item["next"].(*types.AttributeValueMemberN).Value, 10, 64)
	held := int((next - t0.UnixMilli()) / 100) // slots in the write held
	eventually(t, "the other callers queued", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == 8-held
	})
	close(gate.release)
	g.settle(t, f.clk)
	want := 2
	if held == 8 { // all eight had arrived before the first write
		want = 1
	}
	if n := f.srv.Calls("PutItem"); n != want {
		t.Fatalf("%d writes for eight slots (%d in the first), want %d", n, held, want)
	}
	got := slots.all()
	sort.Slice(got, func(i, j int) bool { return got[i].Before(got[j]) })
	for i, s := range got {
		if !s.Equal(t0.Add(time.Duration(i) * 100 * time.Millisecond)) {
			t.Fatalf("slot %d at %v", i, s.Sub(t0))
		}
	}
	f.clk.set(t0.Add(time.Second))
	g.wg.Wait()
}

// A slot past the caller's deadline is not taken: Admit answers
// RATE_LIMITED at once and never sleeps past the deadline.
func TestDeadlineRespected(t *testing.T) {
	f := newFleet(t, t0)
	deadlines := make([]time.Time, 10)
	for i := range deadlines {
		deadlines[i] = t0.Add(time.Minute)
	}
	if _, _, err := f.table().TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: deadlines, Every: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := t0.Add(500 * time.Millisecond)
	for _, class := range []Class{Foreground, Background} {
		b := f.instance(class, Options{})
		ge := asError(t, b.Admit(ctx(t), deadline))
		if ge.Code != galxe.CodeRateLimited || ge.Category != galxe.CategoryRateLimit || ge.RetryAfter != time.Second {
			t.Fatalf("class %d: %v (retry after %v), want RATE_LIMITED after a second", class, ge, ge.RetryAfter)
		}
		if f.clk.latest.After(deadline) {
			t.Fatalf("class %d slept until %v, past the deadline", class, f.clk.latest.Sub(t0))
		}
		if ge := asError(t, b.Admit(ctx(t), t0.Add(-time.Millisecond))); ge.Code != galxe.CodeRateLimited {
			t.Fatalf("a deadline already past: %v", ge)
		}
	}
	if f.clk.Now() != t0 {
		t.Fatal("time moved")
	}
}

// The table throttled or down: Admit lets the request go (the process's
// own limiter still holds), counts it, and leaves the table alone a while.
func TestTableFailureFallsBack(t *testing.T) {
	f := newFleet(t, t0)
	m, sink := newMetrics()
	b := f.instance(Foreground, Options{Metrics: m})
	f.srv.Fail("PutItem", dynamotest.Throttled)
	if err := b.Admit(ctx(t), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if !sink.has("BudgetFallbacks") || !sink.has("SharedStateErrors") {
		t.Fatalf("metrics: %s", sink.buf.String())
	}
	if err := b.Admit(ctx(t), t0.Add(time.Second)); err != nil || f.srv.Calls("PutItem") != 1 {
		t.Fatalf("right after a failure: %v, %d writes", err, f.srv.Calls("PutItem"))
	}
	f.clk.advance(tableRetry)
	var slots recorder
	b.admitted = slots.add
	if err := b.Admit(ctx(t), f.clk.Now().Add(time.Second)); err != nil || len(slots.all()) != 1 {
		t.Fatalf("once the table is back: %v, %d slots", err, len(slots.all()))
	}

	down := f.instance(Background, Options{Metrics: m})
	f.srv.SetDown(true)
	defer f.srv.SetDown(false)
	if err := down.Admit(ctx(t), f.clk.Now().Add(time.Second)); err != nil {
		t.Fatalf("table down: %v", err)
	}
}
