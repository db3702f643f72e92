package state

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultMarkTTL is how long an item's mark is kept: the push queue's
// retention (14 days) and a day, so no queued push outlives the mark that
// orders it.
const DefaultMarkTTL = 15 * 24 * time.Hour

// DefaultMarkWriters is how many marks are written at once: a mark is one
// conditional write (DynamoDB has no conditional batch write), so a batch
// of thousands is written many at a time.
const DefaultMarkWriters = 16

// leaseMargin is added to a lease: the last request of a call that ends at
// its deadline may still be on its way, and clocks differ a little.
const leaseMargin = time.Second

// A mark's attributes besides the key and expires (and attrUntil, its
// lease: until then its push may still reach Galxe, epoch ms; 0: none).
const (
	attrAt = "at" // when the push was accepted, epoch ms
	attrOp = "op" // APPEND or REMOVE
)

// Mark is one item of one push: its operation and when it was accepted.
type Mark struct {
	CredID, Item, Op string
	At               int64 // epoch ms
}

// MarkResult is what taking one mark found.
type MarkResult uint8

const (
	// MarkNotTaken: not written (the table failed, or the context ended
	// first); the push waits for a retry.
	MarkNotTaken MarkResult = iota
	// MarkTaken: the push is to be sent (before the lease ends).
	MarkTaken
	// MarkSuperseded: a later push of the item was taken, or the
	// credential's last REPLACE is later: sending this one would undo it.
	MarkSuperseded
	// MarkBusy: an earlier push of the item holds the mark under a lease
	// and may still reach Galxe; this one is to be taken after the lease.
	MarkBusy
)

// MarkOptions tune TakeMarksWith.
type MarkOptions struct {
	// Until is when the calls that carry the pushes end at the latest
	// (their context's deadline). The marks are leased until then (and a
	// margin): no other push of their items is taken before, so none can
	// reach Galxe first and then be undone by one of these. Zero: no
	// lease; a later push may then be sent while these are on their way.
	Until time.Time
	// Writers is how many marks are written at once; 0: DefaultMarkWriters.
	Writers int
	// WaitBusy waits, within the context, for the leases of busy marks to
	// end and takes them then; without it they come back MarkBusy.
	WaitBusy bool
}

func markKey(cred, item string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("mark#" + cred + "#" + item)}
}

func replaceKey(cred string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("replace#" + cred)}
}

// TakeMarks takes the mark of each item before its push is sent, and says
// which pushes are to be sent: a mark is taken when the stored one is older,
// or is the same operation at the same time (the retry of a push whose call
// failed). A push older than the credential's last REPLACE, or whose mark is
// refused, is superseded: a later push of the item was already sent, and
// sending this one would undo it. A mark leased by an earlier push still on
// its way is waited for. On an error, the marks not known to be taken are
// reported not taken (their pushes wait for a retry). TakeMarks takes no
// lease: a caller whose calls may overlap other pushes of the items (the
// pusher's) gives one with TakeMarksWith.
func (t *Table) TakeMarks(ctx context.Context, marks []Mark) ([]bool, error) {
	results, _, err := t.TakeMarksWith(ctx, marks, MarkOptions{WaitBusy: true})
	taken := make([]bool, len(marks))
	for i, r := range results {
		taken[i] = r == MarkTaken
	}
	return taken, err
}

// TakeMarksWith is TakeMarks with a lease, a number of writers and a choice
// to wait for busy marks or not (MarkOptions), saying of each mark what it
// found; busyUntil is when the last lease of the MarkBusy ones ends (zero
// when none is busy): they may be taken after it.
func (t *Table) TakeMarksWith(ctx context.Context, marks []Mark, opt MarkOptions) (results []MarkResult, busyUntil time.Time, err error) {
	results, busy, err := t.takeMarks(ctx, marks, opt)
	for opt.WaitBusy && err == nil && busy > 0 {
		wait := time.Duration(busy-t.now().UnixMilli()+1) * time.Millisecond
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return results, time.UnixMilli(busy), failed("mark", ctx.Err())
		case <-timer.C:
		}
		var idx []int
		for i, r := range results {
			if r == MarkBusy {
				idx = append(idx, i)
			}
		}
		again := make([]Mark, len(idx))
		for k, i := range idx {
			again[k] = marks[i]
		}
		var res []MarkResult
		res, busy, err = t.takeMarks(ctx, again, opt)
		for k, i := range idx {
			results[i] = res[k]
		}
	}
	if busy > 0 {
		busyUntil = time.UnixMilli(busy)
	}
	return results, busyUntil, err
}

