// Package budget is the fleet's account budget and quota meter (DESIGN.md
// §11 "One account budget", "A quota meter"), the policy over the
// shared-state table's budget#account and quota#YYYY-MM items. A Budget is
// the galxe client's Config.Budget: every request to Galxe first takes a
// slot (Admit), and every answer is reported (Observe); Flush adds the
// requests counted to the month's quota item before an invocation returns.
//
// One Budget per process, of one Class: the webhook's is Foreground, the
// pusher's and the scheduled function's Background. Without a table it
// admits every request (the client's own per-process limiter still holds)
// and counts the process's own requests alone.
package budget

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// Class is who calls: it decides which slots a caller may take.
type Class int

const (
	// Foreground callers (the webhook's synchronous routes) take the
	// earliest free slots, ahead if need be, and may spend the quota's
	// reserve.
	Foreground Class = iota
	// Background callers (the pusher, the scheduled function) take only
	// slots due now, at most AccountQPS − ForegroundQPS a second, and stop
	// at MonthlyQuota − QuotaReserve.
	Background
)

// Defaults, as DESIGN.md §11 and the configuration have them.
const (
	DefaultAccountQPS    = 10.0
	DefaultForegroundQPS = 2.0
	DefaultMonthlyQuota  = int64(100000)
)

// Options configure a Budget. Zero values take the defaults; a
// configuration that sets ForegroundQPS or QuotaReserve to 0 on purpose
// passes -1 (none).
type Options struct {
	Table         *state.Table // nil: no shared state (per-process limits alone)
	Class         Class
	AccountQPS    float64 // the account's requests a second, every function together; 0: DefaultAccountQPS
	ForegroundQPS float64 // the part background callers leave to foreground ones; 0: DefaultForegroundQPS, < 0: none
	MonthlyQuota  int64   // the account's requests a UTC month; 0: DefaultMonthlyQuota
	QuotaReserve  int64   // the part background callers leave to foreground ones; 0: 1% of MonthlyQuota, < 0: none
	Metrics       *obs.Metrics
	Log           *slog.Logger
	Now           func() time.Time // nil: time.Now (give the Table the same clock)
	// TableTimeout bounds each call to the table; past it the call counts
	// as the table's failure. 0: DefaultTableTimeout.
	TableTimeout time.Duration
	// Sleep waits until a time or the context's end; nil: a timer. Tests
	// give a fake clock's.
	Sleep func(ctx context.Context, until time.Time) error
}

// Budget is one process's view of the account's budget. It is safe for
// concurrent use.
type Budget struct {
	o              Options
	every, bgEvery time.Duration // slot spacing: the account's, the background share's

	mu        sync.Mutex
	seen      state.Account // the budget item as last seen: the next write's expectation
	queue     []*waiter     // Admit callers waiting for the next write
	taking    bool          // a write is under way (drain runs)
	tableDown time.Time     // until then the table is not tried: its last call failed

	meter meter

	admitted func(slot time.Time) // tests: each slot taken
}

// New makes a process's Budget.
func New(o Options) *Budget {
	if o.AccountQPS <= 0 {
		o.AccountQPS = DefaultAccountQPS
	}
	if o.ForegroundQPS == 0 {
		o.ForegroundQPS = DefaultForegroundQPS
	}
	if o.ForegroundQPS < 0 || o.ForegroundQPS >= o.AccountQPS {
		o.ForegroundQPS = 0 // no reserve rather than no background share (the configuration refuses it anyway)
	}
	if o.MonthlyQuota <= 0 {
		o.MonthlyQuota = DefaultMonthlyQuota
	}
	switch {
	case o.QuotaReserve == 0:
		o.QuotaReserve = o.MonthlyQuota / 100
	case o.QuotaReserve < 0:
		o.QuotaReserve = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TableTimeout <= 0 {
		o.TableTimeout = DefaultTableTimeout
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Budget{
		o:       o,
		every:   perSecond(o.AccountQPS),
		bgEvery: perSecond(o.AccountQPS - o.ForegroundQPS),
		meter:   meter{counts: map[string]int64{}},
	}
}

// perSecond is the spacing of qps slots a second.
func perSecond(qps float64) time.Duration { return time.Duration(float64(time.Second) / qps) }

func sleep(ctx context.Context, until time.Time) error {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// emit writes metrics when there is a sink.
func (b *Budget) emit(name, unit string, v float64) {
	if b.o.Metrics != nil {
		b.o.Metrics.Emit(obs.Metric{Name: name, Unit: unit, Values: []float64{v}})
	}
}

// tableFailed records a failed table call: a metric, a log line, and a
// pause of tableRetry before the table is tried again, so an outage costs
// each request nothing more than the fallback. A call cut short because
// its caller gave up or ran out of time (caller ended) is not the table's
// failure, and records nothing.
func (b *Budget) tableFailed(caller context.Context, op string, err error) {
	if caller.Err() != nil {
		return
	}
	b.emit("SharedStateErrors", "Count", 1)
	b.o.Log.Warn("shared-state table failed; the account budget falls back to the process's own limit",
		"op", op, "error", state.Detail(err))
	b.mu.Lock()
	b.tableDown = b.o.Now().Add(tableRetry)
	b.mu.Unlock()
}

// tableRetry is how long a process leaves the table alone after a failure.
const tableRetry = 5 * time.Second

func (b *Budget) tableUsable() bool {
	if b.o.Table == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.o.Now().Before(b.tableDown)
}
