// Package pusher drains queued pushes (DESIGN.md §10): an SQS event of up
// to 10,000 records becomes a few Galxe calls. Per credential and item the
// latest message decides (its "at", else its SentTimestamp, then the
// record's place); the items of each credential and operation go to Galxe
// 500 at a time under the process's rate limit, each call first taking its
// items' marks in the shared-state table when there is one (§11), so that
// no push older than one already sent is sent; what did not reach Galxe is
// reported back to SQS (partial batch response) and delivered again; what
// Galxe refuses for good, and what is not a push at all, goes to the
// dead-letter queue.
package pusher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// CodeInvalidMessage marks a dead-lettered message that is not a valid push.
const CodeInvalidMessage = "INVALID_MESSAGE"

// settleTime is kept back from the deadline after the last Galxe call: the
// dead-letter sends, the visibility changes and the answer to Lambda need it.
const settleTime = time.Second

// maxFutureSent is how far past the clock a SentTimestamp or a body's "at"
// may lie (clock skew); a later one is not a time SQS or the webhook gave.
const maxFutureSent = 24 * time.Hour

// Handler is the pusher function. Galxe is required unless GalxeErr says
// why it is missing; DeadLetters may be nil (refused messages are then
// reported as failures, and SQS's redrive policy parks them); Queues may
// be nil (the messages an account-wide refusal stopped then come back
// after the queue's own visibility timeout). State orders the pushes
// across the fleet; nil: within the batch only, unless StateErr says why a
// configured table is missing (then nothing is sent: every message comes
// back, since sending unordered could undo later pushes).
type Handler struct {
	Galxe       galxe.Caller
	GalxeErr    error
	DeadLetters *pushqueue.Sender
	Queues      VisibilityAPI
	State       *state.Table
	StateErr    error
	Log         *slog.Logger
	Metrics     *obs.Metrics
	// MarkLease is how long a call's marks hold off other pushes of its
	// items, and so the longest the call may take; 0: DefaultMarkLease.
	MarkLease time.Duration

	warm atomic.Bool
}

func (h *Handler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// message is one record and what became of it.
type message struct {
	rec     *events.SQSMessage
	sent    int64 // SentTimestamp, ms; 0 when untrustworthy (the body's "at" orders it)
	at      int64 // its time: the body's "at", else sent (ms)
	push    pushqueue.Message
	invalid string // why it is not a valid push
}

// itemKey is one item of one credential.
type itemKey struct{ cred, item string }

// decided is one item of one credential, the message that decides it, and
// what Galxe did with it.
type decided struct {
	itemKey
	msg     int
	at      int64 // the deciding message's time, ms: its mark's
	result  outcome
	code    string // Galxe's code when refused for good
	started int64  // when the call that carried it started, ms
}

type outcome int32

const (
	notRun outcome = iota
	succeeded
	failedTransient
	refused    // for good: VALIDATION, NOT_FOUND, AUTHORIZATION
	superseded // its mark was refused: a later push of it was sent; not sent, done
)

// call is one credentialItems request: indexes of decided items.
type call struct {
	cred, op string
	items    []int
	// until is the lease of the items' marks, which the call must end
	// within; zero: not marked yet (or no table).
	until time.Time
}

// Handle processes one SQS event and says which messages to deliver again.
// It never returns an error: Lambda would deliver the whole batch again.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	start := time.Now()
	cold := !h.warm.Swap(true)
	ctx, upstream := obs.WithUpstream(ctx)
	msgs := parse(ev.Records, start)

	items, index := coalesce(msgs)
	calls := plan(msgs, items)

	budgetEnd := start.Add(galxe.DefaultBudget)
	if d, ok := ctx.Deadline(); ok {
		budgetEnd = d.Add(-settleTime)
	}
	r := &runner{h: h, items: items, budgetEnd: budgetEnd, refusedCred: map[string]string{}}
	switch {
	case h.Galxe == nil:
		r.stop = h.GalxeErr
		if r.stop == nil {
			r.stop = errors.New("no Galxe client")
		}
	case h.State == nil && h.StateErr != nil:
		r.stop = fmt.Errorf("configuration error: the shared-state table is not usable, so pushes cannot be ordered: %w", h.StateErr)
	default:
		r.run(ctx, calls)
	}

	// Each message's fate: every item it holds must have reached Galxe
	// (decided by it or by a later message); one refused for good sends it
	// to the dead letters, unless another still has to be tried.
	retry, dead := map[int]bool{}, map[int]string{}
	for i := range msgs {
		m := &msgs[i]
		if m.invalid != "" {
			dead[i] = CodeInvalidMessage
			continue
		}
		for _, it := range m.push.Items {
			d := &items[index[itemKey{m.push.CredID, it}]]
			switch d.result { // succeeded and superseded: done
			case notRun, failedTransient:
				retry[i] = true
			case refused:
				if _, ok := dead[i]; !ok {
					dead[i] = d.code
				}
			}
		}
	}
	for i := range retry {
		delete(dead, i) // it will be tried again whole; the dead letters take only what is settled
	}
	deadLettered, notTaken := h.deadLetter(ctx, msgs, dead)
	for _, i := range notTaken {
		retry[i] = true
	}

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var again []*events.SQSMessage
	for i := range msgs {
		if !retry[i] {
			continue
		}
		// An empty itemIdentifier makes Lambda deliver the whole batch
		// again. A record without a messageId is INVALID_MESSAGE (parse),
		// so it only gets here when the dead-letter queue did not take it:
		// it is then left out, and Lambda deletes it. Losing a record SQS
		// could not have sent beats sending every other record again
		// until the redrive parks them all.
		if msgs[i].rec.MessageId == "" {
			h.logger().ErrorContext(ctx, "a record without a messageId cannot be reported for retry; it is dropped",
				"record", i, "body_bytes", len(msgs[i].rec.Body))
			continue
		}
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msgs[i].rec.MessageId})
		again = append(again, msgs[i].rec)
	}
	heldBack := 0
	if r.stop != nil {
		heldBack = h.holdBack(ctx, again, r.stop)
	}
	h.report(ctx, summary{msgs: msgs, items: items, index: index, dead: dead, retry: retry, planned: len(calls), made: int(r.made.Load()),
		splits: int(r.splits.Load()), deadLettered: deadLettered, heldBack: heldBack, stop: r.stop,
		busy: int(r.busy.Load()), stateErr: r.stateErr, took: time.Since(start), cold: cold, up: upstream})
	return resp, nil
}

