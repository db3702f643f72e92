package pusher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
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
	busy          int   // items left unsent: an earlier push held their marks
	stateErr      error // the table's failure, if one stopped the calls
	took          time.Duration
	cold          bool
	up            *obs.Upstream
}

// report writes the invocation's log line and metrics.
func (h *Handler) report(ctx context.Context, s summary) {
	pushed, skipped := 0, 0 // skipped: superseded
	for _, d := range s.items {
		switch d.result {
		case succeeded:
			pushed++
		case superseded:
			skipped++
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
	if h.State != nil {
		attrs = append(attrs, "items_superseded", skipped, "items_held_by_earlier_push", s.busy)
	}
	level := slog.LevelInfo
	if s.stateErr != nil {
		// Nothing the table could not mark was sent: those messages come back.
		msg := "shared-state table unavailable; the messages it could not mark come back"
		var se *state.Error
		if errors.As(s.stateErr, &se) && se.Permanent {
			msg = "configuration error: the shared-state table is not usable; the messages it could not mark come back"
		}
		h.logger().ErrorContext(ctx, msg, "error", state.Detail(s.stateErr))
		attrs = append(attrs, "state_error", s.stateErr.Error())
		level = slog.LevelError
	}
	switch {
	case s.stop != nil:
		// An account-wide refusal, or no Galxe client: no further call was made.
		attrs = append(attrs, "error", s.stop.Error(), "calls_stopped", true, "messages_held_back", s.heldBack)
		level = slog.LevelError
	case len(s.retry) > 0:
		level = max(level, slog.LevelWarn)
	}
	h.logger().Log(ctx, level, "push batch", attrs...)
	if h.Metrics != nil {
		metrics := []obs.Metric{
			{Name: "ItemsPushed", Unit: "Count", Values: []float64{float64(pushed)}},
			{Name: "MessagesRetried", Unit: "Count", Values: []float64{float64(len(s.retry))}},
			{Name: "MessagesDeadLettered", Unit: "Count", Values: []float64{float64(s.deadLettered)}},
			{Name: "PushLag", Unit: "Milliseconds", Values: lags},
		}
		if h.State != nil {
			metrics = append(metrics, obs.Metric{Name: "ItemsSuperseded", Unit: "Count", Values: []float64{float64(skipped)}})
			if s.stateErr != nil {
				metrics = append(metrics, obs.Metric{Name: "SharedStateErrors", Unit: "Count", Values: []float64{1}})
			}
		}
		h.Metrics.Emit(metrics...)
	}
}

// pushLags are, for each message whose items all reached Galxe, the time
// from its SentTimestamp (else its "at") to the start of the call that
// carried the last of its items (the item's, when a later message decided
// it), in ms. A message none of whose items was carried (all superseded)
// has none.
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
		if last == 0 {
			continue
		}
		from := m.sent
		if from == 0 {
			from = m.at
		}
		lags = append(lags, float64(max(0, last-from)))
	}
	return lags
}
