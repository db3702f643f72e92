package state

import (
	"context"
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

// markWriters is how many marks are written at once: a mark is one
// conditional write (DynamoDB has no conditional batch write), so a batch
// of thousands is written many at a time.
const markWriters = 16

// A mark's attributes besides the key and expires.
const (
	attrAt = "at" // when the push was accepted, epoch ms
	attrOp = "op" // APPEND or REMOVE
)

// Mark is one item of one push: its operation and when it was accepted.
type Mark struct {
	CredID, Item, Op string
	At               int64 // epoch ms
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
// sending this one would undo it. On an error, the marks not known to be
// taken are reported not taken (their pushes wait for a retry).
func (t *Table) TakeMarks(ctx context.Context, marks []Mark) ([]bool, error) {
	taken := make([]bool, len(marks))
	replaced := map[string]int64{}
	for _, m := range marks {
		if _, ok := replaced[m.CredID]; !ok {
			at, err := t.LastReplace(ctx, m.CredID)
			if err != nil {
				return taken, err
			}
			replaced[m.CredID] = at
		}
	}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(markWriters, len(marks)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(marks) || ctx.Err() != nil {
					return
				}
				m := marks[i]
				if m.At < replaced[m.CredID] {
					continue
				}
				ok, err := t.takeMark(ctx, m)
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				taken[i] = ok
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = failed("mark", ctx.Err())
	}
	return taken, firstErr
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (t *Table) takeMark(ctx context.Context, m Mark) (bool, error) {
	now := t.now()
	item := markKey(m.CredID, m.Item)
	item[attrAt] = num(m.At)
	item[attrOp] = str(m.Op)
	item[attrExpires] = num(now.Add(DefaultMarkTTL).Unix())
	_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(t.Name),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #expires < :nowS OR #at < :at OR (#at = :at AND #op = :op)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrKey, "#expires": attrExpires, "#at": attrAt, "#op": attrOp},
		ExpressionAttributeValues: map[string]types.AttributeValue{":nowS": num(now.Unix()), ":at": num(m.At), ":op": str(m.Op)},
	})
	if _, refused := conditionFailed(err); refused {
		return false, nil
	}
	if err != nil {
		return false, failed("mark", err)
	}
	return true, nil
}

// TakeReplace records a REPLACE of the credential accepted at `at` (epoch
// ms), before it is sent; false when a later REPLACE is already recorded
// (this one is superseded).
func (t *Table) TakeReplace(ctx context.Context, cred string, at int64) (bool, error) {
	now := t.now()
	item := replaceKey(cred)
	item[attrAt] = num(at)
	item[attrExpires] = num(now.Add(DefaultMarkTTL).Unix())
	_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(t.Name),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #expires < :nowS OR #at <= :at"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrKey, "#expires": attrExpires, "#at": attrAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":nowS": num(now.Unix()), ":at": num(at)},
	})
	if _, refused := conditionFailed(err); refused {
		return false, nil
	}
	if err != nil {
		return false, failed("replace mark", err)
	}
	return true, nil
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
