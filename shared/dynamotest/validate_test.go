package dynamotest

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var tbl = aws.String(tableName)

// What DynamoDB refuses and the project could send, refused the same way.
func TestRefusals(t *testing.T) {
	_, c := newTable(t)
	mustPut(t, c, item{"pk": str("there"), "n": num("1")})
	missing := aws.String("no-such-table")
	long := strings.Repeat("k", 2049)
	cases := []struct {
		name      string
		call      func() error
		code, msg string
	}{
		// Keys.
		{"put without the key", func() error { return put(c, tbl, item{"id": str("x")}) },
			"ValidationException", "Missing the key pk in the item"},
		{"put with a number key", func() error { return put(c, tbl, item{"pk": num("1")}) },
			"ValidationException", "Type mismatch for key pk expected: S actual: N"},
		{"put with an empty key", func() error { return put(c, tbl, item{"pk": str("")}) },
			"ValidationException", "cannot contain an empty string value. Key: pk"},
		{"put with a key over 2048 bytes", func() error { return put(c, tbl, item{"pk": str(long)}) },
			"ValidationException", "Size of hashkey has exceeded the maximum size limit"},
		{"get with another attribute", func() error { return get(c, tbl, item{"id": str("x")}) },
			"ValidationException", "The provided key element does not match the schema"},
		{"get with an extra attribute", func() error { return get(c, tbl, item{"pk": str("x"), "v": str("y")}) },
			"ValidationException", "The provided key element does not match the schema"},
		{"get with a number key", func() error { return get(c, tbl, item{"pk": num("1")}) },
			"ValidationException", "The provided key element does not match the schema"},
		{"get with an empty key", func() error { return get(c, tbl, key("")) },
			"ValidationException", "cannot contain an empty string value. Key: pk"},
		{"get with an empty key map", func() error { return get(c, tbl, item{}) },
			"ValidationException", "The provided key element does not match the schema"},
		{"update with an empty key", func() error { return update(c, tbl, key(""), "SET v = :v", nil, item{":v": num("1")}) },
			"ValidationException", "cannot contain an empty string value"},
		{"update of the key", func() error { return update(c, tbl, key("there"), "SET pk = :v", nil, item{":v": str("y")}) },
			"ValidationException", "Cannot update attribute pk. This attribute is part of the key"},
		{"delete with a number key", func() error { return del(c, tbl, item{"pk": num("1")}) },
			"ValidationException", "The provided key element does not match the schema"},
		{"batch get with an empty key", func() error { return batchGet(c, tableName, key("")) },
			"ValidationException", "cannot contain an empty string value"},
		{"batch write without the key", func() error {
			return batchWrite(c, tableName, types.WriteRequest{PutRequest: &types.PutRequest{Item: item{"v": str("x")}}})
		}, "ValidationException", "Missing the key pk in the item"},
		{"batch write deleting by a wrong key", func() error {
			return batchWrite(c, tableName, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: item{"pk": num("1")}}})
		}, "ValidationException", "The provided key element does not match the schema"},
		{"batch write with one key twice", func() error {
			return batchWrite(c, tableName, types.WriteRequest{PutRequest: &types.PutRequest{Item: key("d")}},
				types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key("d")}})
		}, "ValidationException", "Provided list of item keys contains duplicates"},
		{"batch get with one key twice", func() error { return batchGet(c, tableName, key("d"), key("d")) },
			"ValidationException", "Provided list of item keys contains duplicates"},
		{"batch write of 26", func() error {
			reqs := make([]types.WriteRequest, 26)
			for i := range reqs {
				reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: key(strings.Repeat("x", i+1))}}
			}
			return batchWrite(c, tableName, reqs...)
		}, "ValidationException", "Member must have length less than or equal to 25"},

		// Tables.
		{"put to a missing table", func() error { return put(c, missing, key("x")) }, "ResourceNotFoundException", "Requested resource not found"},
		{"get from a missing table", func() error { return get(c, missing, key("x")) }, "ResourceNotFoundException", ""},
		{"update in a missing table", func() error { return update(c, missing, key("x"), "SET v = :v", nil, item{":v": num("1")}) },
			"ResourceNotFoundException", ""},
		{"delete from a missing table", func() error { return del(c, missing, key("x")) }, "ResourceNotFoundException", ""},
		{"batch write to a missing table", func() error {
			return batchWrite(c, *missing, types.WriteRequest{PutRequest: &types.PutRequest{Item: key("x")}})
		}, "ResourceNotFoundException", ""},
		{"batch get from a missing table", func() error { return batchGet(c, *missing, key("x")) }, "ResourceNotFoundException", ""},
		{"describe a missing table", func() error {
			_, err := c.DescribeTable(bgctx, &dynamodb.DescribeTableInput{TableName: missing})
			return err
		}, "ResourceNotFoundException", "Table: no-such-table not found"},
		{"a table name too short", func() error { return put(c, aws.String("ab"), key("x")) }, "ValidationException", "at least 3 characters"},

		// Expression attribute names and values.
		{"an unused name", func() error {
			return update(c, tbl, key("there"), "SET v = :v", map[string]string{"#n": "n"}, item{":v": num("1")})
		}, "ValidationException", "Value provided in ExpressionAttributeNames unused in expressions: keys: {#n}"},
		{"an unused value", func() error {
			return update(c, tbl, key("there"), "SET v = :v", nil, item{":v": num("1"), ":w": num("2")})
		}, "ValidationException", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"},
		{"an unused value that prefixes a used one", func() error {
			return update(c, tbl, key("there"), "SET v = :ab", nil, item{":a": num("1"), ":ab": num("2")})
		}, "ValidationException", "unused in expressions: keys: {:a}"},
		{"an undefined name", func() error {
			return update(c, tbl, key("there"), "SET #v = :v", nil, item{":v": num("1")})
		}, "ValidationException", "An expression attribute name used in the document path is not defined; attribute name: #v"},
		{"an undefined value in the condition", func() error {
			return updateIf(c, key("there"), "SET v = :v", "n < :max", nil, item{":v": num("1")})
		}, "ValidationException", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :max"},
		{"values without an expression", func() error {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: key("x"), ExpressionAttributeValues: item{":v": num("1")}})
			return err
		}, "ValidationException", "ExpressionAttributeValues can only be specified when using expressions"},
		{"names without an expression", func() error {
			_, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("x"), ExpressionAttributeNames: map[string]string{"#a": "a"}})
			return err
		}, "ValidationException", "ExpressionAttributeNames can only be specified when using expressions"},
		{"empty values", func() error { return update(c, tbl, key("there"), "REMOVE v", nil, item{}) },
			"ValidationException", "ExpressionAttributeValues must not be empty"},
		{"an empty condition", func() error { return updateIf(c, key("there"), "REMOVE v", "", nil, nil) },
			"ValidationException", "Invalid ConditionExpression: The expression can not be empty"},
		{"a reserved word", func() error { return update(c, tbl, key("there"), "SET status = :v", nil, item{":v": num("1")}) },
			"ValidationException", "reserved"},
		{"a nested reserved word", func() error { return update(c, tbl, key("there"), "SET m.status = :v", nil, item{":v": num("1")}) },
			"ValidationException", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: status"},
		{"a reserved word in a condition", func() error {
			return updateIf(c, key("there"), "SET v = :v", "attribute_exists(data)", nil, item{":v": num("1")})
		},
			"ValidationException", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: data"},
		{"a path written twice", func() error { return update(c, tbl, key("there"), "SET v = :v, v = :v", nil, item{":v": num("1")}) },
			"ValidationException", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [v], path two: [v]"},
		{"a path and a part of it", func() error {
			return update(c, tbl, key("there"), "SET #l = :v REMOVE #l[0]", map[string]string{"#l": "l"}, item{":v": num("1")})
		}, "ValidationException", "path one: [l], path two: [l, [0]]"},
		{"a syntax error", func() error { return update(c, tbl, key("there"), "SET v = = :v", nil, item{":v": num("1")}) },
			"ValidationException", ""},

		// Values.
		{"a number that is not one", func() error { return put(c, tbl, item{"pk": str("x"), "n": num("1x")}) },
			"ValidationException", "The parameter cannot be converted to a numeric value: 1x"},
		{"a number of 39 digits", func() error { return put(c, tbl, item{"pk": str("x"), "n": num(strings.Repeat("9", 39))}) },
			"ValidationException", "more than 38 significant digits"},
		{"an empty set", func() error {
			return put(c, tbl, item{"pk": str("x"), "s": &types.AttributeValueMemberSS{Value: []string{}}})
		},
			"ValidationException", "may not be empty"},
		{"a set with duplicates", func() error {
			return put(c, tbl, item{"pk": str("x"), "s": &types.AttributeValueMemberSS{Value: []string{"a", "a"}}})
		}, "ValidationException", "contains duplicates"},
		{"a false NULL", func() error {
			return put(c, tbl, item{"pk": str("x"), "z": &types.AttributeValueMemberNULL{Value: false}})
		},
			"ValidationException", "Null attribute value types must have the value of true"},
		{"a bad value in an expression", func() error {
			return update(c, tbl, key("there"), "SET v = :v", nil, item{":v": num("abc")})
		}, "ValidationException", "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: abc for key :v"},

		// Parameters.
		{"PutItem ReturnValues ALL_NEW", func() error {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: key("x"), ReturnValues: types.ReturnValueAllNew})
			return err
		}, "ValidationException", "ReturnValues can only be ALL_OLD or NONE"},
		{"the legacy Expected", func() error {
			_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl, Item: key("x"),
				Expected: map[string]types.ExpectedAttributeValue{"pk": {Exists: aws.Bool(false)}}})
			return err
		}, "ValidationException", "legacy parameter Expected"},
		{"UpdateItem without an expression", func() error {
			_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key("x")})
			return err
		}, "ValidationException", "without an UpdateExpression"},
		{"a 20-digit number the engine would round", func() error {
			return update(c, tbl, key("there"), "SET v = :v", nil, item{":v": num("12345678901234567891")})
		}, "ValidationException", "more than 15 significant digits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.call(), tc.code, tc.msg) })
	}
	// Nothing refused was written.
	out, err := c.Scan(bgctx, &dynamodb.ScanInput{TableName: tbl})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("after the refusals: %v, %d items", err, len(out.Items))
	}
	wantItem(t, out.Items[0], item{"pk": str("there"), "n": num("1")})
}

