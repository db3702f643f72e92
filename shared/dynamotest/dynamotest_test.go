package dynamotest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestItemRoundTripKeepsEveryType(t *testing.T) {
	_, c := newTable(t)
	it := item{
		"pk":    str("delivery#1"),
		"empty": str(""), // empty strings are allowed outside keys
		"n":     num("1.50"),
		"big":   num("12345678901234567891234567890"),
		"b":     &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
		"t":     &types.AttributeValueMemberBOOL{Value: false},
		"null":  &types.AttributeValueMemberNULL{Value: true},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":    &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
		"l":     &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		"m":     &types.AttributeValueMemberM{Value: item{}},
		"deep": &types.AttributeValueMemberM{Value: item{"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			str("x"), num("7"), &types.AttributeValueMemberM{Value: item{}}}}}},
	}
	mustPut(t, c, it)
	want := item{}
	for k, v := range it {
		want[k] = v
	}
	want["n"] = num("1.5") // DynamoDB stores numbers without trailing zeros
	wantItem(t, mustGet(t, c, "delivery#1"), want)
}

func TestGetMissingItemIsEmpty(t *testing.T) {
	_, c := newTable(t)
	if got := mustGet(t, c, "nothing"); got != nil {
		t.Fatalf("got %s", render(got))
	}
}

func TestConditionalPutClaimsOnce(t *testing.T) {
	_, c := newTable(t)
	claim := &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item{"pk": str("idem#1"), "hash": str("h1")},
		ConditionExpression: aws.String("attribute_not_exists(pk)")}
	if _, err := c.PutItem(bgctx, claim); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutItem(bgctx, claim)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("second claim: %v, want ConditionalCheckFailedException", err)
	}
	if ccf.Item != nil {
		t.Fatalf("Item %s without ReturnValuesOnConditionCheckFailure", render(ccf.Item))
	}
}

func TestUpdateCountersAndReturnValues(t *testing.T) {
	_, c := newTable(t)
	add := func(rv types.ReturnValue) item {
		t.Helper()
		out, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: aws.String(tableName), Key: key("quota#2026-01"),
			UpdateExpression:          aws.String("ADD #used :n SET #exp = if_not_exists(#exp, :exp)"),
			ExpressionAttributeNames:  map[string]string{"#used": "used", "#exp": "expires"},
			ExpressionAttributeValues: item{":n": num("3"), ":exp": num("1900000000")},
			ReturnValues:              rv})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	wantItem(t, add(types.ReturnValueAllNew), item{"pk": str("quota#2026-01"), "used": num("3"), "expires": num("1900000000")})
	wantItem(t, add(types.ReturnValueUpdatedNew), item{"used": num("6"), "expires": num("1900000000")})
	wantItem(t, add(types.ReturnValueUpdatedOld), item{"used": num("6"), "expires": num("1900000000")})
	wantItem(t, add(types.ReturnValueAllOld), item{"pk": str("quota#2026-01"), "used": num("9"), "expires": num("1900000000")})
	if got := add(types.ReturnValueNone); got != nil {
		t.Fatalf("NONE returned %s", render(got))
	}
	wantItem(t, mustGet(t, c, "quota#2026-01"), item{"pk": str("quota#2026-01"), "used": num("15"), "expires": num("1900000000")})
}

func TestUpdateLeavesOtherAttributesExact(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("k"), "big": num("12345678901234567891"), "ns": &types.AttributeValueMemberNS{Value: []string{"98765432109876543211"}}})
	_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: aws.String(tableName), Key: key("k"),
		UpdateExpression: aws.String("ADD c :one"), ExpressionAttributeValues: item{":one": num("1")}})
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, mustGet(t, c, "k"), item{"pk": str("k"), "c": num("1"), "big": num("12345678901234567891"),
		"ns": &types.AttributeValueMemberNS{Value: []string{"98765432109876543211"}}})
}

