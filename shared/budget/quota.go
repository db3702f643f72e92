package budget

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// quotaRefresh is how old the cached month's count may grow before a
// background caller reads it again: other instances count too.
const quotaRefresh = time.Minute

// meter holds the requests counted and not yet added to the table, by
// month, and the month's count as last read or written.
type meter struct {
	mu         sync.Mutex
	refreshing bool             // a read of the month's count is under way
	counts     map[string]int64 // month → requests not yet flushed
	month      string           // the month of used
	used       int64            // the table's count for month (without a table: the flushed counts)
	at         time.Time        // when used was learnt; zero: never
	since      time.Time        // when the oldest request not yet flushed was counted
}

func (m *meter) count(month string, n int64, now time.Time) {
	m.mu.Lock()
	if len(m.counts) == 0 {
		m.since = now
	}
	m.counts[month] += n
	m.mu.Unlock()
}

// Requests counted and not yet flushed wait for FlushDue until there are
// FlushBatch of them or the oldest is flushAge old: a process frozen for
// good leaves the month's count at most FlushBatch−1 requests behind, and
// a webhook answering one request an invocation spares the table a write
// on most of them.
const (
	FlushBatch = 5
	flushAge   = 10 * time.Second
)

// FlushDue is Flush when it is due: enough requests counted, the oldest
// old enough, or the month's count stale; otherwise it writes nothing.
func (b *Budget) FlushDue(ctx context.Context) error {
	now := b.o.Now()
	b.meter.mu.Lock()
	var pending int64
	for _, n := range b.meter.counts {
		pending += n
	}
	due := pending >= FlushBatch || (pending > 0 && now.Sub(b.meter.since) >= flushAge) ||
		(b.meter.month != "" && now.Sub(b.meter.at) > quotaRefresh)
	b.meter.mu.Unlock()
	if !due {
		return nil
	}
	return b.Flush(ctx)
}

// known is the month's count as far as this process knows it: the table's
// last value and what is not flushed yet; fresh is false when the table's
// value is unknown for the month or older than maxAge.
func (m *meter) known(month string, now time.Time, maxAge time.Duration) (used int64, fresh bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	used = m.counts[month]
	if m.month != month || m.at.IsZero() {
		return used, false
	}
	return m.used + used, now.Sub(m.at) <= maxAge
}

// claim makes the caller the one to read the month's count again; false
// when another is reading it (the others go on with what is known).
func (m *meter) claim() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refreshing {
		return false
	}
	m.refreshing = true
	return true
}

func (m *meter) unclaim() {
	m.mu.Lock()
	m.refreshing = false
	m.mu.Unlock()
}

func (m *meter) learn(month string, used int64, now time.Time) {
	m.mu.Lock()
	if m.month != month || used >= m.used { // counts only grow: an older answer arriving late is ignored
		m.month, m.used = month, used
	}
	m.at = now
	m.mu.Unlock()
}

// checkQuota refuses a background caller at the month's limit less the
// reserve. Foreground callers are never refused here: they may spend the
// reserve, and past the limit Galxe's own answer says so.
func (b *Budget) checkQuota(ctx context.Context) error {
	if b.o.Class != Background {
		return nil
	}
	now := b.o.Now()
	month := state.Month(now)
	used, fresh := b.meter.known(month, now, quotaRefresh)
	if !fresh && b.tableUsable() && b.meter.claim() {
		rctx, cancel := context.WithTimeout(ctx, b.o.TableTimeout)
		stored, err := b.o.Table.Used(rctx, month)
		cancel()
		b.meter.unclaim()
		if err != nil {
			if ctx.Err() != nil { // the caller gave up
				return b.noSlot(time.Time{})
			}
			b.tableFailed(ctx, "quota", err) // unknown: let it through; Galxe has the last word
			return nil
		}
		b.meter.learn(month, stored, now)
		used, _ = b.meter.known(month, now, quotaRefresh)
	}
	if used >= b.o.MonthlyQuota-b.o.QuotaReserve {
		return b.quotaSpent(month, used)
	}
	return nil
}

// Flush adds the requests counted since the last Flush to their months'
// quota items (one atomic add each) and emits GalxeQuotaUsed: call it
// before an invocation returns, as a frozen process may never run again.
// With nothing to add, it refreshes the month's count when it is older
// than a minute. Counts it could not add are kept for the next Flush.
func (b *Budget) Flush(ctx context.Context) error {
	now := b.o.Now()
	current := state.Month(now)
	b.meter.mu.Lock()
	counts := b.meter.counts
	b.meter.counts = map[string]int64{}
	b.meter.mu.Unlock()

	if b.o.Table == nil {
		b.meter.mu.Lock()
		for month, n := range counts {
			if month == current {
				if b.meter.month != month {
					b.meter.month, b.meter.used = month, 0
				}
				b.meter.used += n
				b.meter.at = now
			}
		}
		b.meter.mu.Unlock()
		return nil
	}
	months := make([]string, 0, len(counts))
	for month := range counts {
		months = append(months, month)
	}
	sort.Strings(months)
	var firstErr error
	for _, month := range months {
		used, err := b.o.Table.AddUsed(ctx, month, counts[month])
		if err != nil {
			b.meter.count(month, counts[month], now)
			if firstErr == nil {
				firstErr = err
				b.tableFailed(ctx, "quota", err)
			}
			continue
		}
		if month == current {
			b.meter.learn(month, used, now)
			b.emit("GalxeQuotaUsed", "Count", float64(used))
		}
	}
	if _, fresh := b.meter.known(current, now, quotaRefresh); !fresh && len(counts) == 0 && b.tableUsable() {
		used, err := b.o.Table.Used(ctx, current)
		if err != nil {
			b.tableFailed(ctx, "quota", err)
			return err
		}
		b.meter.learn(current, used, now)
		b.emit("GalxeQuotaUsed", "Count", float64(used))
	}
	return firstErr
}

// Quota is the month's use of the account's quota, for GET /health.
type Quota struct {
	Month string `json:"month"` // "YYYY-MM", UTC
	Used  int64  `json:"used"`
	Limit int64  `json:"limit"`
}

// Quota reads the current UTC month's count (a consistent read), with this
// process's requests not flushed yet. Without a table it is this process's
// own count. On a table error it gives what the process knows, and the error.
func (b *Budget) Quota(ctx context.Context) (Quota, error) {
	now := b.o.Now()
	q := Quota{Month: state.Month(now), Limit: b.o.MonthlyQuota}
	if b.o.Table == nil {
		q.Used, _ = b.meter.known(q.Month, now, quotaRefresh)
		return q, nil
	}
	stored, err := b.o.Table.Used(ctx, q.Month)
	if err != nil {
		q.Used, _ = b.meter.known(q.Month, now, quotaRefresh)
		return q, err
	}
	b.meter.learn(q.Month, stored, now)
	q.Used, _ = b.meter.known(q.Month, now, quotaRefresh)
	return q, nil
}
