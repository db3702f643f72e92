package dynamotest

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A refused conditional write with ReturnValuesOnConditionCheckFailure:
// ALL_OLD carries the stored item in the error (the SDK's
// ConditionalCheckFailedException.Item), as DynamoDB has since 2023.
func TestAllOldOnConditionCheckFailure(t *testing.T) {
	stored := item{"pk": str("idem#1"), "hash": str("h1"), "state": str("DONE"), "status": num("200"),
		"body": &types.AttributeValueMemberB{Value: []byte(`{"ok":true}`)}, "tags": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}}
	onFailure := []types.ReturnValuesOnConditionCheckFailure{types.ReturnValuesOnConditionCheckFailureAllOld, types.ReturnValuesOnConditionCheckFailureNone, ""}
	calls := map[string]func(c *dynamodb.Client, rv types.ReturnValuesOnConditionCheckFailure) error{
		"PutItem": func(c *dynamodb.Client, rv types.ReturnValuesOnConditionCheckFailure) error {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": str("idem#1"), "hash": str("h2")},
				ConditionExpression: aws.String("attribute_not_exists(pk)"), ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
		"UpdateItem": func(c *dynamodb.Client, rv types.ReturnValuesOnConditionCheckFailure) error {
			_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key("idem#1"),
				UpdateExpression: aws.String("SET #s = :running"), ConditionExpression: aws.String("attribute_not_exists(pk) OR #s = :expired"),
				ExpressionAttributeNames:  map[string]string{"#s": "state"},
				ExpressionAttributeValues: item{":running": str("RUNNING"), ":expired": str("EXPIRED")}, ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
		"DeleteItem": func(c *dynamodb.Client, rv types.ReturnValuesOnConditionCheckFailure) error {
			_, err := c.DeleteItem(bgctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: key("idem#1"),
				ConditionExpression: aws.String("#h = :mine"), ExpressionAttributeNames: map[string]string{"#h": "hash"},
				ExpressionAttributeValues: item{":mine": str("h2")}, ReturnValuesOnConditionCheckFailure: rv})
			return err
		},
	}
	for name, call := range calls {
		for _, rv := range onFailure {
			t.Run(name+"/"+string(rv), func(t *testing.T) {
				_, c := newTable(t)
				mustPut(t, c, stored)
				err := call(c, rv)
				var ccf *types.ConditionalCheckFailedException
				if !errors.As(err, &ccf) {
					t.Fatalf("got %v, want ConditionalCheckFailedException", err)
				}
				if rv == types.ReturnValuesOnConditionCheckFailureAllOld {
					wantItem(t, ccf.Item, stored)
				} else if ccf.Item != nil {
					t.Fatalf("Item %s without ALL_OLD", render(ccf.Item))
				}
				wantItem(t, mustGet(t, c, "idem#1"), stored)
			})
		}
	}
}

// A condition refused because the item does not exist carries no item.
func TestAllOldWithoutAnItem(t *testing.T) {
	_, c := newTable(t)
	_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key("none"),
		UpdateExpression: aws.String("SET v = :v"), ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: item{":v": num("1")}, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || ccf.Item != nil {
		t.Fatalf("got %v (item %v)", err, ccf)
	}
	if got := mustGet(t, c, "none"); got != nil {
		t.Fatalf("the refused update wrote %s", render(got))
	}
}
