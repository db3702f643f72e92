package secret

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// FetchFunc reads the current value of a secret from where it is kept.
type FetchFunc func(ctx context.Context) (string, error)

// DefaultLoadTimeout bounds one read of a secret, so a slow store cannot hold
// a cold start or an invocation for long.
const DefaultLoadTimeout = 3 * time.Second

// permanentErrorTTL is how long a permanent failure is remembered before the
// store is asked again, so a misconfigured function does not read SSM on
// every invocation yet recovers once the parameter is fixed.
const permanentErrorTTL = 30 * time.Second

// Source holds one secret in memory. It is safe for concurrent use: the
// value is read once, concurrent loads and refreshes share one read, and a
// refresh re-reads only when the caller still holds the current value.
type Source struct {
	what      string
	parameter string
	fetch     FetchFunc
	classify  func(error) (permanent bool)
	timeout   time.Duration
	now       func() time.Time

	check        func(string) error // a value that fails it is a permanent error; may be nil
	refreshEvery time.Duration      // the least time between two refreshes; 0: no bound

	mu          sync.RWMutex
	value       Value
	gen         uint64 // counts successful reads; tells a caller whether a read happened since it looked
	lastErr     *Error
	errUntil    time.Time
	lastRefresh time.Time

	flight singleflight.Group
}

// NewSource makes a source that reads with fetch. what names the secret in
// errors; parameter names where it is kept (may be empty); classify tells
// permanent failures from transient ones (nil: all transient).
func NewSource(what, parameter string, fetch FetchFunc, classify func(error) bool) *Source {
	if classify == nil {
		classify = func(error) bool { return false }
	}
	return &Source{what: what, parameter: parameter, fetch: fetch, classify: classify,
		timeout: DefaultLoadTimeout, now: time.Now}
}

// Static is a source for a value given directly (local runs).
func Static(what, value string) *Source {
	return NewSource(what, "", func(context.Context) (string, error) { return value, nil }, nil)
}

// Unconfigured is a source that always fails with a permanent ErrNotConfigured.
func Unconfigured(what string) *Source { return Failing(what, "", ErrNotConfigured) }

// Failing is a source whose configuration is wrong: it always fails with
// err, permanently, without asking any store.
func Failing(what, parameter string, err error) *Source {
	return NewSource(what, parameter, func(context.Context) (string, error) { return "", err },
		func(error) bool { return true })
}

// Require makes a value that fails check a permanent error (a malformed
// secret is a configuration error, said at load, not at every use).
func (s *Source) Require(check func(string) error) *Source {
	s.check = check
	return s
}

// RefreshAtMostEvery bounds refreshes: after one, the next within d
// returns the value held without a read, however many callers find it
// rejected (a revoked token must not spend the store's own rate).
func (s *Source) RefreshAtMostEvery(d time.Duration) *Source {
	s.refreshEvery = d
	return s
}

// What names the secret, for log lines.
func (s *Source) What() string { return s.what }

// Parameter is the SSM parameter name, or "" for a local value.
func (s *Source) Parameter() string { return s.parameter }

// Get returns the secret, reading it if it has not been read yet.
func (s *Source) Get(ctx context.Context) (Value, error) {
	s.mu.RLock()
	v, gen, lastErr, until := s.value, s.gen, s.lastErr, s.errUntil
	s.mu.RUnlock()
	if !v.IsZero() {
		return v, nil
	}
	if lastErr != nil && s.now().Before(until) {
		return Value{}, lastErr
	}
	return s.load(ctx, gen)
}

// Refresh re-reads the secret after the caller found stale to be rejected.
// If the value held already differs from stale (another caller refreshed),
// it is returned without a read; so is the value held when the last
// refresh was less than RefreshAtMostEvery ago. Concurrent refreshes share
// one read.
func (s *Source) Refresh(ctx context.Context, stale Value) (Value, error) {
	s.mu.Lock()
	v, gen := s.value, s.gen
	if !v.IsZero() && !v.Equal(stale) {
		s.mu.Unlock()
		return v, nil
	}
	now := s.now()
	if s.refreshEvery > 0 && !s.lastRefresh.IsZero() && now.Sub(s.lastRefresh) < s.refreshEvery {
		s.mu.Unlock()
		if v.IsZero() {
			return s.Get(ctx)
		}
		return v, nil
	}
	s.lastRefresh = now
	s.mu.Unlock()
	return s.load(ctx, gen)
}

// Problem is the permanent failure that keeps the source without a value
// (for a health check), or nil: it never reads.
func (s *Source) Problem() *Error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.value.IsZero() && s.lastErr != nil {
		return s.lastErr
	}
	return nil
}

// load reads the secret once for all callers waiting at the same time. The
// read runs detached from any one caller's cancellation (others share it),
// bounded by the source's timeout; each caller still stops waiting at its
// own deadline. seen is the generation the caller looked at: if a read has
// completed since, its value is returned without another read.
func (s *Source) load(ctx context.Context, seen uint64) (Value, error) {
	ch := s.flight.DoChan("load", func() (any, error) {
		s.mu.RLock()
		v, gen := s.value, s.gen
		s.mu.RUnlock()
		if gen != seen && !v.IsZero() {
			return v, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		raw, err := s.fetch(rctx)
		// A value written from a file often ends in a newline, which no
		// HTTP header may carry: surrounding white space is never part of it.
		raw = strings.TrimSpace(raw)
		if err == nil && raw == "" {
			err = publicError("the value is empty")
		}
		permanent := false
		if err == nil && s.check != nil {
			if cerr := s.check(raw); cerr != nil {
				err, permanent = publicError(cerr.Error()), true // check's words never hold the value
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			e := &Error{What: s.what, Parameter: s.parameter, Permanent: permanent || s.classify(err), Err: err}
			if e.Permanent {
				s.lastErr, s.errUntil = e, s.now().Add(permanentErrorTTL)
			}
			return Value{}, e
		}
		s.value, s.lastErr = New(raw), nil
		s.gen++
		return s.value, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Value{}, r.Err
		}
		return r.Val.(Value), nil
	case <-ctx.Done():
		return Value{}, &Error{What: s.what, Parameter: s.parameter,
			Err: fmt.Errorf("%w: %w", publicError("gave up waiting for the read"), context.Cause(ctx))}
	}
}