func TestItemSizeLimit(t *testing.T) {
	_, c := newTable(t)
	// pk:"big" is 2+3 bytes, the attribute "v" 1 byte plus its value.
	fits := strings.Repeat("x", MaxItemBytes-6)
	if err := put(c, tbl, item{"pk": str("big"), "v": str(fits)}); err != nil {
		t.Fatalf("an item of exactly %d bytes: %v", MaxItemBytes, err)
	}
	wantError(t, put(c, tbl, item{"pk": str("big"), "v": str(fits + "x")}), "ValidationException", "Item size has exceeded the maximum allowed size")
	wantError(t, batchWrite(c, tableName, types.WriteRequest{PutRequest: &types.PutRequest{Item: item{"pk": str("big2"), "v": str(fits + "x")}}}),
		"ValidationException", "Item size has exceeded the maximum allowed size")
	// An update that would grow the item past the limit is refused and
	// leaves it as it was.
	err := update(c, tbl, key("big"), "SET w = :w", nil, item{":w": str("y")})
	wantError(t, err, "ValidationException", "Item size to update has exceeded the maximum allowed size")
	if got := mustGet(t, c, "big"); len(got) != 2 || len(got["v"].(*types.AttributeValueMemberS).Value) != len(fits) {
		t.Fatalf("after the refused update: %d attributes", len(got))
	}
	// Multi-byte characters count in UTF-8 bytes.
	wantError(t, put(c, tbl, item{"pk": str("big3"), "v": str(strings.Repeat("é", MaxItemBytes/2))}), "ValidationException", "Item size has exceeded")
}

