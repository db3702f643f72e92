package pusher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// Concurrency is how many Galxe calls are in flight at once; the client's
// rate limit paces them, this only keeps the pipe full while answers travel.
const Concurrency = 8

// probeWait is how long the first Galxe call of an invocation goes alone
// before the others start: an account-wide refusal (a spent quota, a bad
// token) then costs one request, while a slow first answer delays the rest
// by this much at most.
const probeWait = time.Second

// maxSplitCalls bounds the calls one invocation makes to find the items of
// a call Galxe refused with VALIDATION (18 find one bad item among 500). A
// refusal that concerns every item (a request Galxe never takes) would
// otherwise cost a call per item of the month's quota; past the bound the
// refused call's messages are dead-lettered whole.
const maxSplitCalls = 64

// MinQuotaHold is the least a spent daily or monthly quota holds its
// messages back (invisible) per receive, whatever Galxe's Retry-After: the
// template's redrive count is sized by it.
const MinQuotaHold = time.Hour

// maxVisibility is the longest hold: SQS allows 12 hours counted from the
// receive, and a message was received up to the batching window (5 min)
// and the invocation (2 min) before its hold is set; half an hour spare.
const maxVisibility = 12*time.Hour - 30*time.Minute

// DefaultMarkLease is how long a call's marks hold off every other push of
// its items (so that none can reach Galxe before it and be undone by it),
// and so the longest a call may take from its marks to its answer: Galxe's
// attempt timeout and room for a retry. A later push that finds a mark
// leased waits for the lease within its invocation's budget.
const DefaultMarkLease = 15 * time.Second

// markWriters is how many of a call's marks are written at once: a call's
// 500 take about 500/markWriters round trips to the table before it starts.
const markWriters = 32

// runner makes an invocation's calls.
type runner struct {
	h           *Handler
	items       []decided
	budgetEnd   time.Time
	slots       chan struct{}
	wg          sync.WaitGroup
	made        atomic.Int64
	splits      atomic.Int64
	mu          sync.Mutex
	refusedCred map[string]string // credential -> Galxe's code, once refused for good
	stop        error             // the account-wide refusal that stopped every further call
	stateErr    error             // the table's failure that stopped every further call
	busy        atomic.Int64      // items left unsent: an earlier push held their marks
}

// run makes the calls, Concurrency at a time, until the budget is spent or
// an account-wide refusal stops them: a call that does not start is left
// notRun, and its messages come back. With a table, each call's marks are
// taken by a stage of their own, in order, at most Concurrency calls ahead
// of the calls made, so the table's round trips overlap Galxe's.
func (r *runner) run(ctx context.Context, calls []call) {
	if len(calls) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(ctx, r.budgetEnd)
	defer cancel()
	r.slots = make(chan struct{}, Concurrency)
	next := r.feed(ctx, calls)
	defer r.wg.Wait()
	c, ok := <-next
	if !ok {
		return
	}
	first := make(chan struct{})
	r.slots <- struct{}{}
	r.wg.Go(func() {
		defer close(first)
		defer func() { <-r.slots }()
		r.do(ctx, c)
	})
	select {
	case <-first:
	case <-time.After(probeWait):
	case <-ctx.Done():
	}
	for {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		c, ok := <-next
		if !ok {
			<-r.slots
			return
		}
		r.wg.Go(func() {
			defer func() { <-r.slots }()
			r.do(ctx, c)
		})
	}
}

// feed yields the calls in order, with a table marked first (mark), and
// ends early once the calls are stopped. Its buffer bounds how far the
// marks run ahead of the calls, and so how long a lease waits for its call.
func (r *runner) feed(ctx context.Context, calls []call) <-chan call {
	next := make(chan call, Concurrency)
	r.wg.Go(func() {
		defer close(next)
		for _, c := range calls {
			if r.stopped() {
				return
			}
			if r.h.State != nil {
				if c = r.mark(ctx, c); len(c.items) == 0 {
					continue
				}
			}
			select {
			case next <- c:
			case <-ctx.Done():
				return
			}
		}
	})
	return next
}

func (r *runner) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stop != nil || r.stateErr != nil
}

// spawn runs a call when a slot is free.
func (r *runner) spawn(ctx context.Context, c call) {
	r.wg.Go(func() {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-r.slots }()
		r.do(ctx, c)
	})
}

