package pusher

import (
	"context"
	"log/slog"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/obs"
)

// summary is what an invocation did, for its log line and metrics.
type summary struct {
	msgs          []message
	items         []decided
	index         map[itemKey]int
	dead          map[int]string
	retry         map[int]bool
	planned, made int // calls
	splits        int // calls made to isolate refused items
	deadLettered  int
	heldBack      int
	stop          error // the account-wide refusal, if one stopped the calls
	took          time.Duration
	cold          bool
	up            *obs.Upstream
}

// report writes the invocation's log line and metrics.
func (h *Handler) report(ctx context.Context, s summary) {
	pushed := 0
	for _, d := range s.items {
		if d.result == succeeded {
			pushed++
		}
	}
	lags := pushLags(s)
	attrs := []any{"records", len(s.msgs), "distinct_items", len(s.items), "calls", s.made, "calls_planned", s.planned,
		"split_calls", s.splits, "items_pushed", pushed, "messages_retried", len(s.retry),
		"messages_dead_lettered", s.deadLettered, "duration_ms", s.took.Milliseconds()}
	attrs = append(attrs, s.up.Attrs()...)
	if s.cold {
		attrs = append(attrs, "cold_start", true)
	}
	level := slog.LevelInfo
	switch {
	case s.stop != nil:
		// An account-wide refusal, or no Galxe client: no further call was made.
		attrs = append(attrs, "error", s.stop.Error(), "calls_stopped", true, "messages_held_back", s.heldBack)
		level = slog.LevelError
	case len(s.retry) > 0:
		level = slog.LevelWarn
	}
	h.logger().Log(ctx, level, "push batch", attrs...)
	if h.Metrics != nil {
		h.Metrics.Emit(
			obs.Metric{Name: "ItemsPushed", Unit: "Count", Values: []float64{float64(pushed)}},
			obs.Metric{Name: "MessagesRetried", Unit: "Count", Values: []float64{float64(len(s.retry))}},
			obs.Metric{Name: "MessagesDeadLettered", Unit: "Count", Values: []float64{float64(s.deadLettered)}},
			obs.Metric{Name: "PushLag", Unit: "Milliseconds", Values: lags},
		)
	}
}

// pushLags are, for each message whose items all reached Galxe, the time
// from its SentTimestamp to the start of the call that carried the last of
// its items (the item's, when a later message decided it), in ms.
func pushLags(s summary) []float64 {
	var lags []float64
	for i := range s.msgs {
		m := &s.msgs[i]
		if m.invalid != "" || s.retry[i] {
			continue
		}
		if _, dead := s.dead[i]; dead {
			continue
		}
		var last int64
		for _, it := range m.push.Items {
			last = max(last, s.items[s.index[itemKey{m.push.CredID, it}]].started)
		}
		lags = append(lags, float64(max(0, last-m.sent)))
	}
	return lags
}