// The conditions the project's marks and claims use.
func TestConditions(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("mark#1"), "at": num("1700000000100"), "op": str("APPEND"), "expires": num("1700000000")})
	cases := []struct {
		cond string
		vals item
		ok   bool
	}{
		{"attribute_not_exists(pk)", nil, false},
		{"attribute_exists(pk)", nil, true},
		{"attribute_not_exists(pk) OR #at < :at", item{":at": num("1700000000200")}, true},
		{"attribute_not_exists(pk) OR #at < :at", item{":at": num("1700000000100")}, false},
		{"#at < :at OR (#at = :at AND #op = :op)", item{":at": num("1700000000100"), ":op": str("APPEND")}, true},
		{"#at < :at OR (#at = :at AND #op = :op)", item{":at": num("1700000000100"), ":op": str("REMOVE")}, false},
		{"#at <= :at AND #op <> :op", item{":at": num("1700000000100"), ":op": str("REMOVE")}, true},
		{"#at > :at", item{":at": num("1700000000099")}, true},
		{"#at >= :at", item{":at": num("1700000000101")}, false},
		{"#expires < :now", item{":now": num("1700000001")}, true},
		{"NOT attribute_exists(#gone)", nil, true},
		{"begins_with(pk, :p)", item{":p": str("mark#")}, true},
	}
	for _, tc := range cases {
		names := map[string]string{}
		for _, n := range []string{"#at", "#op", "#expires", "#gone"} {
			if strings.Contains(tc.cond, n) {
				names[n] = n[1:]
			}
		}
		if len(names) == 0 {
			names = nil
		}
		if len(tc.vals) == 0 {
			tc.vals = nil
		}
		_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: aws.String(tableName), Key: key("mark#1"),
			UpdateExpression: aws.String("SET seen = :true"), ConditionExpression: aws.String(tc.cond),
			ExpressionAttributeNames: names, ExpressionAttributeValues: merge(tc.vals, item{":true": &types.AttributeValueMemberBOOL{Value: true}})})
		var ccf *types.ConditionalCheckFailedException
		if tc.ok && err != nil || !tc.ok && !errors.As(err, &ccf) {
			t.Errorf("%s %s: got %v, want ok=%v", tc.cond, render(tc.vals), err, tc.ok)
		}
	}
}

func TestUpdateRemoves(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("r"), "gone": str("x"), "kept": str("y"),
		"m": &types.AttributeValueMemberM{Value: item{"a": num("1"), "b": num("2")}}})
	out, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: aws.String(tableName), Key: key("r"),
		UpdateExpression: aws.String("REMOVE #g, m.a SET v = :v"), ExpressionAttributeNames: map[string]string{"#g": "gone"},
		ExpressionAttributeValues: item{":v": num("1")}, ReturnValues: types.ReturnValueUpdatedOld})
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, out.Attributes, item{"gone": str("x"), "m": &types.AttributeValueMemberM{Value: item{"a": num("1"), "b": num("2")}}})
	wantItem(t, mustGet(t, c, "r"), item{"pk": str("r"), "kept": str("y"), "v": num("1"), "m": &types.AttributeValueMemberM{Value: item{"b": num("2")}}})
}

// An update whose second action fails leaves nothing of the first.
func TestUpdateIsAllOrNothing(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("u"), "s": str("text")})
	err := update(c, tbl, key("u"), "SET a = :v ADD s :n", nil, item{":v": num("1"), ":n": num("1")})
	wantError(t, err, "ValidationException", "")
	wantItem(t, mustGet(t, c, "u"), item{"pk": str("u"), "s": str("text")})
	err = update(c, tbl, key("new"), "SET a = :v ADD s :n", nil, item{":v": num("1"), ":n": str("x")})
	wantError(t, err, "ValidationException", "Incorrect operand type for operator or function; operator: ADD, operand type: STRING")
	if got := mustGet(t, c, "new"); got != nil {
		t.Fatalf("a refused update created %s", render(got))
	}
}

func TestDeleteItemReturnsOldItem(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("claim#1"), "state": str("RUNNING")})
	_, err := c.DeleteItem(bgctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: key("claim#1"),
		ConditionExpression: aws.String("#s = :done"), ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: item{":done": str("DONE")}})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("got %v", err)
	}
	out, err := c.DeleteItem(bgctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: key("claim#1"),
		ConditionExpression: aws.String("#s = :running"), ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: item{":running": str("RUNNING")}, ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	wantItem(t, out.Attributes, item{"pk": str("claim#1"), "state": str("RUNNING")})
	if got := mustGet(t, c, "claim#1"); got != nil {
		t.Fatalf("still there: %s", render(got))
	}
	out, err = c.DeleteItem(bgctx, &dynamodb.DeleteItemInput{TableName: aws.String(tableName), Key: key("claim#1"), ReturnValues: types.ReturnValueAllOld})
	if err != nil || out.Attributes != nil {
		t.Fatalf("deleting nothing: %v %s", err, render(out.Attributes))
	}
}