// do makes one call and settles its items; a call refused with VALIDATION
// is split in halves, each a call of its own, until the refused items
// stand alone.
func (r *runner) do(ctx context.Context, c call) {
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	stopped := r.stop != nil
	unmarked := r.h.State != nil && c.until.IsZero()
	tableDown := r.stateErr != nil && unmarked // a call already marked still goes
	code, gone := r.refusedCred[c.cred]
	r.mu.Unlock()
	switch {
	case stopped, tableDown:
		return
	case gone:
		r.settle(c, refused, code, 0)
		return
	}
	if unmarked { // a call of items that were busy
		if c = r.mark(ctx, c); len(c.items) == 0 {
			return
		}
	}
	callCtx := ctx
	if !c.until.IsZero() {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(ctx, c.until) // the marks' lease
		defer cancel()
	}
	started := time.Now().UnixMilli()
	list := make([]string, len(c.items))
	for k, i := range c.items {
		list[k] = r.items[i].item
	}
	_, err := r.h.Galxe.Do(callCtx, "credentialItems", map[string]any{"credId": c.cred, "operation": c.op, "items": list})
	r.made.Add(1)
	var ge *galxe.Error
	isGalxe := errors.As(err, &ge)
	switch {
	case err == nil:
		r.settle(c, succeeded, "", started)
		_ = r.h.State.BumpGeneration(ctx, c.cred) // the fleet's cached reads of it are stale now
	case isGalxe && (ge.Category == galxe.CategoryNotFound || ge.Category == galxe.CategoryAuthorization):
		// The credential does not exist, or the token may not write to
		// it: every call of the credential would be refused alike.
		r.mu.Lock()
		r.refusedCred[c.cred] = ge.Code
		r.mu.Unlock()
		r.settle(c, refused, ge.Code, started)
	case isGalxe && ge.Category == galxe.CategoryValidation:
		if len(c.items) == 1 || r.splits.Add(2) > maxSplitCalls {
			r.settle(c, refused, ge.Code, started)
			return
		}
		half := len(c.items) / 2 // the halves keep the marks and their lease
		r.spawn(ctx, call{cred: c.cred, op: c.op, items: c.items[:half], until: c.until})
		r.spawn(ctx, call{cred: c.cred, op: c.op, items: c.items[half:], until: c.until})
	default:
		if accountWide(err, r.budgetEnd) {
			r.mu.Lock()
			if r.stop == nil {
				r.stop = err
			}
			r.mu.Unlock()
		}
		r.settle(c, failedTransient, "", started)
		if !isGalxe || ge.HTTPStatus == 0 || ge.HTTPStatus >= 500 {
			// No answer, or a gateway's: Galxe may have applied the call.
			_ = r.h.State.BumpGeneration(ctx, c.cred)
		}
	}
}

// mark takes the marks of a call's items, leased until the call must end,
// and returns the call with the items whose marks it took. A superseded
// item is settled (not sent, done); a busy one goes in a call of its own
// once the lease that holds it ends, if the budget allows (else its
// messages come back); a table that fails stops every further call of the
// invocation: what it did not mark is not sent, and comes back.
func (r *runner) mark(ctx context.Context, c call) call {
	lease := r.h.MarkLease
	if lease <= 0 {
		lease = DefaultMarkLease
	}
	until := time.Now().Add(lease)
	if until.After(r.budgetEnd) {
		until = r.budgetEnd
	}
	marks := make([]state.Mark, len(c.items))
	for k, i := range c.items {
		d := &r.items[i]
		marks[k] = state.Mark{CredID: d.cred, Item: d.item, Op: c.op, At: d.at}
	}
	mctx, cancel := context.WithDeadline(ctx, until) // a table that hangs costs the lease, not the budget
	results, busyUntil, err := r.h.State.TakeMarksWith(mctx, marks, state.MarkOptions{Until: until, Writers: markWriters})
	cancel()
	var taken, busy []int
	for k, i := range c.items {
		switch results[k] {
		case state.MarkTaken:
			taken = append(taken, i)
		case state.MarkSuperseded:
			r.items[i].result = superseded
		case state.MarkBusy:
			busy = append(busy, i)
		}
	}
	if err != nil && ctx.Err() == nil { // not the budget's end: the table's failure
		r.mu.Lock()
		if r.stateErr == nil {
			r.stateErr = err
		}
		r.mu.Unlock()
	}
	if len(busy) > 0 {
		// Busy again after a wait means an older push took the mark in
		// between; they are finite, and the budget bounds the waits.
		if err == nil && busyUntil.Before(r.budgetEnd) {
			r.after(ctx, busyUntil, call{cred: c.cred, op: c.op, items: busy})
		} else {
			r.busy.Add(int64(len(busy)))
		}
	}
	c.items, c.until = taken, until
	return c
}

// after spawns a call once t has passed.
func (r *runner) after(ctx context.Context, t time.Time, c call) {
	r.wg.Go(func() {
		timer := time.NewTimer(time.Until(t))
		defer timer.Stop()
		select {
		case <-timer.C:
			r.spawn(ctx, c)
		case <-ctx.Done():
			r.busy.Add(int64(len(c.items)))
		}
	})
}

func (r *runner) settle(c call, result outcome, code string, started int64) {
	for _, i := range c.items {
		r.items[i].result, r.items[i].code, r.items[i].started = result, code, started
	}
}

// accountWide reports whether a failure holds for every call of the
// account until later: a spent daily or monthly quota, a token Galxe
// refuses even after the client read it again, per-second throttling whose
// Retry-After lies past the budget, or no way to call at all (no token).
func accountWide(err error, budgetEnd time.Time) bool {
	var ge *galxe.Error
	if !errors.As(err, &ge) {
		return true
	}
	switch {
	case ge.QuotaSpent, ge.Category == galxe.CategoryAuthentication:
		return true
	case ge.Category == galxe.CategoryRateLimit && ge.Code != galxe.CodeRateLimited: // not the process's own limit
		return ge.RetryAfter > 0 && time.Now().Add(ge.RetryAfter).After(budgetEnd)
	}
	return false
}

// holdFor is how long the messages an account-wide refusal stopped should
// stay invisible: Galxe's Retry-After, at least an hour for a spent quota,
// at most 11.5 hours (SQS's 12 from the receive); false when there is no Retry-After to keep (a
// refused token: the queue's own visibility timeout paces the retries).
func holdFor(stop error) (time.Duration, bool) {
	var ge *galxe.Error
	if !errors.As(stop, &ge) {
		return 0, false
	}
	d := ge.RetryAfter
	if ge.QuotaSpent {
		d = max(d, MinQuotaHold)
	}
	if d <= 0 {
		return 0, false
	}
	return min((d + time.Second - 1).Truncate(time.Second), maxVisibility), true
}
