// Package jobs is the scheduled function's logic: it reads a job from an
// EventBridge Scheduler input, a rule's input or an event's detail, runs it
// against Galxe, and returns a JSON summary or an error (so Lambda counts
// the failure and the retry policy or dead-letter queue applies).
package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"github.com/galxe-lambda/galxe-lambda/shared/strictjson"
)

// Job names.
const (
	Canary          = "canary"
	Operation       = "operation"
	CredentialItems = "credential-items"
)

// Job is the input of one run.
type Job struct {
	Job       string           `json:"job"`
	CredID    string           `json:"credId,omitempty"`
	Operation string           `json:"operation,omitempty"`
	Variables json.RawMessage  `json:"variables,omitempty"`
	AllPages  bool             `json:"allPages,omitempty"`
	Items     credentials.List `json:"items,omitempty"`
}

// Summary is what a successful run returns.
type Summary struct {
	Job       string `json:"job"`
	OK        bool   `json:"ok"`
	Calls     int    `json:"calls"`
	Operation string `json:"operation,omitempty"`
	Pages     int    `json:"pages,omitempty"`
	Items     int    `json:"items,omitempty"`
	Batches   int    `json:"batches,omitempty"`
	// Superseded counts the items of a credential-items job not sent: a
	// later push of them was already sent (the shared-state table's marks).
	Superseded int             `json:"superseded,omitempty"`
	CredID     string          `json:"credId,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// Error is a failed run; its message is what Lambda records.
type Error struct {
	Job string
	Err error
}

func (e *Error) Error() string {
	if e.Job == "" { // the input was refused before a job could be named
		return e.Err.Error()
	}
	return fmt.Sprintf("job %s failed: %v", e.Job, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// ErrBadInput is a job that cannot be understood; retrying will not help.
var ErrBadInput = errors.New("invalid job input")

// Runner runs jobs. Galxe is required unless GalxeErr says why it is missing.
type Runner struct {
	Galxe    galxe.Caller
	GalxeErr error
	// State orders credential-items jobs with every other push of the fleet
	// (DESIGN.md §11), at the time the job started; nil: no ordering, unless
	// StateErr says why a configured table is missing (then those jobs fail:
	// sent unordered, they could undo later pushes).
	State    *state.Table
	StateErr error
	Log      *slog.Logger
	// Metrics, when set, receives CanaryHealthy (1 or 0) after each canary:
	// the alarm watches the canary alone, and a canary that never reports
	// (a crash, a timeout, a schedule that stopped) leaves the metric missing.
	Metrics *obs.Metrics
	// PageDelay spaces the pages of an allPages run (Galxe's guides leave
	// 100 to 500 ms between pages).
	PageDelay time.Duration
	// MaxPages bounds an allPages run.
	MaxPages int
	warm     atomic.Bool
}

// DefaultPageDelay and DefaultMaxPages apply when the Runner's are zero.
const (
	DefaultPageDelay = 100 * time.Millisecond
	DefaultMaxPages  = 10000
)

// Parse reads a job from the event: a job object, or an EventBridge event
// whose detail is one; a scheduled event with an empty detail is the canary.
// The input is decoded in place (no copy of a detail or of the whole
// event): a credential-items job may carry megabytes of items.
func Parse(raw []byte) (Job, error) {
	var probe struct {
		Job        *string `json:"job"`
		DetailType *string `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Job{}, fmt.Errorf("%w: not a JSON object: %v", ErrBadInput, err)
	}
	var j Job
	switch {
	case probe.Job != nil:
		if err := strictjson.Unmarshal(raw, &j); err != nil {
			return Job{}, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
	case probe.DetailType != nil:
		var ev struct {
			Detail detail `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return Job{}, fmt.Errorf("%w: detail: %v", ErrBadInput, err)
		}
		if ev.Detail.job == nil { // a classic scheduled event
			return Job{Job: Canary}, nil
		}
		j = *ev.Detail.job
	default:
		return Job{}, fmt.Errorf("%w: want {\"job\":…} or an EventBridge event", ErrBadInput)
	}
	switch j.Job {
	case Canary:
		if j.CredID != "" && !credentials.ValidCredID(j.CredID) {
			return Job{}, fmt.Errorf("%w: credId must be digits", ErrBadInput)
		}
	case Operation:
		op, err := galxe.LookupOperation(j.Operation)
		if err != nil {
			return Job{}, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		if op.Mutation {
			return Job{}, fmt.Errorf("%w: %s is a mutation; push items with the credential-items job", ErrBadInput, op.Name)
		}
		if v := bytes.TrimSpace(j.Variables); len(v) > 0 && v[0] != '{' && !bytes.Equal(v, []byte("null")) {
			return Job{}, fmt.Errorf("%w: variables must be an object", ErrBadInput)
		}
		if j.AllPages && pagers[j.Operation] == nil {
			return Job{}, fmt.Errorf("%w: %s has no pages", ErrBadInput, j.Operation)
		}
	case CredentialItems:
		if !credentials.ValidCredID(j.CredID) {
			return Job{}, fmt.Errorf("%w: credId must be digits", ErrBadInput)
		}
		if !credentials.ValidOperation(j.Operation) {
			return Job{}, fmt.Errorf("%w: operation must be APPEND, REMOVE or REPLACE", ErrBadInput)
		}
		if len(j.Items) == 0 {
			return Job{}, fmt.Errorf("%w: items must be a non-empty array", ErrBadInput)
		}
	default:
		name := j.Job
		if len(name) > 64 {
			name = name[:64] + "…"
		}
		return Job{}, fmt.Errorf("%w: unknown job %q (canary, operation, credential-items)", ErrBadInput, name)
	}
	return j, nil
}

// detail is an EventBridge event's detail: empty, or a job.
type detail struct{ job *Job }

func (d *detail) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) || bytes.Equal(b, []byte("{}")) {
		return nil
	}
	d.job = &Job{}
	return strictjson.Unmarshal(b, d.job)
}

// Invoke is the Lambda entry point (it implements lambda.Handler, so the
// runtime hands over the payload's bytes without decoding them first).
func (r *Runner) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	sum, err := r.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// Handle parses, runs and logs one job.
func (r *Runner) Handle(ctx context.Context, event []byte) (*Summary, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cold := !r.warm.Swap(true)
	start := time.Now()
	ctx, upstream := obs.WithUpstream(ctx)
	job, err := Parse(event)
	if err == nil {
		var sum *Summary
		sum, err = r.run(ctx, job, start)
		if job.Job == Canary && r.Metrics != nil {
			healthy := 0.0
			if err == nil {
				healthy = 1
			}
			r.Metrics.Emit(obs.Metric{Name: "CanaryHealthy", Unit: "Count", Values: []float64{healthy}})
		}
		if err == nil {
			attrs := append([]any{"job", job.Job, "operation", job.Operation, "calls", sum.Calls,
				"pages", sum.Pages, "items", sum.Items, "duration_ms", time.Since(start).Milliseconds(), "cold_start", cold},
				upstream.Attrs()...)
			if job.Job == CredentialItems && r.State != nil {
				attrs = append(attrs, "items_superseded", sum.Superseded)
				if r.Metrics != nil {
					r.Metrics.Emit(obs.Metric{Name: "ItemsSuperseded", Unit: "Count", Values: []float64{float64(sum.Superseded)}})
				}
			}
			log.InfoContext(ctx, "job done", attrs...)
			return sum, nil
		}
	}
	name := job.Job
	if name == "" {
		name = "(invalid input)"
	}
	attrs := append([]any{"job", name, "operation", job.Operation, "error", state.Detail(err),
		"duration_ms", time.Since(start).Milliseconds(), "cold_start", cold}, upstream.Attrs()...)
	var gerr *galxe.Error
	if errors.As(err, &gerr) {
		attrs = append(attrs, "code", gerr.Code, "category", gerr.Category)
	}
	log.ErrorContext(ctx, "job failed", attrs...)
	return nil, &Error{Job: job.Job, Err: err}
}

// Run runs one job, started now.
func (r *Runner) Run(ctx context.Context, j Job) (*Summary, error) {
	return r.run(ctx, j, time.Now())
}

// run runs one job that started at `started`: the time its pushes are
// ordered by.
func (r *Runner) run(ctx context.Context, j Job, started time.Time) (*Summary, error) {
	if r.Galxe == nil {
		if r.GalxeErr != nil {
			return nil, r.GalxeErr
		}
		return nil, errors.New("no Galxe client")
	}
	switch j.Job {
	case Canary:
		return r.canary(ctx, j)
	case Operation:
		return r.operation(ctx, j)
	case CredentialItems:
		items, invalid := credentials.Normalize(j.Items)
		if len(invalid) > 0 {
			return nil, fmt.Errorf("%w: %d invalid items, first at index %d: %s", ErrBadInput, len(invalid), invalid[0].Index, invalid[0].Reason)
		}
		if r.State == nil && r.StateErr != nil {
			return nil, fmt.Errorf("configuration error: the shared-state table is not usable, so the push cannot be ordered: %w", r.StateErr)
		}
		// Items a later push already sent are skipped (a REPLACE older
		// than the credential's last, whole).
		s, err := credentials.PushInOrder(ctx, r.Galxe, r.State, j.CredID, j.Operation, items, started)
		if err != nil {
			return nil, err
		}
		return &Summary{Job: j.Job, OK: true, Calls: s.Batches, CredID: s.CredID, Operation: s.Operation,
			Items: s.Items, Batches: s.Batches, Superseded: s.Superseded}, nil
	}
	return nil, fmt.Errorf("%w: unknown job %q", ErrBadInput, j.Job)
}

func (r *Runner) canary(ctx context.Context, j Job) (*Summary, error) {
	if _, err := r.Galxe.Do(ctx, "health", nil); err != nil {
		return nil, err
	}
	sum := &Summary{Job: Canary, OK: true, Calls: 1}
	if j.CredID != "" {
		res, err := r.Galxe.Do(ctx, "credential", map[string]string{"id": j.CredID})
		if err != nil {
			return nil, err
		}
		sum.Calls++
		sum.CredID, sum.Data = j.CredID, res.Data
	}
	return sum, nil
}
