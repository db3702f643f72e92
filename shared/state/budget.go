package state

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The account's budget (DESIGN.md §11 "One account budget") is one item,
// budget#account, holding two cursors. Slots are spaced evenly, so no
// sliding second holds more than the account's rate however the slots are
// shared between instances. Every change is a compare-and-swap of both
// cursors against the values last seen: a refusal carries the stored ones
// (ALL_OLD), so an instance never reads the item to take a slot. Cursors
// only move forward, so a value seen earlier is never ahead of the stored
// one: a slot that is not due by the last value seen is not due at all.
const (
	attrNext       = "next" // epoch ms: the account's earliest free slot
	attrBackground = "bg"   // epoch ms: the earliest slot background callers may take
)

// budgetTTL is how long the item outlives its cursors: once they are past,
// it says nothing a missing item would not.
const budgetTTL = 10 * time.Minute

// budgetTries bounds the compare-and-swap loop of one take: each refusal
// brings the current cursors, so only a write lost to another instance on
// every try ends it.
const budgetTries = 8

func budgetKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("budget#account")}
}

// Account is the account's budget as an instance last saw it. Keep the one
// each call returns and pass it to the next: the write compares it with
// the stored item. The zero Account is "nothing seen yet".
type Account struct {
	next, background int64 // epoch ms
	stored           bool  // the item existed when seen
}

// Next is the account's earliest free slot (the end of a pause, say).
func (a Account) Next() time.Time { return time.UnixMilli(a.next) }

// BackgroundDue is when a background caller may take its next slot: when no
// foreground caller holds a later one and the background's own share allows.
func (a Account) BackgroundDue() time.Time { return time.UnixMilli(max(a.next, a.background)) }

// SlotRequest asks for slots of the account's budget.
type SlotRequest struct {
	// Deadlines has one entry per slot wanted, earliest first; a slot later
	// than its deadline is not taken, and the next caller may have it.
	Deadlines []time.Time
	// Every is the spacing of the account's slots: 1/ACCOUNT_QPS.
	Every time.Duration
	// BackgroundEvery, when positive, makes this a background take: at most
	// one slot, for the first request whose deadline has not passed, only
	// one due now (never ahead), and at least BackgroundEvery
	// (1/(ACCOUNT_QPS − FOREGROUND_QPS)) after the last background slot.
	BackgroundEvery time.Duration
}

// ErrContended says that other instances took slots before each of this
// take's writes: the table is fine, and the caller tries again shortly.
var ErrContended = errors.New("the account's budget kept changing")

// TakeSlots takes slots for the requests in one conditional write (and one
// more for each write another instance made first). Foreground slots are
// the earliest free ones, from max(stored cursor, now), each Every after the
// last, and may lie in the future: the caller waits for it. slots[i] is the
// slot of Deadlines[i], zero when none was taken; the returned Account is
// the state to pass next time, also when nothing was taken (its Next and
// BackgroundDue say when to try again).
func (t *Table) TakeSlots(ctx context.Context, seen Account, r SlotRequest) ([]time.Time, Account, error) {
	for range budgetTries {
		now := t.now().UnixMilli()
		slots, next := planSlots(seen, r, now)
		if next == seen {
			return slots, seen, nil // nothing to take: no write
		}
		old, refused, err := t.swapAccount(ctx, seen, next)
		if err != nil {
			return nil, seen, failed("budget", err)
		}
		if !refused {
			return slots, next, nil
		}
		seen = old
	}
	return nil, seen, ErrContended
}

