package state_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const every = 100 * time.Millisecond // 10 requests a second

func far(clk *dynamotest.Clock, n int) []time.Time {
	d := make([]time.Time, n)
	for i := range d {
		d[i] = clk.Now().Add(time.Minute)
	}
	return d
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Several slots are taken in one write; a second instance, knowing nothing,
// is refused once, learns the cursor from the refusal (no read) and takes
// the slots after the first instance's.
func TestSlotsTakenInOneWriteAcrossInstances(t *testing.T) {
	tables, srv, clk := newTables(t, 2)
	now := ms(clk.Now())
	slots, seenA, err := tables[0].TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 3), Every: every})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range slots {
		if ms(s) != now+int64(i)*100 {
			t.Fatalf("slot %d at +%d ms, want +%d", i, ms(s)-now, i*100)
		}
	}
	if srv.Calls("PutItem") != 1 {
		t.Fatalf("%d writes for three slots", srv.Calls("PutItem"))
	}
	slots, seenB, err := tables[1].TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 2), Every: every})
	if err != nil {
		t.Fatal(err)
	}
	if ms(slots[0]) != now+300 || ms(slots[1]) != now+400 || ms(seenB.Next()) != now+500 {
		t.Fatalf("second instance's slots %v (next %v), want +300 and +400", slots, seenB.Next())
	}
	if srv.Calls("PutItem") != 3 || srv.Calls("GetItem") != 0 {
		t.Fatalf("%d writes and %d reads, want 3 and none", srv.Calls("PutItem"), srv.Calls("GetItem"))
	}
	// The first instance's memory is stale: one refusal, then the slot after.
	slots, _, err = tables[0].TakeSlots(ctx(t), seenA, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	if err != nil || ms(slots[0]) != now+500 {
		t.Fatalf("stale instance: %v %v", slots, err)
	}
}

// A slot later than its caller's deadline is not taken; a later caller of
// the same take may have it; nothing taken, nothing written.
func TestSlotsRespectDeadlines(t *testing.T) {
	tables, srv, clk := newTables(t, 1)
	tb := tables[0]
	now := ms(clk.Now())
	_, seen, err := tb.TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 5), Every: every})
	if err != nil {
		t.Fatal(err)
	}
	writes := srv.Calls("PutItem")
	slots, seen, err := tb.TakeSlots(ctx(t), seen, state.SlotRequest{Deadlines: []time.Time{clk.Now().Add(300 * time.Millisecond)}, Every: every})
	if err != nil || !slots[0].IsZero() || srv.Calls("PutItem") != writes {
		t.Fatalf("a slot past the deadline: %v %v (%d writes)", slots, err, srv.Calls("PutItem")-writes)
	}
	if ms(seen.Next()) != now+500 {
		t.Fatalf("next free slot +%d ms", ms(seen.Next())-now)
	}
	slots, _, err = tb.TakeSlots(ctx(t), seen, state.SlotRequest{
		Deadlines: []time.Time{clk.Now().Add(200 * time.Millisecond), clk.Now().Add(600 * time.Millisecond), clk.Now().Add(time.Second)}, Every: every})
	if err != nil || !slots[0].IsZero() || ms(slots[1]) != now+500 || ms(slots[2]) != now+600 {
		t.Fatalf("mixed deadlines: %v %v", slots, err)
	}
}

