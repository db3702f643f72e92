package budget

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Many instances want one slot at the same moment (a campaign's launch):
// the writes they lose are not the table's failure. Every one gets a slot,
// none falls back to its own limit, and no second holds more than the
// account's rate.
func TestContentionIsNoFailure(t *testing.T) {
	f := newFleet(t, t0)
	const n = 30
	m, sink := newMetrics()
	var (
		mu    sync.Mutex
		slots []time.Time
	)
	insts := make([]*Budget, n)
	for i := range insts {
		insts[i] = f.instance(Foreground, Options{Metrics: m})
		insts[i].admitted = func(s time.Time) { mu.Lock(); slots = append(slots, s); mu.Unlock() }
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for _, b := range insts {
		wg.Go(func() {
			<-start
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs <- b.Admit(c, t0.Add(time.Minute))
		})
	}
	stop := f.clk.auto(func() bool { return true })
	close(start)
	wg.Wait()
	stop()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller got no slot: %v", err)
		}
	}
	if len(slots) != n {
		t.Fatalf("%d slots for %d callers", len(slots), n)
	}
	for _, name := range []string{"BudgetFallbacks", "SharedStateErrors"} {
		if sink.has(name) {
			t.Errorf("contention counted as %s", name)
		}
	}
	if most := busiestSecond(slots); most > 10 {
		t.Errorf("a sliding second holds %d slots", most)
	}
}

// A background caller that gives up while the month's count is read is
// refused, and the table is not taken for failed: the next caller still
// takes a slot of the account's budget.
func TestGivingUpIsNoTableFailure(t *testing.T) {
	f := newFleet(t, t0)
	m, sink := newMetrics()
	b := f.instance(Background, Options{Metrics: m})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Admit(gone, t0.Add(time.Minute)); err == nil {
		t.Fatal("a caller that gave up was let through")
	}
	if !b.tableUsable() || sink.has("SharedStateErrors") || sink.has("BudgetFallbacks") {
		t.Fatal("a caller giving up was taken for the table's failure")
	}
}
