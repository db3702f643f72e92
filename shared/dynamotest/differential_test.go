package dynamotest

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The differential test: one sequence of calls, made through the SDK to
// the stand-in and to another DynamoDB implementation (dynalite, or any
// endpoint named by DYNAMOTEST_COMPARE_URL), must get the same answers and
// the same error codes. Messages may differ in wording; the differences are
// logged.

// step is one call; its result is rendered to one comparable line.
type step struct {
	name string
	call func(c *dynamodb.Client) (string, error)
	// other, when set, is an answer the other implementation may give
	// instead, for the reason why.
	other, why string
}

// outcome is what a step got: its rendered answer, or its error's code
// (and a refused condition's item), and the error's message.
type outcome struct{ result, message string }

func do(c *dynamodb.Client, s step) outcome {
	res, err := s.call(c)
	if err == nil {
		return outcome{result: res}
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		return outcome{result: "error: " + err.Error()}
	}
	res = api.ErrorCode()
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		res += " item=" + render(ccf.Item)
	}
	return outcome{result: res, message: api.ErrorMessage()}
}

// signedClient is a client that signs (dynalite and moto want a signature
// to be there; neither checks it).
func signedClient(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDSTANDIN", SecretAccessKey: "standin-secret-key"}, nil
		})})
}

// compareWith runs the steps against the stand-in and the implementation at
// url, each on a fresh table.
func compareWith(t *testing.T, url string) {
	s := NewServer()
	defer s.Close()
	ours, theirs := signedClient(s.URL), signedClient(url)
	table := "diff-" + strings.ReplaceAll(t.Name(), "/", "-")
	for _, c := range []*dynamodb.Client{ours, theirs} {
		if _, err := c.CreateTable(bgctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}}); err != nil {
			t.Fatalf("CreateTable: %v", err)
		}
		if err := dynamodb.NewTableExistsWaiter(c).Wait(bgctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
			t.Fatalf("waiting for the table: %v", err)
		}
	}
	same, reworded := 0, 0
	for _, st := range steps(table) {
		a, b := do(ours, st), do(theirs, st)
		switch {
		case a.result == b.result:
			same++
			if a.message != b.message {
				reworded++
				t.Logf("%s: %s\n  stand-in: %s\n  other:    %s", st.name, a.result, a.message, b.message)
			}
		case st.other != "" && b.result == st.other:
			t.Logf("%s: known difference (%s):\n  stand-in: %s\n  other:    %s", st.name, st.why, a.result, b.result)
		default:
			t.Errorf("%s:\n  stand-in: %s %s\n  other:    %s %s", st.name, a.result, a.message, b.result, b.message)
		}
	}
	t.Logf("%d of %d steps answered alike (%d with other wording)", same, len(steps(table)), reworded)
}

// TestAgainstEndpoint compares with the DynamoDB implementation at
// DYNAMOTEST_COMPARE_URL (moto_server, DynamoDB Local, ...), when set.
func TestAgainstEndpoint(t *testing.T) {
	url := os.Getenv("DYNAMOTEST_COMPARE_URL")
	if url == "" {
		t.Skip("DYNAMOTEST_COMPARE_URL is not set: no other implementation to compare with")
	}
	compareWith(t, url)
}