// Background takes only a slot due now, at most one, spaced by its own
// share, and never while a foreground caller holds a later slot.
func TestBackgroundTakesOnlyDueSlots(t *testing.T) {
	tables, _, clk := newTables(t, 2)
	fg, bg := tables[0], tables[1]
	bgReq := state.SlotRequest{Deadlines: far(clk, 3), Every: every, BackgroundEvery: 125 * time.Millisecond}
	slots, seen, err := bg.TakeSlots(ctx(t), state.Account{}, bgReq)
	if err != nil || ms(slots[0]) != ms(clk.Now()) || !slots[1].IsZero() || !slots[2].IsZero() {
		t.Fatalf("first background take: %v %v", slots, err)
	}
	if got := ms(seen.BackgroundDue()) - ms(clk.Now()); got != 125 {
		t.Fatalf("background due in %d ms, want its share's spacing", got)
	}
	clk.Advance(100 * time.Millisecond) // the account's slot is free, the background's share is not
	if slots, _, _ := bg.TakeSlots(ctx(t), seen, bgReq); !slots[0].IsZero() {
		t.Fatalf("background within its spacing: %v", slots)
	}
	// Foreground takes the free slots, ahead; background waits behind them.
	if _, _, err := fg.TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 4), Every: every}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Millisecond)
	slots, seen, err = bg.TakeSlots(ctx(t), seen, bgReq)
	if err != nil || !slots[0].IsZero() {
		t.Fatalf("background behind foreground: %v %v", slots, err)
	}
	if due := ms(seen.BackgroundDue()) - ms(clk.Now()); due != 350 {
		t.Fatalf("background due in %d ms, want after the foreground's four slots", due)
	}
	clk.Advance(350 * time.Millisecond)
	// The slot goes to the first caller whose deadline has not passed.
	bgReq.Deadlines = []time.Time{clk.Now().Add(-time.Millisecond), clk.Now().Add(time.Second)}
	if slots, _, err = bg.TakeSlots(ctx(t), seen, bgReq); err != nil || !slots[0].IsZero() || ms(slots[1]) != ms(clk.Now()) {
		t.Fatalf("background once due: %v %v", slots, err)
	}
}

// A pause moves the cursor forward only; another instance sees it in the
// refusal of its next take, without a read.
func TestPauseSeenWithoutRead(t *testing.T) {
	tables, srv, clk := newTables(t, 2)
	a, b := tables[0], tables[1]
	_, seenB, err := b.TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	if err != nil {
		t.Fatal(err)
	}
	until := clk.Now().Add(5 * time.Second)
	seenA, err := a.PauseAccount(ctx(t), state.Account{}, until)
	if err != nil || !seenA.Next().Equal(until.Truncate(time.Millisecond)) {
		t.Fatalf("pause: %v %v", seenA.Next(), err)
	}
	if back, err := a.PauseAccount(ctx(t), seenA, clk.Now().Add(time.Second)); err != nil || !back.Next().Equal(seenA.Next()) {
		t.Fatalf("a shorter pause moved the cursor back: %v %v", back.Next(), err)
	}
	slots, _, err := b.TakeSlots(ctx(t), seenB, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	if err != nil || ms(slots[0]) != ms(until) {
		t.Fatalf("slot after the pause: %v %v", slots, err)
	}
	if srv.Calls("GetItem") != 0 {
		t.Fatalf("%d reads", srv.Calls("GetItem"))
	}
	// Background sees it too.
	if slots, _, _ := b.TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 1), Every: every, BackgroundEvery: time.Second}); !slots[0].IsZero() {
		t.Fatalf("background during a pause: %v", slots)
	}
}

// An expired item still in the table (TTL deletion runs late) allows what a
// missing one would: its cursors lie in the past.
func TestExpiredBudgetItem(t *testing.T) {
	tables, _, clk := newTables(t, 1)
	_, seen, err := tables[0].TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	slots, _, err := tables[0].TakeSlots(ctx(t), seen, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	if err != nil || ms(slots[0]) != ms(clk.Now()) {
		t.Fatalf("%v %v", slots, err)
	}
}

func TestBudgetFailuresAreTyped(t *testing.T) {
	tables, srv, clk := newTables(t, 1)
	tb := tables[0]
	tb.Client = srv.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	srv.Fail("PutItem", dynamotest.Throttled)
	_, _, err := tb.TakeSlots(ctx(t), state.Account{}, state.SlotRequest{Deadlines: far(clk, 1), Every: every})
	var se *state.Error
	if !errors.As(err, &se) || se.Permanent {
		t.Fatalf("throttled: %v", err)
	}
	missing := &state.Table{Client: srv.Client(), Name: "no-such-table", Now: clk.Now}
	if _, err := missing.PauseAccount(ctx(t), state.Account{}, clk.Now().Add(time.Second)); !errors.As(err, &se) || !se.Permanent {
		t.Fatalf("a missing table: %v", err)
	}
}
