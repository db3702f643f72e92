package pusher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
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

// maxVisibility is SQS's longest visibility timeout: 12 hours.
const maxVisibility = 12 * time.Hour

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
}

// run makes the calls, Concurrency at a time, until the budget is spent or
// an account-wide refusal stops them: a call that does not start is left
// notRun, and its messages come back.
func (r *runner) run(ctx context.Context, calls []call) {
	if len(calls) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(ctx, r.budgetEnd)
	defer cancel()
	r.slots = make(chan struct{}, Concurrency)
	first := make(chan struct{})
	r.wg.Go(func() {
		defer close(first)
		r.slots <- struct{}{}
		r.do(ctx, calls[0])
		<-r.slots
	})
	select {
	case <-first:
	case <-time.After(probeWait):
	case <-ctx.Done():
	}
	for _, c := range calls[1:] {
		r.spawn(ctx, c)
	}
	r.wg.Wait()
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
	code, gone := r.refusedCred[c.cred]
	r.mu.Unlock()
	switch {
	case stopped:
		return
	case gone:
		r.settle(c, refused, code, 0)
		return
	}
	started := time.Now().UnixMilli()
	list := make([]string, len(c.items))
	for k, i := range c.items {
		list[k] = r.items[i].item
	}
	_, err := r.h.Galxe.Do(ctx, "credentialItems", map[string]any{"credId": c.cred, "operation": c.op, "items": list})
	r.made.Add(1)
	var ge *galxe.Error
	isGalxe := errors.As(err, &ge)
	switch {
	case err == nil:
		r.settle(c, succeeded, "", started)
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
		half := len(c.items) / 2
		r.spawn(ctx, call{cred: c.cred, op: c.op, items: c.items[:half]})
		r.spawn(ctx, call{cred: c.cred, op: c.op, items: c.items[half:]})
	default:
		if accountWide(err, r.budgetEnd) {
			r.mu.Lock()
			if r.stop == nil {
				r.stop = err
			}
			r.mu.Unlock()
		}
		r.settle(c, failedTransient, "", started)
	}
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
// at most SQS's 12 hours; false when there is no Retry-After to keep (a
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
