package dynamotest

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const racers = 32

// run calls f from racers goroutines at once and collects the errors.
func run(f func(i int) error) []error {
	errs := make([]error, racers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range racers {
		done.Go(func() {
			start.Wait()
			errs[i] = f(i)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

// Many instances claim one delivery at once: exactly one wins, and every
// loser is handed the winner's record.
func TestClaimRaceHasOneWinner(t *testing.T) {
	_, c := newTable(t)
	errs := run(func(i int) error {
		_, err := c.PutItem(bgctx, &dynamodb.PutItemInput{TableName: tbl,
			Item:                                item{"pk": str("idem#race"), "owner": num(strconv.Itoa(i))},
			ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		return err
	})
	winner := -1
	for i, err := range errs {
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("both %d and %d won", winner, i)
		case err == nil:
			winner = i
		case !errors.As(err, &ccf):
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	want := item{"pk": str("idem#race"), "owner": num(strconv.Itoa(winner))}
	for i, err := range errs {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) && render(ccf.Item) != render(want) {
			t.Fatalf("racer %d was handed %s, the winner wrote %s", i, render(ccf.Item), render(want))
		}
	}
	wantItem(t, mustGet(t, c, "idem#race"), want)
}

// Marks taken at once with distinct times: the latest is the one kept, and
// a racer whose mark is older than the stored one is refused.
func TestMarkRaceKeepsTheLatest(t *testing.T) {
	_, c := newTable(t)
	errs := run(func(i int) error {
		_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key("mark#cred#addr"),
			UpdateExpression:          aws.String("SET #at = :at, #op = :op"),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR #at < :at"),
			ExpressionAttributeNames:  map[string]string{"#at": "at", "#op": "op"},
			ExpressionAttributeValues: item{":at": num(strconv.Itoa(1700000000000 + i)), ":op": str("APPEND")}})
		return err
	})
	won := 0
	for i, err := range errs {
		var ccf *types.ConditionalCheckFailedException
		if err == nil {
			won++
		} else if !errors.As(err, &ccf) {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if won == 0 {
		t.Fatal("no mark taken")
	}
	wantItem(t, mustGet(t, c, "mark#cred#addr"), item{"pk": str("mark#cred#addr"), "at": num(strconv.Itoa(1700000000000 + racers - 1)), "op": str("APPEND")})
}

// Counters added to at once lose nothing.
func TestCounterRaceLosesNothing(t *testing.T) {
	_, c := newTable(t)
	errs := run(func(i int) error {
		_, err := c.UpdateItem(bgctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key("quota#2026-01"),
			UpdateExpression: aws.String("ADD used :n"), ExpressionAttributeValues: item{":n": num(strconv.Itoa(i + 1))}})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	wantItem(t, mustGet(t, c, "quota#2026-01"), item{"pk": str("quota#2026-01"), "used": num(strconv.Itoa(racers * (racers + 1) / 2))})
}
