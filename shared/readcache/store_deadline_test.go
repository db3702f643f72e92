package readcache_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// slowStore is a table whose writes take d (or until the caller gives up).
type slowStore struct {
	state.API
	d time.Duration
}

func (s slowStore) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	select {
	case <-time.After(s.d):
		return s.API.PutItem(ctx, in, o...)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Galxe answers just before the read's budget ends and the table is slow
// to store it: the reader gets Galxe's answer, not a timeout, and the
// answer says it was not stored.
func TestSlowStoreKeepsGalxesAnswer(t *testing.T) {
	w := newWorld(t)
	tbl := &state.Table{Client: slowStore{API: w.db.Client(), d: 5 * time.Second}, Name: tableName, Now: w.clk.Now}
	c := readcache.New(tbl, readcache.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d, _ := ctx.Deadline()
	fetch := func(context.Context) (json.RawMessage, error) {
		time.Sleep(time.Until(d.Add(-galxe.DefaultReserve - 300*time.Millisecond)))
		return json.RawMessage(`{"ok":1}`), nil
	}
	a, err := c.Get(ctx, "credentialEligibility", json.RawMessage(eligVars), fetch)
	if err != nil || string(a.Data) != `{"ok":1}` {
		t.Fatalf("answer %s, error %v", a.Data, err)
	}
	if strings.Contains(a.Status, "stored") {
		t.Errorf("Cache-Status %q for an answer the table did not keep", a.Status)
	}
}