// planSlots gives each request its slot from the cursors seen, and the
// cursors after them; next == seen when nothing is taken.
func planSlots(seen Account, r SlotRequest, now int64) ([]time.Time, Account) {
	slots := make([]time.Time, len(r.Deadlines))
	every := ceilMs(r.Every)
	next := seen
	if r.BackgroundEvery > 0 {
		first := 0 // the first caller whose deadline has not passed
		for first < len(r.Deadlines) && r.Deadlines[first].UnixMilli() < now {
			first++
		}
		if first == len(r.Deadlines) || max(seen.next, seen.background) > now {
			return slots, seen
		}
		slots[first] = time.UnixMilli(now)
		next.next, next.background = now+every, now+ceilMs(r.BackgroundEvery)
		next.stored = true
		return slots, next
	}
	base, taken := max(seen.next, now), int64(0)
	for i, d := range r.Deadlines {
		if s := base + taken*every; s <= d.UnixMilli() {
			slots[i] = time.UnixMilli(s)
			taken++
		}
	}
	if taken == 0 {
		return slots, seen
	}
	next.next, next.stored = base+taken*every, true
	return slots, next
}

// ceilMs is d in whole milliseconds, rounded up (at least 1): a spacing
// rounded down would let a second hold one slot too many.
func ceilMs(d time.Duration) int64 {
	return max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
}

// PauseAccount moves the account's earliest free slot forward to until (a
// 429's Retry-After), never back: every instance's next take is refused by
// the moved cursor and finds the pause in the refusal.
func (t *Table) PauseAccount(ctx context.Context, seen Account, until time.Time) (Account, error) {
	if seen.stored && seen.next >= until.UnixMilli() {
		return seen, nil // already paused as long (cursors only move forward)
	}
	// One write that cannot lose a race: it moves the cursor only forward,
	// and a refusal means it already lies at or past until.
	out, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(t.Name),
		Key:                      budgetKey(),
		UpdateExpression:         aws.String("SET #next = :until, #bg = if_not_exists(#bg, :zero), #expires = :expires"),
		ConditionExpression:      aws.String("attribute_not_exists(#pk) OR #next < :until"),
		ExpressionAttributeNames: map[string]string{"#pk": attrKey, "#next": attrNext, "#bg": attrBackground, "#expires": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":until": num(until.UnixMilli()), ":zero": num(0),
			":expires": num(until.Add(budgetTTL).Unix())},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, refused := conditionFailed(err); refused {
		if len(old) == 0 {
			return seen, nil // paused as long by another instance; the next take learns by how much
		}
		return accountOf(old), nil
	}
	if err != nil {
		return seen, failed("budget", err)
	}
	return accountOf(out.Attributes), nil
}

// swapAccount writes next where the stored item is still seen; refused, it
// returns the stored item (from the refusal, or a consistent read where the
// table returns none with it).
func (t *Table) swapAccount(ctx context.Context, seen, next Account) (Account, bool, error) {
	item := budgetKey()
	item[attrNext] = num(next.next)
	item[attrBackground] = num(next.background)
	item[attrExpires] = num(time.UnixMilli(max(next.next, next.background, t.now().UnixMilli())).Add(budgetTTL).Unix())
	in := &dynamodb.PutItemInput{
		TableName:                           aws.String(t.Name),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrKey},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if seen.stored {
		in.ConditionExpression = aws.String("#next = :next AND #bg = :bg")
		in.ExpressionAttributeNames = map[string]string{"#next": attrNext, "#bg": attrBackground}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":next": num(seen.next), ":bg": num(seen.background)}
	}
	_, err := t.Client.PutItem(ctx, in)
	old, refused := conditionFailed(err)
	if !refused {
		return Account{}, false, err
	}
	if len(old) == 0 && !seen.stored {
		// Refused as existing, yet returned without the item: a table
		// that does not return ALL_OLD (dynalite). Read it.
		out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: budgetKey(), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return Account{}, false, err
		}
		old = out.Item
	}
	return accountOf(old), true, nil
}

// accountOf reads a stored budget item; an empty one (deleted by TTL since
// it was seen) is the zero Account. An expired item is used as it is: its
// cursors lie in the past, where they allow what a missing item would.
func accountOf(item map[string]types.AttributeValue) Account {
	if len(item) == 0 {
		return Account{}
	}
	return Account{next: getN(item, attrNext), background: getN(item, attrBackground), stored: true}
}
