package galxe_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
)

// fakeBudget records what the client asks of a fleet budget and refuses
// slots from the refuseFrom-th Admit on (0: never).
type fakeBudget struct {
	mu         sync.Mutex
	deadlines  []time.Time
	observed   []galxe.Attempt
	refuseFrom int
	refusal    *galxe.Error
}

func (b *fakeBudget) Admit(_ context.Context, deadline time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadlines = append(b.deadlines, deadline)
	if b.refuseFrom > 0 && len(b.deadlines) >= b.refuseFrom {
		return b.refusal
	}
	return nil
}

func (b *fakeBudget) Observe(_ context.Context, a galxe.Attempt) {
	b.mu.Lock()
	b.observed = append(b.observed, a)
	b.mu.Unlock()
}

var noSlot = &galxe.Error{Code: galxe.CodeRateLimited, Category: galxe.CategoryRateLimit, RetryAfter: 2 * time.Second, Message: "no slot"}

// Every attempt takes a slot, with the budget's deadline, and is reported.
func TestBudgetAdmitsEveryAttempt(t *testing.T) {
	b := &fakeBudget{}
	f := newFixture(t, galxetest.Options{}, galxe.Config{Budget: b, Reserve: 300 * time.Millisecond})
	f.srv.Fail(galxetest.ErrorFault("INTERNAL_ERROR"))
	ctx, cancel := withTimeout(3 * time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	if _, err := f.client.Do(ctx, "health", nil); err != nil {
		t.Fatal(err)
	}
	if len(b.deadlines) != 2 || len(b.observed) != 2 || b.observed[0].Err == nil || b.observed[1].Err != nil {
		t.Fatalf("%d admitted, observed %+v", len(b.deadlines), b.observed)
	}
	for _, d := range b.deadlines {
		if !d.Equal(want.Add(-300*time.Millisecond - galxe.MinAttemptTime)) {
			t.Fatalf("deadline %v, want the context's less the reserve and a request's least time", d)
		}
	}
}

// No slot: the call ends at once, without a request, with the budget's
// RATE_LIMITED; after a failed attempt, with that attempt's error, as the
// process's own limit does; a spent quota is said as such.
func TestBudgetRefusalEndsTheCall(t *testing.T) {
	b := &fakeBudget{refuseFrom: 1, refusal: noSlot}
	f := newFixture(t, galxetest.Options{}, galxe.Config{Budget: b})
	_, err := f.client.Do(context.Background(), "health", nil)
	if ge := asError(t, err); ge != noSlot || ge.Attempts != 0 || f.srv.Requests() != 0 {
		t.Fatalf("%v after %d attempts, %d requests", err, ge.Attempts, f.srv.Requests())
	}

	b = &fakeBudget{refuseFrom: 2, refusal: noSlot}
	f = newFixture(t, galxetest.Options{}, galxe.Config{Budget: b})
	f.srv.Fail(galxetest.ErrorFault("UNAVAILABLE"))
	_, err = f.client.Do(context.Background(), "health", nil)
	if ge := asError(t, err); ge.Code != "UNAVAILABLE" || ge.Attempts != 1 {
		t.Fatalf("%v after %d attempts, want the upstream error", err, ge.Attempts)
	}

	spent := &galxe.Error{Code: "QUOTA_EXCEEDED", Category: galxe.CategoryRateLimit, QuotaSpent: true, RetryAfter: time.Hour}
	b = &fakeBudget{refuseFrom: 2, refusal: spent}
	f = newFixture(t, galxetest.Options{}, galxe.Config{Budget: b})
	f.srv.Fail(galxetest.ErrorFault("UNAVAILABLE"))
	_, err = f.client.Do(context.Background(), "health", nil)
	if ge := asError(t, err); !ge.QuotaSpent || ge.Attempts != 1 {
		t.Fatalf("%v, want the spent quota", err)
	}
}
