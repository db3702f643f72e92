package state_test

import (
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// A leased mark holds off every later push of its item until the lease
// ends (its push may still be on its way to Galxe); an older push is
// superseded at once, and the same push is taken again under a lease at
// least as long.
func TestLeasedMarkHoldsOffLaterPushes(t *testing.T) {
	tables, _, clk := newTables(t, 2)
	a, b := tables[0], tables[1]
	lease := clk.Now().Add(time.Minute)
	take := func(tb *state.Table, op string, at int64, until time.Time) state.MarkResult {
		t.Helper()
		got, busyUntil, err := tb.TakeMarksWith(ctx(t), []state.Mark{{CredID: "7", Item: "0xabc", Op: op, At: at}}, state.MarkOptions{Until: until})
		if err != nil {
			t.Fatal(err)
		}
		// A busy mark says when its lease ends: the first push's, and a margin.
		if (got[0] == state.MarkBusy) != !busyUntil.IsZero() || (!busyUntil.IsZero() && (busyUntil.Before(lease) || busyUntil.After(lease.Add(5*time.Second)))) {
			t.Fatalf("%v, busy until %v (the lease ends %v)", got[0], busyUntil, lease)
		}
		return got[0]
	}
	if r := take(a, "APPEND", 100, lease); r != state.MarkTaken {
		t.Fatalf("first mark: %v", r)
	}
	if r := take(b, "REMOVE", 200, lease.Add(time.Minute)); r != state.MarkBusy {
		t.Fatalf("a later push during the lease: %v, want busy", r)
	}
	if r := take(b, "APPEND", 150, time.Time{}); r != state.MarkBusy {
		t.Fatalf("a later push of the same operation during the lease: %v, want busy", r)
	}
	if r := take(b, "APPEND", 50, time.Time{}); r != state.MarkSuperseded {
		t.Fatalf("an older push: %v, want superseded", r)
	}
	if r := take(b, "APPEND", 100, lease.Add(-time.Second)); r != state.MarkBusy {
		t.Fatalf("the same push under a shorter lease: %v, want busy", r)
	}
	if r := take(b, "APPEND", 100, lease); r != state.MarkTaken {
		t.Fatalf("the same push again (a duplicate delivery): %v", r)
	}
	clk.Advance(2 * time.Minute) // past the lease and its margin
	if r := take(b, "REMOVE", 200, time.Time{}); r != state.MarkTaken {
		t.Fatalf("the later push after the lease: %v", r)
	}
	if r := take(a, "APPEND", 100, clk.Now().Add(time.Minute)); r != state.MarkSuperseded {
		t.Fatalf("the older push retried after the later one: %v", r)
	}
}

// TakeMarks (and WaitBusy) waits for a busy mark's lease to end, then takes
// it: a later push never comes back refused because an earlier one was on
// its way.
func TestTakeMarksWaitsForTheLease(t *testing.T) {
	tables, _, _ := newTables(t, 2)
	for _, tb := range tables {
		tb.Now = nil // the real clock: the wait is real
	}
	mark := state.Mark{CredID: "8", Item: "a@b.c", Op: "APPEND", At: 100}
	got, _, err := tables[0].TakeMarksWith(ctx(t), []state.Mark{mark}, state.MarkOptions{Until: time.Now()})
	if err != nil || got[0] != state.MarkTaken {
		t.Fatal(got, err)
	}
	later := state.Mark{CredID: "8", Item: "a@b.c", Op: "REMOVE", At: 200}
	taken, err := tables[1].TakeMarks(ctx(t), []state.Mark{later})
	if err != nil || !taken[0] {
		t.Fatalf("the later push after the lease: %v %v", taken, err)
	}
}
