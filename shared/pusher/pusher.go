// Package pusher drains queued pushes (DESIGN.md §10): an SQS event of up
// to 10,000 records becomes a few Galxe calls. Per credential and item the
// latest message decides (SentTimestamp, then the record's place); the
// items of each credential and operation go to Galxe 500 at a time under
// the process's rate limit; what did not reach Galxe is reported back to
// SQS (partial batch response) and delivered again; what Galxe refuses for
// good, and what is not a push at all, goes to the dead-letter queue.
package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
)

// CodeInvalidMessage marks a dead-lettered message that is not a valid push.
const CodeInvalidMessage = "INVALID_MESSAGE"

// Concurrency is how many Galxe calls are in flight at once; the client's
// rate limit paces them, this only keeps the pipe full while answers travel.
const Concurrency = 8

// settleTime is kept back from the deadline after the last Galxe call: the
// dead-letter sends and the answer to Lambda need it.
const settleTime = time.Second

// Handler is the pusher function. Galxe is required unless GalxeErr says
// why it is missing; DeadLetters may be nil (refused messages are then
// reported as failures, and SQS's redrive policy parks them).
type Handler struct {
	Galxe       galxe.Caller
	GalxeErr    error
	DeadLetters *pushqueue.Sender
	Log         *slog.Logger
	Metrics     *obs.Metrics

	warm atomic.Bool
}

// record is what the pusher reads of an SQS record: the fields of
// events.SQSMessage it uses, without the maps of attributes it does not
// (an event of 10,000 records would hold tens of thousands of them).
type record struct {
	MessageID   string `json:"messageId"`
	Body        string `json:"body"`
	EventSource string `json:"eventSource"`
	Attributes  struct {
		SentTimestamp string `json:"SentTimestamp"`
	} `json:"attributes"`
}

// Invoke is the Lambda entry point (lambda.Handler): an events.SQSEvent in,
// an events.SQSEventResponse out.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	recs, err := decodeRecords(payload)
	if err != nil {
		h.logger().ErrorContext(ctx, "not an SQS event", "error", err.Error())
		return nil, errors.New("the event is not an SQS event")
	}
	return json.Marshal(h.handle(ctx, recs))
}

// Handle processes one SQS event and says which messages to deliver again.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) events.SQSEventResponse {
	recs := make([]record, len(ev.Records))
	for i, r := range ev.Records {
		recs[i] = record{MessageID: r.MessageId, Body: r.Body, EventSource: r.EventSource}
		recs[i].Attributes.SentTimestamp = r.Attributes["SentTimestamp"]
	}
	return h.handle(ctx, recs)
}

func (h *Handler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// message is one record and what became of it.
type message struct {
	rec     int
	id      string
	body    string
	sent    int64 // SentTimestamp, ms
	push    pushqueue.Message
	invalid string // why it is not a valid push
}

// itemKey is one item of one credential.
type itemKey struct{ cred, item string }

// winner is the message that decides an item, and the call carrying it.
type winner struct {
	msg  int32
	call int32
}

// call is one credentialItems request.
type call struct {
	cred, op string
	items    []string
	oldest   int64 // the earliest SentTimestamp among its credential and operation's deciding messages, ms
	at       int64 // when the call started, ms
	result   outcome
	code     string // Galxe's code when refused for good
}

type outcome int32

const (
	notRun outcome = iota
	succeeded
	failedTransient
	refused // for good: VALIDATION, NOT_FOUND, AUTHORIZATION
)

func (h *Handler) handle(ctx context.Context, recs []record) events.SQSEventResponse {
	start := time.Now()
	cold := !h.warm.Swap(true)
	ctx, upstream := obs.WithUpstream(ctx)
	msgs := parse(recs)

	// Coalesce: per credential and item, the latest message decides.
	winners := map[itemKey]winner{}
	for i := range msgs {
		m := &msgs[i]
		if m.invalid != "" {
			continue
		}
		for _, it := range m.push.Items {
			k := itemKey{m.push.CredID, it}
			w, seen := winners[k]
			if !seen || later(m, &msgs[w.msg]) {
				winners[k] = winner{msg: int32(i), call: -1}
			}
		}
	}
	calls := plan(msgs, winners)

	var galxeErr error
	if h.Galxe == nil {
		galxeErr = h.GalxeErr
		if galxeErr == nil {
			galxeErr = errors.New("no Galxe client")
		}
	} else {
		h.run(ctx, calls)
	}

	// Each message's fate: every call deciding one of its items must have
	// succeeded; a call refused for good sends it to the dead letters.
	retry, dead := map[int]bool{}, map[int]string{}
	for i := range msgs {
		m := &msgs[i]
		if m.invalid != "" {
			dead[i] = CodeInvalidMessage
			continue
		}
		for _, it := range m.push.Items {
			c := &calls[winners[itemKey{m.push.CredID, it}].call]
			switch {
			case galxeErr != nil || c.result == notRun || c.result == failedTransient:
				retry[i] = true
			case c.result == refused:
				if _, ok := dead[i]; !ok {
					dead[i] = c.code
				}
			}
		}
	}
	for i := range retry {
		delete(dead, i) // it will be tried again whole; the dead letters take only what is settled
	}
	deadLettered := h.deadLetter(ctx, msgs, dead, retry)

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i := range msgs {
		if retry[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msgs[i].id})
		}
	}
	h.report(ctx, msgs, calls, len(winners), len(resp.BatchItemFailures), deadLettered, galxeErr, time.Since(start), cold, upstream)
	return resp
}

