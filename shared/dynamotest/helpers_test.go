package dynamotest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

const tableName = "galxe-state"

var bgctx = context.Background()

// newTable starts a server with the project's table and a client that does
// not retry (each call is one request).
func newTable(t *testing.T) (*Server, *dynamodb.Client) {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	s.CreateTable(tableName)
	return s, s.Client(noRetry)
}

func noRetry(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func key(pk string) item                { return item{"pk": str(pk)} }

// wantError fails the test unless err is the API error code whose message
// contains msg.
func wantError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("got %v, want %s %q", err, code, msg)
	}
	if api.ErrorCode() != code || !strings.Contains(api.ErrorMessage(), msg) {
		t.Fatalf("got %s %q, want %s containing %q", api.ErrorCode(), api.ErrorMessage(), code, msg)
	}
}

func mustPut(t *testing.T, c *dynamodb.Client, it item) {
	t.Helper()
	if _, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: aws.String(tableName), Item: it}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
}

func mustGet(t *testing.T, c *dynamodb.Client, pk string) item {
	t.Helper()
	out, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: aws.String(tableName), Key: key(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	return out.Item
}

// render writes an item in one canonical line (sets sorted), to compare
// items and show them.
func render(it item) string {
	if it == nil {
		return "<none>"
	}
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + renderValue(it[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func renderValue(v types.AttributeValue) string {
	sorted := func(s []string) []string { s = append([]string{}, s...); sort.Strings(s); return s }
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("S%q", v.Value)
	case *types.AttributeValueMemberN:
		return "N" + v.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B%x", v.Value)
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprintf("BOOL%v", v.Value)
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return fmt.Sprintf("SS%q", sorted(v.Value))
	case *types.AttributeValueMemberNS:
		return fmt.Sprintf("NS%v", sorted(v.Value))
	case *types.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = fmt.Sprintf("%x", b)
		}
		return fmt.Sprintf("BS%v", sorted(bs))
	case *types.AttributeValueMemberL:
		parts := make([]string, len(v.Value))
		for i, e := range v.Value {
			parts[i] = renderValue(e)
		}
		return "L[" + strings.Join(parts, " ") + "]"
	case *types.AttributeValueMemberM:
		return "M" + render(v.Value)
	}
	return fmt.Sprintf("?%T", v)
}

func wantItem(t *testing.T, got, want item) {
	t.Helper()
	if render(got) != render(want) {
		t.Fatalf("item:\n got %s\nwant %s", render(got), render(want))
	}
}
