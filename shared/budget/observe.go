package budget

import (
	"context"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// defaultPause is how long a 429 without Retry-After pauses the account:
// Galxe counts requests a second, so a second clears its window.
const defaultPause = time.Second

// Observe is told of every request sent to Galxe (galxe.Config.Budget calls
// it after each attempt): it counts the requests Galxe accepted, and
// pauses the whole account until a per-second 429's Retry-After.
func (b *Budget) Observe(ctx context.Context, a galxe.Attempt) {
	now := b.o.Now()
	if accepted(a) {
		b.meter.count(state.Month(now), 1, now)
	}
	if until, ok := pauseUntil(a, now); ok && b.tableUsable() {
		b.pause(ctx, until)
	}
}

// accepted tells a request that counts against the quota: every one Galxe
// answered (a success, any error it gave, a 5xx of its gateway), except a
// refusal for its rate or its quota (HTTP 429, or category RATE_LIMIT under
// any status). A request that got no answer (a network error, a timeout)
// is not counted: it may never have arrived.
func accepted(a galxe.Attempt) bool {
	e := a.Err
	return e == nil || (e.HTTPStatus != 0 && e.HTTPStatus != 429 && e.Category != galxe.CategoryRateLimit)
}

// pauseUntil is the end of the pause a per-second 429 from Galxe asks for;
// a spent daily or monthly quota pauses nothing (its callers fail at once
// with it, and foreground calls still find out for themselves).
func pauseUntil(a galxe.Attempt, now time.Time) (time.Time, bool) {
	e := a.Err
	if e == nil || e.HTTPStatus == 0 || e.QuotaSpent || (e.Category != galxe.CategoryRateLimit && e.HTTPStatus != 429) {
		return time.Time{}, false
	}
	if e.RetryAfter > 0 {
		return now.Add(e.RetryAfter), true
	}
	return now.Add(defaultPause), true
}

// pause moves the account's cursor to until in the table, so that every
// instance's next take finds it in the refusal of its write.
func (b *Budget) pause(ctx context.Context, until time.Time) {
	b.mu.Lock()
	seen := b.seen
	b.mu.Unlock()
	// The pause is for every caller: written even when this one's time is up.
	wctx, cancel := state.AfterWork(ctx, b.o.TableTimeout, state.AnswerReserve)
	defer cancel()
	latest, err := b.o.Table.PauseAccount(wctx, seen, until)
	if err != nil {
		b.tableFailed(context.Background(), "pause", err) // written on a context of its own
		return
	}
	b.mu.Lock()
	b.seen = latest
	b.mu.Unlock()
	b.o.Log.Info("Galxe refused a request for its rate: account paused", "until", until.UTC())
}
