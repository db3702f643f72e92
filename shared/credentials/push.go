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
	return pushBatches(ctx, c, credID, op, items, nil)
}

// pushBatches is Push with, when keep is set, a step before each batch's
// call that says which of its items to send (the others are superseded):
// the marks of one batch are taken while earlier batches' calls are on
// their way, so a large push keeps Galxe's pace.
func pushBatches(ctx context.Context, c galxe.Caller, credID, op string, items []string,
	keep func(ctx context.Context, batch []string) ([]string, error)) (Summary, error) {
	sum := Summary{CredID: credID, Operation: op}
	if op == Replace && len(items) > BatchSize {
		return sum, ErrReplaceTooLarge
	}
	var (
		mu   sync.Mutex
		done int // items sent or superseded
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Concurrency)
	for _, b := range split(items) {
		if gctx.Err() != nil {
			break // a batch failed: start no more
		}
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil
			}
			send := b
			if keep != nil {
				var err error
				if send, err = keep(gctx, b); err != nil {
					return err
				}
			}
			if len(send) > 0 {
				if _, err := c.Do(gctx, "credentialItems", mutation{CredID: credID, Operation: op, Items: send}); err != nil {
					return err
				}
			}
			mu.Lock()
			done += len(b)
			sum.Superseded += len(b) - len(send)
			sum.Items += len(send)
			if len(send) > 0 {
				sum.Batches++
			}
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
func PushInOrder(ctx context.Context, c galxe.Caller, t *state.Table, credID, op string, items []string, at time.Time) (sum Summary, err error) {
	if t == nil {
		return Push(ctx, c, credID, op, items)
	}
	defer func() {
		// The fleet's cached reads of the credential are stale once a push
		// may have reached Galxe (a failed call may have been applied; a
		// failing table sent nothing, and would fail the bump too).
		if sum.Batches > 0 || err != nil && !errors.As(err, new(*state.Error)) {
			_ = t.BumpGeneration(ctx, credID)
		}
	}()
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
			uctx, cancel := state.AfterWork(ctx, 2*time.Second, state.AnswerReserve)
			defer cancel()
			_ = t.UndoReplace(uctx, credID, at.UnixMilli())
		}
		return sum, err
	}
	// Each batch takes its marks just before its call, so a large push
	// keeps Galxe's pace; the marks leave the end of the budget for answering.
	return pushBatches(ctx, c, credID, op, items, func(bctx context.Context, batch []string) ([]string, error) {
		marks := make([]state.Mark, len(batch))
		for i, it := range batch {
			marks[i] = state.Mark{CredID: credID, Item: it, Op: op, At: at.UnixMilli()}
		}
		if d, ok := bctx.Deadline(); ok {
			var cancel context.CancelFunc
			bctx, cancel = context.WithDeadline(bctx, d.Add(-MarkReserve))
			defer cancel()
		}
		taken, err := t.TakeMarks(bctx, marks)
		if err != nil {
			return nil, err
		}
		send := make([]string, 0, len(batch))
		for i, it := range batch {
			if taken[i] {
				send = append(send, it)
			}
		}
		return send, nil
	})
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