// later reports whether a's message decides over b's: the later
// SentTimestamp, and for equal ones the later record in the batch.
func later(a, b *message) bool {
	if a.sent != b.sent {
		return a.sent > b.sent
	}
	return a.rec > b.rec
}

// parse reads each record; one that is not a valid push is marked invalid.
func parse(recs []record) []message {
	msgs := make([]message, len(recs))
	for i, r := range recs {
		m := message{rec: i, id: r.MessageID, body: r.Body}
		m.sent, _ = strconv.ParseInt(r.Attributes.SentTimestamp, 10, 64)
		switch {
		case r.EventSource != "aws:sqs":
			m.invalid = "the record is not from SQS (eventSource " + strconv.Quote(clip(r.EventSource)) + ")"
		case m.id == "":
			m.invalid = "the record has no messageId"
		default:
			p, err := pushqueue.Decode([]byte(r.Body))
			if err != nil {
				m.invalid = err.Error()
			}
			m.push = p
		}
		msgs[i] = m
	}
	return msgs
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// plan groups the decided items by credential and operation into calls of
// at most credentials.BatchSize, sorted (a credential is a set), and
// records in each winner the call that carries its item.
func plan(msgs []message, winners map[itemKey]winner) []call {
	type group struct{ cred, op string }
	byGroup := map[group][]string{}
	oldest := map[group]int64{}
	for k, w := range winners {
		m := &msgs[w.msg]
		g := group{k.cred, m.push.Operation}
		byGroup[g] = append(byGroup[g], k.item)
		if o, ok := oldest[g]; !ok || m.sent < o {
			oldest[g] = m.sent
		}
	}
	groups := make([]group, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		if a.cred != b.cred {
			return compare(a.cred, b.cred)
		}
		return compare(a.op, b.op)
	})
	var calls []call
	for _, g := range groups {
		items := byGroup[g]
		slices.Sort(items)
		n := (len(items) + credentials.BatchSize - 1) / credentials.BatchSize
		for i := range n {
			part := items[i*len(items)/n : (i+1)*len(items)/n]
			calls = append(calls, call{cred: g.cred, op: g.op, items: part, oldest: oldest[g]})
			for _, it := range part {
				k := itemKey{g.cred, it}
				w := winners[k]
				w.call = int32(len(calls) - 1)
				winners[k] = w
			}
		}
	}
	return calls
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// permanent reports whether Galxe refused for good: no retry can change it.
func permanent(err error) (string, bool) {
	var ge *galxe.Error
	if !errors.As(err, &ge) {
		return "", false
	}
	switch ge.Category {
	case galxe.CategoryValidation, galxe.CategoryNotFound, galxe.CategoryAuthorization:
		return ge.Code, true
	}
	return "", false
}

// credentialWide reports whether a refusal holds for every call of the
// credential (it does not exist, or the token may not write to it).
func credentialWide(err error) bool {
	var ge *galxe.Error
	return errors.As(err, &ge) && (ge.Category == galxe.CategoryNotFound || ge.Category == galxe.CategoryAuthorization)
}

// run makes the calls, Concurrency at a time, until the budget (the
// deadline less settleTime) is spent: a call that cannot start in time is
// left notRun, and its messages come back.
func (h *Handler) run(ctx context.Context, calls []call) {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-settleTime))
		defer cancel()
	}
	var (
		mu          sync.Mutex
		refusedCred = map[string]string{} // credential -> Galxe's code, once refused for good
		wg          sync.WaitGroup
		next        atomic.Int64
	)
	for range min(Concurrency, len(calls)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(calls) || ctx.Err() != nil {
					return
				}
				c := &calls[i]
				mu.Lock()
				code, gone := refusedCred[c.cred]
				mu.Unlock()
				if gone {
					c.result, c.code = refused, code
					continue
				}
				c.at = time.Now().UnixMilli()
				_, err := h.Galxe.Do(ctx, "credentialItems", map[string]any{"credId": c.cred, "operation": c.op, "items": c.items})
				switch code, perm := permanent(err); {
				case err == nil:
					c.result = succeeded
				case perm:
					c.result, c.code = refused, code
					if credentialWide(err) {
						mu.Lock()
						refusedCred[c.cred] = code
						mu.Unlock()
					}
				default:
					c.result = failedTransient
				}
			}
		})
	}
	wg.Wait()
}

