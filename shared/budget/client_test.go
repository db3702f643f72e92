package budget

import (
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// Through the galxe client, on the real clock: a 429 pauses the account,
// the retry takes the slot after the pause, and only the request Galxe
// accepted is counted.
func TestThroughTheClient(t *testing.T) {
	srv := dynamotest.NewServer()
	t.Cleanup(srv.Close)
	srv.CreateTable(tableName)
	b := New(Options{Table: &state.Table{Client: srv.Client(), Name: tableName}})
	galxeSrv := galxetest.NewServer(galxetest.Options{QPS: -1})
	t.Cleanup(galxeSrv.Close)
	c, err := galxe.New(galxe.Config{Endpoint: galxeSrv.URL, Token: secret.Static("Galxe access token", "glx_test"), Budget: b,
		BaseBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	galxeSrv.SetTokens("glx_test")
	refusal := galxetest.ErrorFault("QUOTA_EXCEEDED") // per-second: no daily or monthly in it
	refusal.RetryAfter = "1"
	galxeSrv.Fail(refusal)
	start := time.Now()
	res, err := c.Do(ctx(t), "health", nil)
	if err != nil || res.Attempts != 2 {
		t.Fatalf("%v after %v attempts", err, res)
	}
	b.mu.Lock()
	paused := b.seen.Next()
	b.mu.Unlock()
	if paused.Before(start.Add(time.Second)) {
		t.Fatalf("the account's cursor %v is before the pause's end", paused.Sub(start))
	}
	if err := b.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if q, err := b.Quota(ctx(t)); err != nil || q.Used != 1 {
		t.Fatalf("%+v %v, want the accepted request alone", q, err)
	}
}
