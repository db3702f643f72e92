package galxe

import (
	"time"

	"github.com/sethvargo/go-retry"
)

// Backoff defaults: exponential from 100 ms with full jitter, each wait
// capped at 5 s. Galxe's advice is exponential backoff on 429.
const (
	DefaultBaseBackoff = 100 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// newBackoff composes go-retry's exponential backoff with full jitter and a
// cap, then the two rules of the time budget: the server's Retry-After is a
// floor, and a wait that would end past the budget stops the retries.
func newBackoff(base, limit time.Duration, retryAfter func() time.Duration, deadline time.Time, now func() time.Time) retry.Backoff {
	b := retry.NewExponential(base)
	b = retry.WithCappedDuration(limit, b)
	b = retry.WithFullJitter(b)
	b = withFloor(retryAfter, b)
	return withinBudget(deadline, now, b)
}

// withFloor never waits less than floor() asks (the last Retry-After).
func withFloor(floor func() time.Duration, next retry.Backoff) retry.Backoff {
	return retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := next.Next()
		if stop {
			return 0, true
		}
		return max(d, floor()), false
	})
}

// minAttemptTime is the least time worth starting a request with: a wait
// that leaves less would only turn the last real answer into a timeout.
const minAttemptTime = 50 * time.Millisecond

// withinBudget stops when the wait and a minimal attempt would not fit before
// the deadline, so the caller answers with the last upstream error in time.
func withinBudget(deadline time.Time, now func() time.Time, next retry.Backoff) retry.Backoff {
	return retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := next.Next()
		if stop || now().Add(d+minAttemptTime).After(deadline) {
			return 0, true
		}
		return d, false
	})
}