// takeMarks is one pass over the marks; busyUntil is the latest lease of
// the busy ones (epoch ms), 0 when none is busy.
func (t *Table) takeMarks(ctx context.Context, marks []Mark, opt MarkOptions) (results []MarkResult, busyUntil int64, err error) {
	results = make([]MarkResult, len(marks))
	// Without a lease, the credentials' last REPLACEs are read while the
	// marks are written (a round trip less for a synchronous push): a mark
	// written for a push a REPLACE supersedes refuses only pushes older
	// than it, which that REPLACE supersedes too. A leased mark would hold
	// back later pushes of its item for nothing, so with a lease they are
	// read first.
	var (
		replaced   map[string]int64
		replaceErr error
		read       = make(chan struct{})
	)
	go func() {
		defer close(read)
		replaced, replaceErr = t.lastReplaces(ctx, marks)
	}()
	if opt.Until.IsZero() {
		results, busyUntil, err = t.writeMarks(ctx, marks, opt, nil)
		<-read
		if replaceErr != nil {
			return make([]MarkResult, len(marks)), 0, replaceErr
		}
		for i, m := range marks {
			if results[i] != MarkNotTaken && m.At < replaced[m.CredID] {
				results[i] = MarkSuperseded
			}
		}
		return results, busyUntil, err
	}
	<-read
	if replaceErr != nil {
		return results, 0, replaceErr
	}
	return t.writeMarks(ctx, marks, opt, replaced)
}

// lastReplaces reads the last REPLACE of each credential the marks name.
func (t *Table) lastReplaces(ctx context.Context, marks []Mark) (map[string]int64, error) {
	replaced := map[string]int64{}
	for _, m := range marks {
		if _, ok := replaced[m.CredID]; !ok {
			at, err := t.LastReplace(ctx, m.CredID)
			if err != nil {
				return nil, err
			}
			replaced[m.CredID] = at
		}
	}
	return replaced, nil
}

