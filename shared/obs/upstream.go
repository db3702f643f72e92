package obs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

// Upstream tallies what one invocation's requests to Galxe did, for the
// invocation's log line: how many, how long they took, the last Galxe
// request id. Safe for the concurrent batches of one push.
type Upstream struct {
	mu        sync.Mutex
	attempts  int
	retries   int
	latency   time.Duration
	requestID string
}

type upstreamKey struct{}

// WithUpstream starts a tally for the invocation in ctx.
func WithUpstream(ctx context.Context) (context.Context, *Upstream) {
	u := &Upstream{}
	return context.WithValue(ctx, upstreamKey{}, u), u
}

// UpstreamFrom returns the invocation's tally, or nil.
func UpstreamFrom(ctx context.Context) *Upstream {
	u, _ := ctx.Value(upstreamKey{}).(*Upstream)
	return u
}

func (u *Upstream) add(a galxe.Attempt) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.attempts++
	if a.Number > 1 {
		u.retries++
	}
	u.latency += a.Latency
	if a.Err != nil && a.Err.RequestID != "" {
		u.requestID = a.Err.RequestID
	}
}

// Attrs are the tally as log attributes; none when nothing was sent.
func (u *Upstream) Attrs() []any {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.attempts == 0 {
		return nil
	}
	attrs := []any{slog.Int("attempts", u.attempts), slog.Int("retries", u.retries),
		slog.Float64("upstream_ms", float64(u.latency.Microseconds())/1000)}
	if u.requestID != "" {
		attrs = append(attrs, slog.String("galxe_request_id", u.requestID))
	}
	return attrs
}
