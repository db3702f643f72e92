package budget

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// contentionWait is a random 5 to 25 ms: how long a caller whose writes
// all lost to other instances waits before it tries again.
func contentionWait() time.Duration {
	return 5*time.Millisecond + rand.N(20*time.Millisecond)
}

// DefaultTableTimeout bounds one call to the table (a take of slots, a
// pause, a read of the month's count); the table answers in milliseconds,
// and a caller whose own deadline comes first stops waiting anyway.
const DefaultTableTimeout = time.Second

// waiter is one Admit caller waiting for the next write.
type waiter struct {
	deadline time.Time
	done     chan grant
}

// grant is what a write gave one caller: a slot, or none and when to try
// again, or the table's failure.
type grant struct {
	slot, retry time.Time
	err         error
	contended   bool // other instances won every write: try again shortly
}

// Admit waits for a slot of the account's budget, never past deadline. It
// returns nil when the request may go (also when the table failed: the
// process's own limiter is then the only limit, and BudgetFallbacks counts
// it), or a *galxe.Error: RATE_LIMITED when no slot fits before the
// deadline (the client answers 429 with its RetryAfter), QUOTA_EXCEEDED
// for a background caller at the month's limit less the reserve.
func (b *Budget) Admit(ctx context.Context, deadline time.Time) error {
	if b.o.Table == nil {
		return nil
	}
	if err := b.checkQuota(ctx); err != nil {
		return err
	}
	start := b.o.Now()
	for {
		if b.o.Now().After(deadline) {
			return b.noSlot(time.Time{})
		}
		if !b.tableUsable() {
			b.emit("BudgetFallbacks", "Count", 1)
			return nil
		}
		g := b.take(ctx, deadline)
		switch {
		case g.contended:
			// Not the table's failure: others took the slots first. A short,
			// random wait spreads the herd's next writes.
			if err := b.o.Sleep(ctx, b.o.Now().Add(contentionWait())); err != nil {
				return b.noSlot(time.Time{})
			}
		case g.err != nil:
			if ctx.Err() != nil {
				return b.noSlot(time.Time{})
			}
			b.emit("BudgetFallbacks", "Count", 1) // drain has logged the table's failure
			return nil
		case !g.slot.IsZero():
			if b.admitted != nil {
				b.admitted(g.slot)
			}
			if err := b.o.Sleep(ctx, g.slot); err != nil {
				return b.noSlot(time.Time{}) // the caller gave up; its slot goes unused
			}
			b.emit("BudgetWaitMs", "Milliseconds", float64(b.o.Now().Sub(start).Microseconds())/1000)
			return nil
		case b.o.Class == Background && !g.retry.After(deadline):
			// Not due yet: wait for the next due slot and try again.
			if err := b.o.Sleep(ctx, g.retry); err != nil {
				return b.noSlot(time.Time{})
			}
		default:
			return b.noSlot(g.retry)
		}
	}
}

// take joins the next write of slots and waits for its grant. Concurrent
// callers share one write: the first starts drain, which takes as many
// slots as callers queued meanwhile.
func (b *Budget) take(ctx context.Context, deadline time.Time) grant {
	w := &waiter{deadline: deadline, done: make(chan grant, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	lead := !b.taking
	b.taking = true
	b.mu.Unlock()
	if lead {
		go b.drain()
	}
	select {
	case g := <-w.done:
		return g
	case <-ctx.Done():
		return grant{err: ctx.Err()}
	}
}

// drain writes for the queued callers, batch after batch, until none is
// left. It runs on no caller's context: a caller that gives up leaves the
// others' write alone.
func (b *Budget) drain() {
	for {
		b.mu.Lock()
		batch, seen := b.queue, b.seen
		b.queue = nil
		if len(batch) == 0 {
			b.taking = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()

		// Earliest deadline first: the most callers get a slot in time.
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].deadline.Before(batch[j].deadline) })
		req := state.SlotRequest{Deadlines: make([]time.Time, len(batch)), Every: b.every}
		for i, w := range batch {
			req.Deadlines[i] = w.deadline
		}
		if b.o.Class == Background {
			req.BackgroundEvery = b.bgEvery
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.o.TableTimeout)
		slots, latest, err := b.o.Table.TakeSlots(ctx, seen, req)
		cancel()

		b.mu.Lock()
		b.seen = latest
		b.mu.Unlock()
		contended := errors.Is(err, state.ErrContended)
		if contended {
			err = nil
		} else if err != nil {
			b.tableFailed(context.Background(), "budget", err) // the write's own timeout ended it: the table's failure
		}
		retry := latest.Next()
		if b.o.Class == Background {
			retry = latest.BackgroundDue()
		}
		for i, w := range batch {
			g := grant{retry: retry, err: err, contended: contended}
			if err == nil && !contended {
				g.slot = slots[i]
			}
			w.done <- g
		}
	}
}