func TestItemSizeCounting(t *testing.T) {
	for _, tc := range []struct {
		item map[string]*av
		want int
	}{
		{map[string]*av{"a": {S: aws.String("abc")}}, 4},
		{map[string]*av{"a": {S: aws.String("é")}}, 3},
		{map[string]*av{"ab": {B: []byte{1, 2, 3}}}, 5},
		{map[string]*av{"a": {BOOL: aws.Bool(true)}, "b": {NULL: aws.Bool(true)}}, 4},
		{map[string]*av{"a": {N: aws.String("0")}}, 2},
		{map[string]*av{"a": {N: aws.String("1")}}, 3},
		{map[string]*av{"a": {N: aws.String("12")}}, 3},
		{map[string]*av{"a": {N: aws.String("123")}}, 4},
		{map[string]*av{"a": {N: aws.String("1700000000000")}}, 4},
		{map[string]*av{"a": {N: aws.String("-1")}}, 4},
		{map[string]*av{"a": {SS: []*string{aws.String("ab"), aws.String("c")}}}, 4},
		{map[string]*av{"a": {L: []*av{}}}, 4},
		{map[string]*av{"a": {L: []*av{{S: aws.String("xy")}}}}, 1 + 3 + 1 + 2},
		{map[string]*av{"a": {M: map[string]*av{}}}, 4},
		{map[string]*av{"a": {M: map[string]*av{"k": {S: aws.String("v")}}}}, 1 + 3 + 1 + 1 + 1},
	} {
		if got := itemSize(tc.item); got != tc.want {
			t.Errorf("%s: size %d, want %d", render(fromAV(tc.item)), got, tc.want)
		}
	}
}

