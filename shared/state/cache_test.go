package state_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const readKey = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// An answer stored by one instance is found by another; its stored time
// and lifetime come back to the millisecond.
func TestReadStoredIsFoundByAnotherInstance(t *testing.T) {
	tables, srv, clk := newTables(t, 2)
	data := []byte(`{"quest":{"id":"GC1"}}`)
	if err := tables[0].StoreRead(ctx(t), readKey, data, 0, time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(1500 * time.Millisecond)
	got, err := tables[1].LookupRead(ctx(t), readKey, "")
	if err != nil || !got.Hit() || string(got.Entry.Data) != string(data) {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if age := clk.Now().Sub(got.Entry.StoredAt); age < 1400*time.Millisecond || age > 1600*time.Millisecond {
		t.Errorf("age %v, want 1.5s", age)
	}
	if left := got.Entry.Until.Sub(clk.Now()); left < 58*time.Second || left > 59*time.Second {
		t.Errorf("left %v, want 58.5s", left)
	}
	// The TTL attribute is set, never before the entry stops holding.
	out, err := srv.Client().GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String(tableName),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "read#" + readKey}}})
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := out.Item["expires"].(*types.AttributeValueMemberN)
	if exp == nil {
		t.Fatalf("no expires: %v", out.Item)
	}
	if n, _ := strconv.ParseInt(exp.Value, 10, 64); time.Unix(n, 0).Before(got.Entry.Until) {
		t.Errorf("expires %s comes before the entry's end %v", exp.Value, got.Entry.Until)
	}
}

// An entry past its lifetime is ignored though the table still holds it
// (TTL deletion runs late).
func TestExpiredReadIsIgnored(t *testing.T) {
	tables, _, clk := newTables(t, 1)
	tb := tables[0]
	if err := tb.StoreRead(ctx(t), readKey, []byte(`1`), 0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	got, err := tb.LookupRead(ctx(t), readKey, "")
	if err != nil || got.Entry != nil || got.Hit() {
		t.Fatalf("expired entry returned: %+v %v", got, err)
	}
}

// A read naming a credential reads its entry and the credential's
// generation in one consistent request; a bump makes the entry stale at
// once, and an entry stored under the new generation holds again.
func TestGenerationBumpMakesReadsStale(t *testing.T) {
	tables, srv, _ := newTables(t, 2)
	a, b := tables[0], tables[1]
	const cred = "380512468497932288"
	before := srv.Calls("GetItem")
	l, err := a.LookupRead(ctx(t), readKey, cred)
	if err != nil || l.Entry != nil || l.Gen != 0 {
		t.Fatalf("empty table: %+v %v", l, err)
	}
	if err := a.StoreRead(ctx(t), readKey, []byte(`{"eligible":0}`), l.Gen, time.Minute); err != nil {
		t.Fatal(err)
	}
	if l, err := b.LookupRead(ctx(t), readKey, cred); err != nil || !l.Hit() {
		t.Fatalf("before the bump: %+v %v", l, err)
	}
	if n := srv.Calls("BatchGetItem"); n != 2 || srv.Calls("GetItem") != before {
		t.Errorf("%d BatchGetItem and %d GetItem calls for two lookups, want 2 and none", n, srv.Calls("GetItem")-before)
	}
	if err := b.BumpGeneration(ctx(t), cred); err != nil {
		t.Fatal(err)
	}
	l, err = a.LookupRead(ctx(t), readKey, cred)
	if err != nil || l.Entry == nil || l.Hit() || l.Gen != 1 {
		t.Fatalf("after the bump: %+v %v (want the entry, stale, generation 1)", l, err)
	}
	if err := a.StoreRead(ctx(t), readKey, []byte(`{"eligible":1}`), l.Gen, time.Minute); err != nil {
		t.Fatal(err)
	}
	if l, err := b.LookupRead(ctx(t), readKey, cred); err != nil || !l.Hit() || string(l.Entry.Data) != `{"eligible":1}` {
		t.Fatalf("stored anew: %+v %v", l, err)
	}
	// Another credential's bump leaves it alone.
	if err := b.BumpGeneration(ctx(t), "1"); err != nil {
		t.Fatal(err)
	}
	if l, err := a.LookupRead(ctx(t), readKey, cred); err != nil || !l.Hit() {
		t.Fatalf("another credential's bump: %+v %v", l, err)
	}
}

// The bump outlives a spent request: it has a context of its own.
func TestBumpRunsAfterTheCallersContextEnded(t *testing.T) {
	tables, _, _ := newTables(t, 1)
	spent, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tables[0].BumpGeneration(spent, "7"); err != nil {
		t.Fatal(err)
	}
	if l, err := tables[0].LookupRead(ctx(t), readKey, "7"); err != nil || l.Gen != 1 {
		t.Fatalf("%+v %v", l, err)
	}
	var none *state.Table
	if err := none.BumpGeneration(ctx(t), "7"); err != nil {
		t.Fatalf("a nil table: %v", err)
	}
}

// A table that fails gives a typed *state.Error that names no AWS text.
func TestCacheFailuresAreTyped(t *testing.T) {
	tables, srv, _ := newTables(t, 1)
	srv.SetDown(true)
	defer srv.SetDown(false)
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var se *state.Error
	if _, err := tables[0].LookupRead(c, readKey, "7"); !errors.As(err, &se) || se.Permanent {
		t.Fatalf("lookup: %v", err)
	}
	if err := tables[0].StoreRead(c, readKey, []byte(`1`), 0, time.Minute); !errors.As(err, &se) {
		t.Fatalf("store: %v", err)
	}
	if err := tables[0].BumpGeneration(c, "7"); !errors.As(err, &se) {
		t.Fatalf("bump: %v", err)
	}
}
