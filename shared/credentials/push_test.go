package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// recorder is Galxe as far as a push sees it: it records what was sent.
type recorder struct {
	mu     sync.Mutex
	calls  [][]string
	refuse error // when set, every call is refused with it
}

func (r *recorder) Do(_ context.Context, _ string, vars any) (*galxe.Result, error) {
	b, _ := json.Marshal(vars)
	var m struct{ Items []string }
	_ = json.Unmarshal(b, &m)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, m.Items)
	if r.refuse != nil {
		return nil, r.refuse
	}
	return &galxe.Result{Data: json.RawMessage(`{}`), Attempts: 1}, nil
}

func (r *recorder) last() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return nil
	}
	return r.calls[len(r.calls)-1]
}

// PushInOrder sends what no later push superseded, and says how much it
// skipped.
func TestPushInOrder(t *testing.T) {
	srv := dynamotest.NewServer()
	defer srv.Close()
	srv.CreateTable("state")
	tb := &state.Table{Client: srv.Client(), Name: "state"}
	g := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	push := func(op string, at int64, items ...string) credentials.Summary {
		t.Helper()
		sum, err := credentials.PushInOrder(ctx, g, tb, "7", op, items, time.UnixMilli(at))
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if s := push("APPEND", 100, "a", "b"); s.Items != 2 || s.Batches != 1 || s.Superseded != 0 {
		t.Fatalf("first APPEND: %+v", s)
	}
	push("REMOVE", 300, "a")
	// An APPEND accepted before the REMOVE, sent after it: a is skipped.
	if s := push("APPEND", 200, "a", "c"); s.Items != 1 || s.Superseded != 1 || !slices.Equal(g.last(), []string{"c"}) {
		t.Fatalf("older APPEND: %+v, sent %q", s, g.last())
	}
	// All superseded: no call at all.
	calls := len(g.calls)
	if s := push("APPEND", 250, "a"); s.Items != 0 || s.Batches != 0 || s.Superseded != 1 || len(g.calls) != calls {
		t.Fatalf("superseded APPEND: %+v", s)
	}
	// A REPLACE supersedes every older push of the credential, and an
	// older REPLACE whole.
	if s := push("REPLACE", 400, "x"); s.Items != 1 || s.Batches != 1 {
		t.Fatalf("REPLACE: %+v", s)
	}
	if s := push("APPEND", 350, "d"); s.Items != 0 || s.Superseded != 1 {
		t.Fatalf("APPEND older than the REPLACE: %+v", s)
	}
	if s := push("REPLACE", 390, "y", "z"); s.Items != 0 || s.Batches != 0 || s.Superseded != 2 {
		t.Fatalf("older REPLACE: %+v", s)
	}
	// Without a table, it is Push.
	if s, err := credentials.PushInOrder(ctx, g, nil, "7", "APPEND", []string{"a"}, time.UnixMilli(1)); err != nil || s.Items != 1 {
		t.Fatalf("without a table: %+v %v", s, err)
	}
	// The table unusable: nothing sent, the table's error.
	calls = len(g.calls)
	missing := &state.Table{Client: srv.Client(), Name: "missing"}
	_, err := credentials.PushInOrder(ctx, g, missing, "7", "APPEND", []string{"e"}, time.UnixMilli(500))
	var se *state.Error
	if !errors.As(err, &se) || !se.Permanent || len(g.calls) != calls {
		t.Fatalf("missing table: %v, %d calls", err, len(g.calls)-calls)
	}
}

// A REPLACE Galxe refuses for good replaced nothing: the pushes accepted
// before it are not skipped as older than it.
func TestRefusedReplaceTakenBack(t *testing.T) {
	srv := dynamotest.NewServer()
	defer srv.Close()
	srv.CreateTable("state")
	tb := &state.Table{Client: srv.Client(), Name: "state"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ok := &recorder{}
	if _, err := credentials.PushInOrder(ctx, ok, tb, "7", "REPLACE", []string{"a"}, time.UnixMilli(100)); err != nil {
		t.Fatal(err)
	}
	refusing := &recorder{refuse: &galxe.Error{Code: "INVALID_ADDRESS", Category: galxe.CategoryValidation, Message: "no"}}
	if _, err := credentials.PushInOrder(ctx, refusing, tb, "7", "REPLACE", []string{"b"}, time.UnixMilli(300)); err == nil {
		t.Fatal("the refusal was not returned")
	}
	if at, err := tb.LastReplace(ctx, "7"); err != nil || at != 100 {
		t.Fatalf("last REPLACE %d (%v), want the one before the refused one (100)", at, err)
	}
	// An APPEND accepted between the two REPLACEs is sent, not skipped.
	if s, err := credentials.PushInOrder(ctx, ok, tb, "7", "APPEND", []string{"c"}, time.UnixMilli(200)); err != nil || s.Items != 1 || s.Superseded != 0 {
		t.Fatalf("APPEND after a refused REPLACE: %+v %v", s, err)
	}
}