// deadLetter sends the settled refusals, unchanged, to the dead-letter
// queue with their error code; what cannot be sent (or with no queue
// configured) is retried instead. It returns how many were dead-lettered.
func (h *Handler) deadLetter(ctx context.Context, msgs []message, dead map[int]string, retry map[int]bool) int {
	if len(dead) == 0 {
		return 0
	}
	idx := make([]int, 0, len(dead))
	for i := range dead {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		h.logger().WarnContext(ctx, "message refused", "message_id", msgs[i].id, "error_code", dead[i], "reason", reasonOf(&msgs[i], dead[i]))
	}
	if h.DeadLetters == nil {
		for _, i := range idx {
			retry[i] = true
		}
		return 0
	}
	out := make([]pushqueue.Outgoing, len(idx))
	for k, i := range idx {
		out[k] = pushqueue.Outgoing{Body: []byte(msgs[i].body), Attributes: map[string]string{"error_code": dead[i]}}
	}
	err := h.DeadLetters.Send(ctx, out)
	if err == nil {
		return len(idx)
	}
	// Which were queued is not known one by one: retry them all (a
	// duplicate in the dead-letter queue beats a lost message).
	h.logger().ErrorContext(ctx, "dead-letter queue unavailable; the messages will come back", "error", err.Error())
	for _, i := range idx {
		retry[i] = true
	}
	return 0
}

func reasonOf(m *message, code string) string {
	if m.invalid != "" {
		return m.invalid
	}
	return "Galxe refused the credential's items for good (" + code + ")"
}

// report writes the invocation's log line and metrics.
func (h *Handler) report(ctx context.Context, msgs []message, calls []call, distinct, retried, deadLettered int,
	galxeErr error, took time.Duration, cold bool, up *obs.Upstream) {
	pushed, made := 0, 0
	var lags []float64
	for _, c := range calls {
		if c.result != notRun {
			made++
		}
		if c.result == succeeded {
			pushed += len(c.items)
			if c.oldest > 0 {
				lags = append(lags, float64(max(0, c.at-c.oldest)))
			}
		}
	}
	attrs := []any{"records", len(msgs), "distinct_items", distinct, "calls", made, "calls_planned", len(calls),
		"items_pushed", pushed, "messages_retried", retried, "messages_dead_lettered", deadLettered,
		"duration_ms", took.Milliseconds()}
	attrs = append(attrs, up.Attrs()...)
	if cold {
		attrs = append(attrs, "cold_start", true)
	}
	level := slog.LevelInfo
	if galxeErr != nil {
		attrs = append(attrs, "error", galxeErr.Error())
		level = slog.LevelError
	} else if retried > 0 {
		level = slog.LevelWarn
	}
	h.logger().Log(ctx, level, "push batch", attrs...)
	if h.Metrics != nil {
		h.Metrics.Emit(
			obs.Metric{Name: "ItemsPushed", Unit: "Count", Values: []float64{float64(pushed)}},
			obs.Metric{Name: "MessagesRetried", Unit: "Count", Values: []float64{float64(retried)}},
			obs.Metric{Name: "MessagesDeadLettered", Unit: "Count", Values: []float64{float64(deadLettered)}},
			obs.Metric{Name: "PushLag", Unit: "Milliseconds", Values: lags},
		)
	}
}