func TestPutItemReturnValues(t *testing.T) {
	_, c := newTable(t)
	put := func(v string, rv types.ReturnValue) item {
		out, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item{"pk": str("p"), "v": str(v)}, ReturnValues: rv})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	if got := put("1", types.ReturnValueAllOld); got != nil {
		t.Fatalf("first put returned %s", render(got))
	}
	if got := put("2", types.ReturnValueNone); got != nil {
		t.Fatalf("NONE returned %s", render(got))
	}
	wantItem(t, put("3", types.ReturnValueAllOld), item{"pk": str("p"), "v": str("2")})
}

func TestBatchWriteAndGet(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("old")})
	_, err := c.BatchWriteItem(bgctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{tableName: {
		{PutRequest: &types.PutRequest{Item: item{"pk": str("a"), "v": num("1")}}},
		{PutRequest: &types.PutRequest{Item: item{"pk": str("b"), "v": num("2")}}},
		{DeleteRequest: &types.DeleteRequest{Key: key("old")}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.BatchGetItem(bgctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{tableName: {
		Keys: []item{key("a"), key("b"), key("old"), key("never")}, ConsistentRead: aws.Bool(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range out.Responses[tableName] {
		got[it["pk"].(*types.AttributeValueMemberS).Value] = render(it)
	}
	if len(got) != 2 || got["a"] != render(item{"pk": str("a"), "v": num("1")}) || got["b"] != render(item{"pk": str("b"), "v": num("2")}) {
		t.Fatalf("got %v", got)
	}
	if len(out.UnprocessedKeys) != 0 {
		t.Fatalf("unprocessed %v", out.UnprocessedKeys)
	}
}

func TestQueryAndScan(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("a"), "v": num("1")})
	mustPut(t, c, item{"pk": str("b"), "v": num("2")})
	q, err := c.Query(bgctx, &dynamodb.QueryInput{TableName: aws.String(tableName), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: item{":pk": str("b")}})
	if err != nil || q.Count != 1 || len(q.Items) != 1 {
		t.Fatalf("query: %v %+v", err, q)
	}
	wantItem(t, q.Items[0], item{"pk": str("b"), "v": num("2")})
	q, err = c.Query(bgctx, &dynamodb.QueryInput{TableName: aws.String(tableName), KeyConditionExpression: aws.String("#k = :pk"),
		ExpressionAttributeNames: map[string]string{"#k": "pk"}, ExpressionAttributeValues: item{":pk": str("a")}})
	if err != nil || q.Count != 1 {
		t.Fatalf("query by #k: %v %+v", err, q)
	}
	_, err = c.Query(bgctx, &dynamodb.QueryInput{TableName: aws.String(tableName), KeyConditionExpression: aws.String("v = :v"),
		ExpressionAttributeValues: item{":v": num("1")}})
	wantError(t, err, "ValidationException", "Query condition missed key schema element: pk")
	sc, err := c.Scan(bgctx, &dynamodb.ScanInput{TableName: aws.String(tableName), FilterExpression: aws.String("v > :one"),
		ExpressionAttributeValues: item{":one": num("1")}})
	if err != nil || len(sc.Items) != 1 {
		t.Fatalf("scan: %v %+v", err, sc)
	}
	_, err = c.Scan(bgctx, &dynamodb.ScanInput{TableName: aws.String(tableName), Limit: aws.Int32(1)})
	wantError(t, err, "ValidationException", "dynamotest: Scan pages")
}

// Items spread over the engine's shards are all found again.
func TestManyItems(t *testing.T) {
	_, c := newTable(t)
	const n = 2000
	for i := range n {
		mustPut(t, c, item{"pk": str(fmt.Sprintf("item#%d", i)), "i": num(strconv.Itoa(i))})
	}
	sc, err := c.Scan(bgctx, &dynamodb.ScanInput{TableName: aws.String(tableName)})
	if err != nil || len(sc.Items) != n {
		t.Fatalf("scan: %v, %d items", err, len(sc.Items))
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		wantItem(t, mustGet(t, c, fmt.Sprintf("item#%d", i)), item{"pk": str(fmt.Sprintf("item#%d", i)), "i": num(strconv.Itoa(i))})
	}
	d, err := c.DescribeTable(bgctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	if err != nil || aws.ToInt64(d.Table.ItemCount) != n {
		t.Fatalf("describe: %v %v", err, d)
	}
}

func TestCreateTableMakesTheProjectsTable(t *testing.T) {
	s, c := newTable(t)
	// The SDK's waiter reads TableStatus.
	if err := dynamodb.NewTableExistsWaiter(c).Wait(bgctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, item{"pk": str("x")})
	d, err := c.DescribeTable(bgctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	if err != nil {
		t.Fatal(err)
	}
	tb := d.Table
	if tb.TableStatus != types.TableStatusActive || len(tb.KeySchema) != 1 || *tb.KeySchema[0].AttributeName != "pk" ||
		tb.KeySchema[0].KeyType != types.KeyTypeHash || tb.AttributeDefinitions[0].AttributeType != types.ScalarAttributeTypeS ||
		tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest ||
		aws.ToInt64(tb.ItemCount) != 1 || tb.CreationDateTime == nil || aws.ToString(tb.TableArn) == "" {
		t.Fatalf("description %+v", tb)
	}
	ttl, err := c.DescribeTimeToLive(bgctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tableName)})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || *ttl.TimeToLiveDescription.AttributeName != "expires" {
		t.Fatalf("TTL %v %+v", err, ttl)
	}
	_, err = c.CreateTable(bgctx, &dynamodb.CreateTableInput{TableName: aws.String(tableName), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}})
	wantError(t, err, "ResourceInUseException", "Table already exists")
	defer func() {
		if recover() == nil {
			t.Fatal("creating the table twice did not panic")
		}
	}()
	s.CreateTable(tableName)
}

func TestTablesThroughTheAPI(t *testing.T) {
	s := NewServer()
	defer s.Close()
	c := s.Client(noRetry)
	_, err := c.CreateTable(bgctx, &dynamodb.CreateTableInput{TableName: aws.String("other"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeN}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: aws.String("other"), Item: item{"id": num("1.0")}}); err != nil {
		t.Fatal(err)
	}
	// Numbers that are equal are one key.
	g, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: aws.String("other"), Key: item{"id": num("1")}})
	if err != nil || g.Item == nil {
		t.Fatalf("get by an equal number: %v %v", err, g)
	}
	_, err = c.UpdateTimeToLive(bgctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String("other"),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.ListTables(bgctx, &dynamodb.ListTablesInput{})
	if err != nil || len(l.TableNames) != 1 || l.TableNames[0] != "other" {
		t.Fatalf("list %v %v", err, l)
	}
	if _, err := c.DeleteTable(bgctx, &dynamodb.DeleteTableInput{TableName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeTable(bgctx, &dynamodb.DescribeTableInput{TableName: aws.String("other")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("after delete: %v", err)
	}
}

// Env points the SDK's default configuration, as the functions load it,
// at the server.
func TestEnv(t *testing.T) {
	s, _ := newTable(t)
	s.Env(t)
	cfg, err := config.LoadDefaultConfig(bgctx)
	if err != nil {
		t.Fatal(err)
	}
	c := dynamodb.NewFromConfig(cfg)
	if _, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: item{"pk": str("env")}}); err != nil {
		t.Fatal(err)
	}
	if s.Calls("PutItem") != 1 {
		t.Fatalf("PutItem calls %d", s.Calls("PutItem"))
	}
}

func TestUnknownActionIsRefused(t *testing.T) {
	_, c := newTable(t)
	_, err := c.TransactWriteItems(bgctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(tableName), Item: item{"pk": str("t")}}}}})
	wantError(t, err, "UnknownOperationException", "")
}

func merge(a, b item) item {
	out := item{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
