package state_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

func TestMonthIsUTC(t *testing.T) {
	east := time.FixedZone("UTC+9", 9*3600)
	if m := state.Month(time.Date(2027, 1, 1, 5, 0, 0, 0, east)); m != "2026-12" {
		t.Fatalf("%s, want 2026-12 (still December in UTC)", m)
	}
}

// Counts from several instances at once add up, month by month; an item
// expires about 40 days after its month ends.
func TestQuotaCountsPerMonth(t *testing.T) {
	tables, srv, clk := newTables(t, 3)
	var wg sync.WaitGroup
	for i, tb := range tables {
		wg.Go(func() {
			for range 5 {
				if _, err := tb.AddUsed(ctx(t), "2026-12", int64(i+1)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if used, err := tables[0].Used(ctx(t), "2026-12"); err != nil || used != 30 {
		t.Fatalf("used %d %v, want 30", used, err)
	}
	if used, err := tables[1].AddUsed(ctx(t), "2027-01", 4); err != nil || used != 4 {
		t.Fatalf("a new month: %d %v", used, err)
	}
	if used, err := tables[1].AddUsed(ctx(t), "2026-12", 2); err != nil || used != 32 {
		t.Fatalf("the old month still counts on: %d %v", used, err)
	}
	out, err := srv.Client().GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String(tableName),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "quota#2026-12"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(40 * 24 * time.Hour).Unix()
	if e, _ := out.Item["expires"].(*types.AttributeValueMemberN); e == nil || e.Value != strconv.FormatInt(want, 10) {
		t.Fatalf("expires %v, want %d", out.Item["expires"], want)
	}
	// Past its expiry the item counts for nothing, deleted or not.
	clk.Set(time.Unix(want+1, 0))
	if used, err := tables[0].Used(ctx(t), "2026-12"); err != nil || used != 0 {
		t.Fatalf("an expired month: %d %v", used, err)
	}
	if used, err := tables[0].Used(ctx(t), "2025-01"); err != nil || used != 0 {
		t.Fatalf("a month never counted: %d %v", used, err)
	}
}

func TestQuotaErrors(t *testing.T) {
	tables, srv, _ := newTables(t, 1)
	var se *state.Error
	if _, err := tables[0].AddUsed(ctx(t), "December", 1); !errors.As(err, &se) || !se.Permanent {
		t.Fatalf("a bad month: %v", err)
	}
	missing := &state.Table{Client: srv.Client(), Name: "no-such-table"}
	if _, err := missing.AddUsed(ctx(t), "2026-12", 1); !errors.As(err, &se) || !se.Permanent {
		t.Fatalf("a missing table: %v", err)
	}
	srv.SetDown(true)
	defer srv.SetDown(false)
	down := &state.Table{Client: srv.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), Name: tableName}
	if _, err := down.Used(ctx(t), "2026-12"); !errors.As(err, &se) || se.Permanent {
		t.Fatalf("a table down: %v", err)
	}
}
