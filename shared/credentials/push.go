package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"golang.org/x/sync/errgroup"
)

// Summary is what a push did.
type Summary struct {
	CredID    string `json:"credId"`
	Operation string `json:"operation"`
	Items     int    `json:"items"`   // distinct items sent
	Batches   int    `json:"batches"` // Galxe calls made
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
