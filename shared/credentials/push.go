package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"golang.org/x/sync/errgroup"
)

// Summary is what a push did.
type Summary struct {
	CredID    string `json:"credId"`
	Operation string `json:"operation"`
	Items     int    `json:"items"`   // distinct items sent
	Batches   int    `json:"batches"` // Galxe calls made
	// Superseded counts the items not sent because a later push of them
	// was already sent (PushInOrder); not part of any answer.
	Superseded int `json:"-"`
}

// Progress counts, in distinct items, how far a failed push got.
type Progress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// PushError is a push that failed after some batches may have succeeded.
// APPEND and REMOVE are idempotent: the caller can resend the whole request.
type PushError struct {
	Err      error
	Progress Progress
}

func (e *PushError) Error() string {
	return fmt.Sprintf("credential items: %d of %d done: %v", e.Progress.Done, e.Progress.Total, e.Err)
}
func (e *PushError) Unwrap() error { return e.Err }

// ErrReplaceTooLarge refuses a REPLACE that would need more than one call:
// REPLACE is not transactional, so a second batch would undo the first.
var ErrReplaceTooLarge = fmt.Errorf("REPLACE takes at most %d items (it is not transactional; use REMOVE then APPEND)", BatchSize)

// Concurrency is how many batches of an APPEND or REMOVE are in flight at
// once; the client's rate limit paces them, this only keeps the pipe full
// while answers are on their way.
const Concurrency = 8

type mutation struct {
	CredID    string   `json:"credId"`
	Operation string   `json:"operation"`
	Items     []string `json:"items"`
}

// Push sends normalised, distinct items in batches of at most BatchSize.
// APPEND and REMOVE batches run concurrently; on the first failure no new
// batch starts, and the error is a *PushError with the progress made.
func Push(ctx context.Context, c galxe.Caller, credID, op string, items []string) (Summary, error) {
	sum := Summary{CredID: credID, Operation: op, Items: len(items)}
	if op == Replace && len(items) > BatchSize {
		return sum, ErrReplaceTooLarge
	}
	batches := split(items)
	sum.Batches = len(batches)

	var (
		mu   sync.Mutex
		done int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	for _, b := range batches {
		if gctx.Err() != nil {
			break // a batch failed: start no more
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil
			}
			if _, err := c.Do(gctx, "credentialItems", mutation{CredID: credID, Operation: op, Items: b}); err != nil {
				return err
			}
			mu.Lock()
			done += len(b)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return sum, &PushError{Err: err, Progress: Progress{Done: done, Total: len(items)}}
	}
	if done != len(items) { // the caller's context ended between batches
		err := ctx.Err()
		if err == nil {
			err = errors.New("push stopped early")
		}
		return sum, &PushError{Err: err, Progress: Progress{Done: done, Total: len(items)}}
	}
	return sum, nil
}

// MarkReserve is kept back from the context's deadline when marks are
// taken, for answering if the table does not answer.
const MarkReserve = 500 * time.Millisecond

// PushInOrder is Push for a push accepted at `at`, ordered against every
// other push of the same credential across the fleet by the shared-state
// table's marks (DESIGN.md §11), taken before anything is sent: a REPLACE
// older than the credential's last is superseded whole; an APPEND or REMOVE
// sends only the items whose marks it takes (the others were pushed later,
// or replaced since). Summary.Superseded counts the items not sent. A table
// that cannot be used fails the push with its *state.Error before anything
// is sent. Without a table (nil), it is Push.
func PushInOrder(ctx context.Context, c galxe.Caller, t *state.Table, credID, op string, items []string, at time.Time) (Summary, error) {
	if t == nil {
		return Push(ctx, c, credID, op, items)
	}
	none := Summary{CredID: credID, Operation: op}
	if op == Replace && len(items) > BatchSize {
		return none, ErrReplaceTooLarge // refused before it is recorded
	}
	// The marks may wait for an earlier push still on its way: they leave
	// the end of the budget for answering.
	mctx := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		mctx, cancel = context.WithDeadline(ctx, d.Add(-MarkReserve))
		defer cancel()
	}
	if op == Replace {
		latest, err := t.TakeReplace(mctx, credID, at.UnixMilli())
		if err != nil {
			return none, err
		}
		if !latest {
			none.Superseded = len(items)
			return none, nil
		}
		sum, err := Push(ctx, c, credID, op, items)
		if refusedForGood(err) {
			// Nothing was replaced: pushes accepted before this REPLACE must
			// not be skipped as older than it. With a context of its own: the
			// budget may be spent.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = t.UndoReplace(uctx, credID, at.UnixMilli())
		}
		return sum, err
	}
	marks := make([]state.Mark, len(items))
	for i, it := range items {
		marks[i] = state.Mark{CredID: credID, Item: it, Op: op, At: at.UnixMilli()}
	}
	taken, err := t.TakeMarks(mctx, marks)
	if err != nil {
		return none, err
	}
	send := make([]string, 0, len(items))
	for i, it := range items {
		if taken[i] {
			send = append(send, it)
		}
	}
	sum, err := Push(ctx, c, credID, op, send)
	sum.Superseded = len(items) - len(send)
	return sum, err
}

// split cuts items into batches of at most BatchSize, evenly sized.
func split(items []string) [][]string {
	if len(items) == 0 {
		return nil
	}
	n := (len(items) + BatchSize - 1) / BatchSize
	out := make([][]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, items[i*len(items)/n:(i+1)*len(items)/n])
	}
	return out
}

// refusedForGood reports whether Galxe refused a push in a way no retry
// changes (the request will not come again as it is).
func refusedForGood(err error) bool {
	var ge *galxe.Error
	if !errors.As(err, &ge) {
		return false
	}
	switch ge.Category {
	case galxe.CategoryValidation, galxe.CategoryNotFound, galxe.CategoryAuthorization:
		return true
	}
	return false
}