func TestNumbersAreStoredAsDynamoDBSpellsThem(t *testing.T) {
	for in, want := range map[string]string{
		"1.50": "1.5", "01": "1", "1e3": "1000", "1E+3": "1000", "-0": "0", "0.00100": "0.001", "+5": "5",
		"-12.340e-1": "-1.234", ".5": "0.5", "5.": "5", "1e-3": "0.001", "123456789012345678901234567890": "123456789012345678901234567890",
	} {
		n, msg := parseNumber(in)
		if msg != "" || n.plain() != want {
			t.Errorf("%s: %q %q, want %q", in, n.plain(), msg, want)
		}
	}
	for _, bad := range []string{"", "abc", "1e", "1..2", "--1", "0x10", "1e126", "1e-131", " 1"} {
		if _, msg := parseNumber(bad); msg == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUpdateTargets(t *testing.T) {
	names := map[string]string{"#a": "at", "#set": "set"}
	for expr, want := range map[string]string{
		"SET x = :v": "x",
		"set #a = if_not_exists(#a, :v), y = y + :one":                              "at y",
		"ADD used :n SET expires = :e REMOVE gone, other.part, l[0] DELETE tags :t": "used expires -gone other l tags",
		"SET m.k[2] = :v, #set = list_append(l, :l)":                                "m set",
		"remove #a": "-at",
	} {
		var got []string
		for _, tg := range updateTargets(expr, names) {
			if tg.removed {
				tg.name = "-" + tg.name
			}
			got = append(got, tg.name)
		}
		if got := strings.Join(got, " "); got != want {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
}

func put(c *dynamodb.Client, table *string, it item) error {
	_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: table, Item: it})
	return err
}

func get(c *dynamodb.Client, table *string, k item) error {
	_, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: table, Key: k})
	return err
}

func del(c *dynamodb.Client, table *string, k item) error {
	_, err := c.DeleteItem(bgctx, &dynamodb.DeleteItemInput{TableName: table, Key: k})
	return err
}

func update(c *dynamodb.Client, table *string, k item, expr string, names map[string]string, vals item) error {
	_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: table, Key: k, UpdateExpression: aws.String(expr),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals})
	return err
}

func updateIf(c *dynamodb.Client, k item, expr, cond string, names map[string]string, vals item) error {
	_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: k, UpdateExpression: aws.String(expr),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals})
	return err
}

func batchWrite(c *dynamodb.Client, table string, reqs ...types.WriteRequest) error {
	_, err := c.BatchWriteItem(bgctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
	return err
}

func batchGet(c *dynamodb.Client, table string, keys ...item) error {
	_, err := c.BatchGetItem(bgctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {Keys: keys}}})
	return err
}

// fromAV is a wire item as the SDK's, to render it.
func fromAV(m map[string]*av) item {
	out := item{}
	for k, v := range m {
		switch {
		case v.S != nil:
			out[k] = str(*v.S)
		case v.N != nil:
			out[k] = num(*v.N)
		default:
			out[k] = str("(" + typeOf(v) + ")")
		}
	}
	return out
}

// LargestItems sizes each kind's largest item by the same rule as the
// 400 KB limit: names and values, strings by their bytes.
func TestLargestItems(t *testing.T) {
	s, c := newTable(t)
	mustPut(t, c, item{"pk": str("mark#1#a"), "op": str("APPEND")})                     // 2+8 + 2+6 = 18
	mustPut(t, c, item{"pk": str("mark#1#abc"), "op": str("REMOVE")})                   // 2+10 + 2+6 = 20
	mustPut(t, c, item{"pk": str("delivery#x"), "body": str(strings.Repeat("b", 100))}) // 2+10 + 4+100 = 116
	got := s.LargestItems(tableName)
	if got["mark"] != 20 || got["delivery"] != 116 || len(got) != 2 {
		t.Fatalf("largest items %v", got)
	}
	if s.LargestItems("no-such-table") != nil {
		t.Fatal("a missing table has items")
	}
}
