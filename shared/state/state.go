// Package state is the fleet's shared memory (DESIGN.md §11): one DynamoDB
// table that every instance of every function reads and writes, so that
// what must hold for the whole deployment (a delivery answered once, pushes
// applied in order, one account budget, a quota meter, a read cache) holds
// however many processes Lambda runs.
//
// Items of different kinds share the table under key prefixes:
//
//	delivery#<key>          a webhook delivery: its claim, then its answer
//	mark#<credId>#<item>    the latest push of one item: time and operation
//	replace#<credId>        the time of the credential's last REPLACE
//	budget#account          the account's next free request slots
//	quota#<YYYY-MM>         the requests Galxe accepted in a UTC month
//	read#<sha256>           a cached query answer
//	gen#<credId>            the credential's generation: a push bumps it
//
// Every write is one single-item write (conditional where two writers
// could race, an atomic ADD for counters): no transactions. TTL
// deletion runs up to days late, so every read checks `expires` itself.
package state

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the part of the DynamoDB client the table uses.
type API interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Table is the shared-state table. It is safe for concurrent use.
type Table struct {
	Client API
	Name   string
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// New makes a Table for the named table, or nil when name is empty (no
// shared state: the functions keep their per-process behaviour).
func New(client API, name string) *Table {
	if name == "" {
		return nil
	}
	return &Table{Client: client, Name: name}
}

func (t *Table) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// The attributes every kind of item may have.
const (
	attrKey     = "pk"
	attrExpires = "expires" // epoch seconds; the table's TTL attribute
)

// Error is a failed table call: Permanent when the table does not exist or
// may not be used (no retry can change it), else passing (a timeout,
// throttling, a 5xx).
type Error struct {
	Op        string // what the table was asked: "claim", "mark", …
	Permanent bool
	Err       error
}

// Error names the call and AWS's error code, never AWS's text (it holds
// ARNs and account ids): a job's error reaches its failure destination.
func (e *Error) Error() string {
	kind := "unavailable"
	if e.Permanent {
		kind = "not usable"
	}
	return "shared-state table " + kind + " (" + e.Op + "): " + errorCode(e.Err)
}

// Detail is err's text with AWS's own words about a table failure, for the
// log alone.
func Detail(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return err.Error() + " (" + se.Err.Error() + ")"
	}
	return err.Error()
}

func errorCode(err error) string {
	var api interface{ ErrorCode() string }
	switch {
	case errors.As(err, &api):
		return api.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "no answer in time"
	}
	return "no answer"
}

func (e *Error) Unwrap() error { return e.Err }

// failed wraps a DynamoDB error, telling the table's absence or a refused
// permission from a passing failure.
func failed(op string, err error) error {
	var (
		notFound *types.ResourceNotFoundException
		api      interface{ ErrorCode() string }
	)
	permanent := errors.As(err, &notFound)
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDeniedException", "UnrecognizedClientException", "ResourceNotFoundException", "ValidationException":
			permanent = true
		}
	}
	return &Error{Op: op, Permanent: permanent, Err: err}
}

// written tells a conditional write's three outcomes apart: done (true),
// refused by its condition (false, nil), or failed (a typed *Error).
func written(op string, err error) (bool, error) {
	if _, refused := conditionFailed(err); refused {
		return false, nil
	}
	if err != nil {
		return false, failed(op, err)
	}
	return true, nil
}

// conditionFailed reports whether a write was refused by its condition, and
// the stored item when DynamoDB returned it (ALL_OLD).
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// live reports whether an item exists and has not expired (TTL deletion
// may not have run yet).
func (t *Table) live(item map[string]types.AttributeValue) bool {
	return len(item) > 0 && getN(item, attrExpires) > t.now().Unix()
}

// AnswerReserve is what a write after the work usually keeps before the
// caller's deadline (AfterWork): time to hand the answer back.
const AnswerReserve = 100 * time.Millisecond

// AfterWork is a context for a write that follows the work it records (a
// delivery's answer, a pause, a generation bump, an undone REPLACE): it
// outlives the caller's cancellation, since the work's own budget may be
// spent, but ends after timeout and never later than reserve before the
// caller's deadline, so the write cannot carry an invocation past it.
func AfterWork(ctx context.Context, timeout, reserve time.Duration) (context.Context, context.CancelFunc) {
	by := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-reserve).Before(by) {
		by = d.Add(-reserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), by)
}
