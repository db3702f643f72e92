package state

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The quota meter (DESIGN.md §11 "A quota meter") is one item per UTC
// month, quota#YYYY-MM, counting the requests Galxe accepted.
const attrUsed = "used"

// quotaKeep is how long a month's item outlives the month: long enough for
// the month's last figures to be read after it ends.
const quotaKeep = 40 * 24 * time.Hour

// monthLayout is a month's name: "2026-12".
const monthLayout = "2006-01"

// Month names the UTC month of t, as the quota items are keyed.
func Month(t time.Time) string { return t.UTC().Format(monthLayout) }

func quotaKey(month string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("quota#" + month)}
}

// AddUsed adds n requests to the month's count ("YYYY-MM", UTC) in one
// atomic UpdateItem ADD and returns the new count. An item kept past its
// expiry is never added to: no clock names a month 40 days gone.
func (t *Table) AddUsed(ctx context.Context, month string, n int64) (int64, error) {
	start, err := time.Parse(monthLayout, month)
	if err != nil {
		return 0, &Error{Op: "quota", Permanent: true, Err: errors.New("not a month (YYYY-MM)")}
	}
	out, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.Name),
		Key:                       quotaKey(month),
		UpdateExpression:          aws.String("ADD #used :n SET #expires = :expires"),
		ExpressionAttributeNames:  map[string]string{"#used": attrUsed, "#expires": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n), ":expires": num(start.AddDate(0, 1, 0).Add(quotaKeep).Unix())},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, failed("quota", err)
	}
	return getN(out.Attributes, attrUsed), nil
}

// Used is the month's count, read consistently: 0 when nothing was counted
// (or the item has expired and TTL has not deleted it yet).
func (t *Table) Used(ctx context.Context, month string) (int64, error) {
	out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: quotaKey(month), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, failed("quota", err)
	}
	if !t.live(out.Item) {
		return 0, nil
	}
	return getN(out.Item, attrUsed), nil
}