// later reports whether a's message decides over b's: the later time (its
// "at", else its SentTimestamp), and for equal ones the later record in the
// batch (a higher index).
func later(a, b *message, ai, bi int) bool {
	if a.at != b.at {
		return a.at > b.at
	}
	return ai > bi
}

// parse reads each record; one that is not a valid push is marked invalid.
func parse(recs []events.SQSMessage, now time.Time) []message {
	msgs := make([]message, len(recs))
	for i := range recs {
		r := &recs[i]
		m := message{rec: r}
		sent, bad := sentTimestamp(r, now)
		m.sent, m.at = sent, sent
		switch {
		case r.EventSource != "aws:sqs":
			m.invalid = "the record is not from SQS (its eventSource is not aws:sqs)"
		case r.MessageId == "":
			m.invalid = "the record has no messageId"
		default:
			// pushqueue.Decode applies the items' rules (credentials),
			// U+FFFD included: the mark aws-lambda-go's decoding leaves
			// where a body was not valid UTF-8.
			p, err := pushqueue.Decode([]byte(r.Body))
			m.push = p
			switch {
			case err != nil:
				m.invalid = err.Error()
			case p.At > now.Add(maxFutureSent).UnixMilli():
				m.invalid = "the body's at is not a time the webhook could have given"
			case p.At > 0:
				m.at = p.At // the body's own time orders it; SentTimestamp is then not needed
			case bad != "":
				m.invalid = bad
			}
		}
		msgs[i] = m
	}
	return msgs
}

// sentTimestamp reads the record's SentTimestamp (ms): a missing one, or
// one that is no time SQS could have given (not a number, not positive,
// past the clock by more than maxFutureSent), makes the record invalid:
// coalescing by time would otherwise let it win or lose every item.
func sentTimestamp(r *events.SQSMessage, now time.Time) (int64, string) {
	v, ok := r.Attributes["SentTimestamp"]
	if !ok {
		return 0, "the record has no SentTimestamp"
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 || ms > now.Add(maxFutureSent).UnixMilli() {
		return 0, "the record's SentTimestamp is not a time SQS could have given"
	}
	return ms, ""
}

// coalesce finds, per credential and item, the message that decides it.
func coalesce(msgs []message) ([]decided, map[itemKey]int) {
	// Sized for one item a message, the common case (one address a push).
	items := make([]decided, 0, len(msgs))
	index := make(map[itemKey]int, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.invalid != "" {
			continue
		}
		for _, it := range m.push.Items {
			k := itemKey{m.push.CredID, it}
			d, seen := index[k]
			switch {
			case !seen:
				index[k] = len(items)
				items = append(items, decided{itemKey: k, msg: i, at: m.at})
			case later(m, &msgs[items[d].msg], i, items[d].msg):
				items[d].msg, items[d].at = i, m.at
			}
		}
	}
	return items, index
}

// plan groups the decided items by credential and operation into calls of
// at most credentials.BatchSize, sorted (a credential is a set).
func plan(msgs []message, items []decided) []call {
	type group struct{ cred, op string }
	byGroup := map[group][]int{}
	for i, d := range items {
		g := group{d.cred, msgs[d.msg].push.Operation}
		byGroup[g] = append(byGroup[g], i)
	}
	var calls []call
	for g, idx := range byGroup {
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(items[a].item, items[b].item) })
		for part := range slices.Chunk(idx, credentials.BatchSize) {
			calls = append(calls, call{cred: g.cred, op: g.op, items: part})
		}
	}
	slices.SortFunc(calls, func(a, b call) int {
		return cmp.Or(strings.Compare(a.cred, b.cred), strings.Compare(a.op, b.op),
			strings.Compare(items[a.items[0]].item, items[b.items[0]].item))
	})
	return calls
}