// writeMarks writes the marks, opt.Writers at a time; a push older than
// its credential's last REPLACE in replaced (nil: not known yet) is
// superseded without a write.
func (t *Table) writeMarks(ctx context.Context, marks []Mark, opt MarkOptions, replaced map[string]int64) (results []MarkResult, busyUntil int64, err error) {
	results = make([]MarkResult, len(marks))
	var until int64
	if !opt.Until.IsZero() {
		until = opt.Until.Add(leaseMargin).UnixMilli()
	}
	writers := opt.Writers
	if writers <= 0 {
		writers = DefaultMarkWriters
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(writers, len(marks)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(marks) || ctx.Err() != nil {
					return
				}
				m := marks[i]
				if m.At < replaced[m.CredID] {
					results[i] = MarkSuperseded
					continue
				}
				r, busy, err := t.takeMark(ctx, m, until)
				mu.Lock()
				busyUntil = max(busyUntil, busy)
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
				if err != nil {
					return
				}
				results[i] = r
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = failed("mark", ctx.Err())
	}
	return results, busyUntil, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// takeMark writes one mark leased until `until` (epoch ms; 0: no lease) when
// the stored one is older or the same push, and its lease has ended (or is
// the same push's, no longer than this one). A refusal reads the stored
// mark from the refusal itself (ALL_OLD), or with a consistent read where
// the table returns none, to tell a later push from a busy one.
func (t *Table) takeMark(ctx context.Context, m Mark, until int64) (MarkResult, int64, error) {
	for range 3 { // a mark that expired between the refusal and the read: take it again
		now := t.now()
		item := markKey(m.CredID, m.Item)
		item[attrAt] = num(m.At)
		item[attrOp] = str(m.Op)
		item[attrUntil] = num(until)
		item[attrExpires] = num(now.Add(DefaultMarkTTL).Unix())
		_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(t.Name),
			Item:      item,
			ConditionExpression: aws.String("attribute_not_exists(#pk) OR #expires <= :nowS OR " +
				"((#at < :at OR (#at = :at AND #op = :op)) AND " +
				"(attribute_not_exists(#until) OR #until < :nowMs OR (#at = :at AND #op = :op AND #until <= :until)))"),
			ExpressionAttributeNames: map[string]string{"#pk": attrKey, "#expires": attrExpires, "#at": attrAt, "#op": attrOp, "#until": attrUntil},
			ExpressionAttributeValues: map[string]types.AttributeValue{":nowS": num(now.Unix()), ":nowMs": num(now.UnixMilli()),
				":at": num(m.At), ":op": str(m.Op), ":until": num(until)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return MarkTaken, 0, nil
		}
		old, refused := conditionFailed(err)
		if !refused {
			return MarkNotTaken, 0, failed("mark", err)
		}
		if len(old) == 0 {
			out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: markKey(m.CredID, m.Item), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return MarkNotTaken, 0, failed("mark", err)
			}
			old = out.Item
		}
		if !t.live(old) {
			continue
		}
		if at := getN(old, attrAt); at > m.At || (at == m.At && getS(old, attrOp) != m.Op) {
			return MarkSuperseded, 0, nil
		}
		return MarkBusy, getN(old, attrUntil), nil
	}
	return MarkNotTaken, 0, failed("mark", errors.New("the stored mark kept changing"))
}

// TakeReplace records a REPLACE of the credential accepted at `at` (epoch
// ms), before it is sent; false when a later REPLACE is already recorded
// (this one is superseded). The REPLACE it follows is kept beside it, for
// UndoReplace.
func (t *Table) TakeReplace(ctx context.Context, cred string, at int64) (bool, error) {
	now := t.now()
	item := replaceKey(cred)
	item[attrAt] = num(at)
	item[attrExpires] = num(now.Add(DefaultMarkTTL).Unix())
	in := &dynamodb.PutItemInput{
		TableName:                 aws.String(t.Name),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #expires <= :nowS OR #at <= :at"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrKey, "#expires": attrExpires, "#at": attrAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":nowS": num(now.Unix()), ":at": num(at)},
	}
	if prev, err := t.LastReplace(ctx, cred); err != nil {
		return false, err
	} else if prev > 0 && prev < at {
		item[attrPrev] = num(prev)
	}
	_, err := t.Client.PutItem(ctx, in)
	return written("replace mark", err)
}

// attrPrev is, on a REPLACE mark, the REPLACE it followed (epoch ms).
const attrPrev = "prev"

// UndoReplace takes back the REPLACE recorded at `at` when Galxe refused it
// for good (nothing was replaced): the credential's last REPLACE is again
// the one before, so the pushes accepted between the two are not skipped
// as older than a REPLACE that never happened. A later REPLACE recorded
// since is left alone.
func (t *Table) UndoReplace(ctx context.Context, cred string, at int64) error {
	out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: replaceKey(cred), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return failed("replace mark", err)
	}
	if getN(out.Item, attrAt) != at {
		return nil
	}
	item := replaceKey(cred)
	item[attrAt] = num(getN(out.Item, attrPrev)) // 0: no REPLACE
	item[attrExpires] = out.Item[attrExpires]
	_, err = t.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(t.Name),
		Item:                      item,
		ConditionExpression:       aws.String("#at = :at"),
		ExpressionAttributeNames:  map[string]string{"#at": attrAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at)},
	})
	_, err = written("replace mark", err) // refused: a later REPLACE since
	return err
}

// LastReplace is when the credential's last REPLACE was accepted (epoch
// ms), or 0.
func (t *Table) LastReplace(ctx context.Context, cred string) (int64, error) {
	out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: replaceKey(cred), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, failed("replace mark", err)
	}
	if !t.live(out.Item) {
		return 0, nil
	}
	return getN(out.Item, attrAt), nil
}
