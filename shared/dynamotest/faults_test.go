package dynamotest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestFaultsInOrder(t *testing.T) {
	s, c := newTable(t)
	s.Fail("PutItem", ThroughputExceeded, Throttled, InternalError, Fault{Code: "RequestLimitExceeded"})
	putX := func() error { return put(c, tbl, key("x")) }

	err := putX()
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || status(err) != 400 {
		t.Fatalf("first: %v", err)
	}
	err = putX()
	var te *types.ThrottlingException
	if !errors.As(err, &te) || status(err) != 400 {
		t.Fatalf("second: %v", err)
	}
	err = putX()
	var ise *types.InternalServerError
	if !errors.As(err, &ise) || status(err) != 500 {
		t.Fatalf("third: %v", err)
	}
	err = putX()
	var rle *types.RequestLimitExceeded
	if !errors.As(err, &rle) {
		t.Fatalf("fourth: %v", err)
	}
	if err := putX(); err != nil {
		t.Fatalf("after the faults: %v", err)
	}
	if got := s.Calls("PutItem"); got != 5 {
		t.Fatalf("PutItem calls %d, want 5", got)
	}
	if got := s.Calls("GetItem"); got != 0 {
		t.Fatalf("GetItem calls %d", got)
	}
	if got := mustGet(t, c, "x"); got == nil {
		t.Fatal("the answered put wrote nothing")
	}
}

// The SDK's retryer retries throttling and 500s: with its defaults, two
// faults then an answer is one successful call of three requests.
func TestTheSDKRetriesFaults(t *testing.T) {
	s, _ := newTable(t)
	c := s.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 3 })
	s.Fail("GetItem", Throttled, InternalError)
	if _, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("x")}); err != nil {
		t.Fatal(err)
	}
	if got := s.Calls("GetItem"); got != 3 {
		t.Fatalf("GetItem calls %d, want 3", got)
	}
}

func TestSlowAnswerIsStillAnswered(t *testing.T) {
	s, c := newTable(t)
	s.Fail("PutItem", Slow(50*time.Millisecond))
	if err := put(c, tbl, key("slow")); err != nil {
		t.Fatal(err)
	}
	if mustGet(t, c, "slow") == nil {
		t.Fatal("the slow put wrote nothing")
	}
}

// A hung call is never answered: the caller's deadline ends it, and the
// server goes on answering.
func TestHangUntilTheClientGivesUp(t *testing.T) {
	s, c := newTable(t)
	s.Fail("GetItem", Hang)
	ctx, cancel := context.WithCancel(bgctx)
	go func() {
		// Give up once the server holds the call, however long it took to
		// get there.
		for s.Calls("GetItem") == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("x")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("x")}); err != nil {
		t.Fatalf("after the hang: %v", err)
	}
}

// Close ends a hung call rather than waiting for it.
func TestCloseEndsAHang(t *testing.T) {
	s := NewServer()
	s.CreateTable(tableName)
	c := s.Client(noRetry)
	s.Fail("GetItem", Hang)
	done := make(chan error, 1)
	go func() {
		_, err := c.GetItem(bgctx, &dynamodb.GetItemInput{TableName: tbl, Key: key("x")})
		done <- err
	}()
	for s.Calls("GetItem") == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("a hung call was answered")
	}
}

func TestDownResetsConnections(t *testing.T) {
	s, c := newTable(t)
	mustPut(t, c, key("x")) // a kept-alive connection now exists
	s.SetDown(true)
	for range 3 {
		err := put(c, tbl, key("y"))
		var api smithy.APIError
		if err == nil || errors.As(err, &api) {
			t.Fatalf("while down: %v, want a connection error", err)
		}
	}
	if got := s.Calls("PutItem"); got != 1 {
		t.Fatalf("PutItem calls %d while down, want 1 (before)", got)
	}
	s.SetDown(false)
	if err := put(c, tbl, key("y")); err != nil {
		t.Fatalf("back up: %v", err)
	}
	if mustGet(t, c, "x") == nil {
		t.Fatal("items lost while down")
	}
}

func TestExpire(t *testing.T) {
	s, c := newTable(t)
	now := time.Now()
	epoch := func(d time.Duration) types.AttributeValue { return num(strconv.FormatInt(now.Add(d).Unix(), 10)) }
	mustPut(t, c, item{"pk": str("expired"), "expires": epoch(-time.Hour)})
	mustPut(t, c, item{"pk": str("live"), "expires": epoch(time.Hour)})
	mustPut(t, c, item{"pk": str("no-ttl")})
	mustPut(t, c, item{"pk": str("string-ttl"), "expires": str("1")})
	mustPut(t, c, item{"pk": str("ancient"), "expires": num("60")}) // a duration, not a time: DynamoDB ignores it
	// Nothing goes by itself: code must check expires.
	if mustGet(t, c, "expired") == nil {
		t.Fatal("an expired item went before ExpireNow")
	}
	if n := s.ExpireNow(); n != 1 {
		t.Fatalf("ExpireNow deleted %d, want 1", n)
	}
	for pk, want := range map[string]bool{"expired": false, "live": true, "no-ttl": true, "string-ttl": true, "ancient": true} {
		if got := mustGet(t, c, pk) != nil; got != want {
			t.Errorf("%s there: %v, want %v", pk, got, want)
		}
	}
	if n := s.ExpireBefore(now.Add(2 * time.Hour)); n != 1 {
		t.Fatalf("two hours on: deleted %d, want 1", n)
	}
}