func steps(table string) []step {
	tbl := aws.String(table)
	putRV := func(it item, cond string, names map[string]string, vals item, onFail types.ReturnValuesOnConditionCheckFailure) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			in := &dynamodb.PutItemInput{TableName: tbl, Item: it, ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
				ReturnValues: types.ReturnValueAllOld, ReturnValuesOnConditionCheckFailure: onFail}
			if cond != "" {
				in.ConditionExpression = aws.String(cond)
			}
			out, err := c.PutItem(bgctx, in)
			if err != nil {
				return "", err
			}
			return "old=" + render(out.Attributes), nil
		}
	}
	put := func(it item) func(c *dynamodb.Client) (string, error) { return putRV(it, "", nil, nil, "") }
	get := func(k item) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			out, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: k, ConsistentRead: aws.Bool(true)})
			if err != nil {
				return "", err
			}
			return render(out.Item), nil
		}
	}
	upd := func(k item, expr, cond string, names map[string]string, vals item, rv types.ReturnValue, onFail types.ReturnValuesOnConditionCheckFailure) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			in := &dynamodb.UpdateItemInput{TableName: tbl, Key: k, UpdateExpression: aws.String(expr),
				ExpressionAttributeNames: names, ExpressionAttributeValues: vals, ReturnValues: rv, ReturnValuesOnConditionCheckFailure: onFail}
			if cond != "" {
				in.ConditionExpression = aws.String(cond)
			}
			out, err := c.UpdateItem(bgctx, in)
			if err != nil {
				return "", err
			}
			return render(out.Attributes), nil
		}
	}
	del := func(k item, cond string, names map[string]string, vals item, onFail types.ReturnValuesOnConditionCheckFailure) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			in := &dynamodb.DeleteItemInput{TableName: tbl, Key: k, ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
				ReturnValues: types.ReturnValueAllOld, ReturnValuesOnConditionCheckFailure: onFail}
			if cond != "" {
				in.ConditionExpression = aws.String(cond)
			}
			out, err := c.DeleteItem(bgctx, in)
			if err != nil {
				return "", err
			}
			return "old=" + render(out.Attributes), nil
		}
	}
	batchWrite := func(reqs ...types.WriteRequest) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			out, err := c.BatchWriteItem(bgctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				return "", err
			}
			return "unprocessed=" + strings.Repeat("x", len(out.UnprocessedItems[table])), nil
		}
	}
	batchGet := func(keys ...item) func(c *dynamodb.Client) (string, error) {
		return func(c *dynamodb.Client) (string, error) {
			out, err := c.BatchGetItem(bgctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}})
			if err != nil {
				return "", err
			}
			var found []string
			for _, it := range out.Responses[table] {
				found = append(found, render(it))
			}
			sort.Strings(found)
			return strings.Join(found, " ") + " unprocessed=" + strings.Repeat("x", len(out.UnprocessedKeys[table].Keys)), nil
		}
	}
	writePut := func(it item) types.WriteRequest { return types.WriteRequest{PutRequest: &types.PutRequest{Item: it}} }
	writeDel := func(k item) types.WriteRequest {
		return types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
	}
	at := map[string]string{"#at": "at", "#op": "op"}
	allOld := types.ReturnValuesOnConditionCheckFailureAllOld
	noRV := types.ReturnValue("")
	fits := strings.Repeat("x", MaxItemBytes-6) // with pk "big" and the attribute "v": exactly 400 KB
	many := make([]types.WriteRequest, 26)
	for i := range many {
		many[i] = writePut(key(strings.Repeat("m", i+1)))
	}
	missing := aws.String("no-such-table")
	dynaliteNoItem := "dynalite returns no item with ReturnValuesOnConditionCheckFailure (DESIGN §11: the code then reads it)"

	return []step{
		{name: "claim", call: putRV(item{"pk": str("idem#1"), "hash": str("h1"), "state": str("RUNNING")}, "attribute_not_exists(pk)", nil, nil, "")},
		{name: "claim again", call: putRV(item{"pk": str("idem#1"), "hash": str("h2")}, "attribute_not_exists(pk)", nil, nil, "")},
		{name: "claim again, ALL_OLD", call: putRV(item{"pk": str("idem#1"), "hash": str("h2")}, "attribute_not_exists(pk)", nil, nil, allOld),
			other: "ConditionalCheckFailedException item=<none>", why: dynaliteNoItem},
		{name: "read the claim", call: get(key("idem#1"))},
		{name: "complete the claim", call: upd(key("idem#1"), "SET #s = :done, #code = :code, body = :body REMOVE #h", "#s = :running",
			map[string]string{"#s": "state", "#code": "status", "#h": "hash"},
			item{":done": str("DONE"), ":running": str("RUNNING"), ":code": num("200"), ":body": &types.AttributeValueMemberB{Value: []byte("{}")}},
			types.ReturnValueAllNew, "")},
		{name: "update refused, ALL_OLD", call: upd(key("idem#1"), "SET #s = :running", "#s = :running", map[string]string{"#s": "state"},
			item{":running": str("RUNNING")}, noRV, allOld),
			other: "ConditionalCheckFailedException item=<none>", why: dynaliteNoItem},
		{name: "count", call: upd(key("quota#1"), "ADD used :n SET expires = if_not_exists(expires, :e)", "", nil,
			item{":n": num("3"), ":e": num("1900000000")}, types.ReturnValueAllNew, "")},
		{name: "count again, UPDATED_NEW", call: upd(key("quota#1"), "ADD used :n", "", nil, item{":n": num("4")}, types.ReturnValueUpdatedNew, "")},
		{name: "count, UPDATED_OLD", call: upd(key("quota#1"), "ADD used :n", "", nil, item{":n": num("-2")}, types.ReturnValueUpdatedOld, "")},
		{name: "mark", call: upd(key("mark#1"), "SET #at = :at, #op = :op", "attribute_not_exists(pk) OR #at < :at", at,
			item{":at": num("1700000000100"), ":op": str("APPEND")}, types.ReturnValueAllNew, "")},
		{name: "mark retried", call: upd(key("mark#1"), "SET #at = :at, #op = :op", "#at < :at OR (#at = :at AND #op = :op)", at,
			item{":at": num("1700000000100"), ":op": str("APPEND")}, types.ReturnValueAllOld, "")},
		{name: "mark older", call: upd(key("mark#1"), "SET #at = :at, #op = :op", "attribute_not_exists(pk) OR #at < :at", at,
			item{":at": num("1700000000099"), ":op": str("REMOVE")}, noRV, "")},
		{name: "mark newer", call: upd(key("mark#1"), "SET #at = :at, #op = :op", "attribute_not_exists(pk) OR #at < :at", at,
			item{":at": num("1700000000101"), ":op": str("REMOVE")}, types.ReturnValueUpdatedOld, "")},
		{name: "conditions AND NOT <>", call: upd(key("mark#1"), "SET seen = :t", "#at >= :lo AND NOT (#op <> :op) AND attribute_exists(pk)", at,
			item{":t": &types.AttributeValueMemberBOOL{Value: true}, ":lo": num("1700000000000"), ":op": str("REMOVE")}, noRV, "")},
		{name: "condition with begins_with and size", call: upd(key("mark#1"), "REMOVE seen", "begins_with(pk, :p) AND size(#op) = :six", map[string]string{"#op": "op"},
			item{":p": str("mark#"), ":six": num("6")}, noRV, "")},
		{name: "delete refused, ALL_OLD", call: del(key("mark#1"), "#op = :op", map[string]string{"#op": "op"}, item{":op": str("APPEND")}, allOld),
			other: "ConditionalCheckFailedException item=<none>", why: dynaliteNoItem},
		{name: "delete", call: del(key("mark#1"), "#op = :op", map[string]string{"#op": "op"}, item{":op": str("REMOVE")}, "")},
		{name: "delete nothing", call: del(key("mark#1"), "", nil, nil, "")},
		{name: "put over", call: put(item{"pk": str("p"), "v": num("1.50"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			"m": &types.AttributeValueMemberM{Value: item{}}, "e": str(""), "ss": &types.AttributeValueMemberSS{Value: []string{"b", "a"}}})},
		{name: "put over again", call: put(item{"pk": str("p"), "v": num("2")})},
		{name: "nested", call: put(item{"pk": str("nest"), "m": &types.AttributeValueMemberM{Value: item{"k": num("1"), "j": str("x")}},
			"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{str("a"), str("b"), str("c")}}, "ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}})},
		{name: "nested updates", call: upd(key("nest"), "SET m.k = m.k + :one, l = list_append(l, :l), n = if_not_exists(n, :one) REMOVE m.j ADD ss :s, ns :ns",
			"m.k = :one AND size(l) = :three", nil,
			item{":one": num("1"), ":three": num("3"), ":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{str("d")}},
				":s": &types.AttributeValueMemberSS{Value: []string{"c"}}, ":ns": &types.AttributeValueMemberNS{Value: []string{"5"}}}, types.ReturnValueAllNew, "")},
		{name: "overlapping paths in a list", call: upd(key("nest"), "SET l = :l REMOVE l[0]", "", nil,
			item{":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{}}}, noRV, "")},
		{name: "DELETE from a set", call: upd(key("nest"), "DELETE ss :s", "", nil, item{":s": &types.AttributeValueMemberSS{Value: []string{"a", "c"}}}, types.ReturnValueUpdatedNew, "")},
		{name: "SET to the same value, UPDATED_NEW", call: upd(key("nest"), "SET n = :one", "", nil, item{":one": num("1")}, types.ReturnValueUpdatedNew, "")},
		{name: "a projection", call: func(c *dynamodb.Client) (string, error) {
			out, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("nest"), ProjectionExpression: aws.String("#m.k, n"),
				ExpressionAttributeNames: map[string]string{"#m": "m"}})
			if err != nil {
				return "", err
			}
			return render(out.Item), nil
		}},
		{name: "a nested reserved word", call: upd(key("nest"), "SET m.status = :one", "", nil, item{":one": num("1")}, noRV, "")},
		{name: "a reserved word in a condition", call: upd(key("nest"), "SET n = :one", "attribute_exists(status)", nil, item{":one": num("1")}, noRV, "")},
		{name: "a reserved word in a projection", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("nest"), ProjectionExpression: aws.String("status")})
			return "", err
		}},
		{name: "overlapping paths", call: upd(key("nest"), "SET n = :one, n = :two", "", nil, item{":one": num("1"), ":two": num("2")}, noRV, "")},
		{name: "a number compared with a string", call: upd(key("nest"), "SET n = :one", "n < :s", nil, item{":one": num("1"), ":s": str("x")}, noRV, ""),
			other: "ConditionalCheckFailedException item=<none>", why: "DynamoDB compares values of different types as false; minidyn refuses the condition"},
		{name: "numbers as stored", call: put(item{"pk": str("n"), "a": num("1E+3"), "b": num("-0.0100"), "c": num("0012")})},
		{name: "numbers read", call: get(key("n"))},
		{name: "batch write", call: batchWrite(writePut(item{"pk": str("b1"), "v": num("1")}), writePut(item{"pk": str("b2")}), writeDel(key("p")))},
		{name: "batch get", call: batchGet(key("b1"), key("b2"), key("p"), key("never"))},
		{name: "query", call: func(c *dynamodb.Client) (string, error) {
			out, err := c.Query(bgctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: item{":pk": str("b1")}})
			if err != nil {
				return "", err
			}
			var found []string
			for _, it := range out.Items {
				found = append(found, render(it))
			}
			return strings.Join(found, " "), nil
		}},

		// Refusals.
		{name: "put without the key", call: put(item{"id": str("x")})},
		{name: "put with a number key", call: put(item{"pk": num("1")})},
		{name: "put with an empty key", call: put(item{"pk": str("")})},
		{name: "put with a key of 2049 bytes", call: put(item{"pk": str(strings.Repeat("k", 2049))})},
		{name: "put with a key of 2048 bytes", call: put(item{"pk": str(strings.Repeat("k", 2048))})},
		{name: "get with another key", call: get(item{"id": str("x")})},
		{name: "get with an extra attribute", call: get(item{"pk": str("x"), "v": str("y")})},
		{name: "get with an empty key", call: get(key(""))},
		{name: "update of the key", call: upd(key("b1"), "SET pk = :v", "", nil, item{":v": str("y")}, noRV, "")},
		{name: "update with a number key", call: upd(item{"pk": num("1")}, "SET v = :v", "", nil, item{":v": str("y")}, noRV, "")},
		{name: "delete with an empty key", call: del(key(""), "", nil, nil, "")},
		{name: "put to a missing table", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: missing, Item: key("x")})
			return "", err
		}},
		{name: "get from a missing table", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: missing, Key: key("x")})
			return "", err
		}},
		{name: "update in a missing table", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: missing, Key: key("x"), UpdateExpression: aws.String("SET v = :v"),
				ExpressionAttributeValues: item{":v": num("1")}})
			return "", err
		}},
		{name: "batch write to a missing table", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.BatchWriteItem(bgctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{*missing: {writePut(key("x"))}}})
			return "", err
		}},
		{name: "describe a missing table", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.DescribeTable(bgctx, &dynamodb.DescribeTableInput{TableName: missing})
			return "", err
		}},
		{name: "an unused name", call: upd(key("b1"), "SET v = :v", "", map[string]string{"#n": "n"}, item{":v": num("1")}, noRV, "")},
		{name: "an unused value", call: upd(key("b1"), "SET v = :v", "", nil, item{":v": num("1"), ":w": num("2")}, noRV, "")},
		{name: "an unused value prefixing a used one", call: upd(key("b1"), "SET v = :ab", "", nil, item{":a": num("1"), ":ab": num("2")}, noRV, "")},
		{name: "an undefined name", call: upd(key("b1"), "SET #v = :v", "", nil, item{":v": num("1")}, noRV, "")},
		{name: "an undefined value", call: upd(key("b1"), "SET v = :v", "v < :max", nil, item{":v": num("1")}, noRV, "")},
		{name: "values without an expression", call: putRV(key("x"), "", nil, item{":v": num("1")}, "")},
		{name: "empty values", call: upd(key("b1"), "REMOVE v", "", nil, item{}, noRV, "")},
		{name: "an empty condition", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: key("x"), ConditionExpression: aws.String("")})
			return "", err
		}},
		{name: "a reserved word", call: upd(key("b1"), "SET status = :v", "", nil, item{":v": num("1")}, noRV, "")},
		{name: "a syntax error", call: upd(key("b1"), "SET v = = :v", "", nil, item{":v": num("1")}, noRV, "")},
		{name: "ADD a string", call: upd(key("new"), "SET a = :v ADD s :n", "", nil, item{":v": num("1"), ":n": str("x")}, noRV, "")},
		{name: "DELETE a number", call: upd(key("new"), "DELETE s :n", "", nil, item{":n": num("1")}, noRV, "")},
		{name: "nothing created", call: get(key("new"))},
		{name: "ADD to a string", call: upd(key("idem#1"), "ADD #s :n", "", map[string]string{"#s": "state"}, item{":n": num("1")}, noRV, "")},
		{name: "not a number", call: put(item{"pk": str("x"), "n": num("1x")})},
		{name: "39 digits", call: put(item{"pk": str("x"), "n": num(strings.Repeat("9", 39))})},
		{name: "an empty set", call: put(item{"pk": str("x"), "s": &types.AttributeValueMemberSS{Value: []string{}}})},
		{name: "a set with duplicates", call: put(item{"pk": str("x"), "s": &types.AttributeValueMemberSS{Value: []string{"a", "a"}}})},
		{name: "a false NULL", call: put(item{"pk": str("x"), "z": &types.AttributeValueMemberNULL{Value: false}})},
		{name: "PutItem ReturnValues ALL_NEW", call: func(c *dynamodb.Client) (string, error) {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: key("x"), ReturnValues: types.ReturnValueAllNew})
			return "", err
		}},
		{name: "batch write of 26", call: batchWrite(many...)},
		{name: "batch write with one key twice", call: batchWrite(writePut(key("d")), writeDel(key("d")))},
		{name: "batch get with one key twice", call: batchGet(key("d"), key("d"))},
		{name: "an item of exactly 400 KB", call: put(item{"pk": str("big"), "v": str(fits)})},
		{name: "an item of 400 KB and a byte", call: put(item{"pk": str("big"), "v": str(fits + "x")})},
		{name: "a batch put of 400 KB and a byte", call: batchWrite(writePut(item{"pk": str("big2"), "v": str(fits + "x")}))},
		{name: "an update past 400 KB", call: upd(key("big"), "SET w = :w", "", nil, item{":w": str("y")}, noRV, "")},
		{name: "the big item unchanged", call: func(c *dynamodb.Client) (string, error) {
			out, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("big"), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return "", err
			}
			return strings.Join(sortedKeys(out.Item), ","), nil
		}},
	}
}
