package pushqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

func TestEncodeSplitsAt256KiB(t *testing.T) {
	items := make([]string, 20000)
	for i := range items {
		items[i] = fmt.Sprintf("0x%040x", i)
	}
	const at = 1795780800123
	bodies := pushqueue.Encode("380512468497932288", "APPEND", items, at)
	if len(bodies) < 4 {
		t.Fatalf("%d bodies for %d items", len(bodies), len(items))
	}
	var got []string
	for _, b := range bodies {
		if len(b) > pushqueue.MaxBodyBytes {
			t.Fatalf("a body of %d bytes", len(b))
		}
		// Exactly the contract's shape, in its order, and valid as a push.
		var shape map[string]json.RawMessage
		if err := json.Unmarshal(b, &shape); err != nil || len(shape) != 4 ||
			!strings.HasPrefix(string(b), `{"credId":"380512468497932288","operation":"APPEND","items":["`) ||
			!strings.HasSuffix(string(b), `"],"at":1795780800123}`) {
			t.Fatalf("body shape: %v %s…%s", err, b[:80], b[len(b)-40:])
		}
		m, err := pushqueue.Decode(b)
		if err != nil || m.At != at {
			t.Fatal(m.At, err)
		}
		got = append(got, m.Items...)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items after the round trip, want %d", len(got), len(items))
	}
}

// Every body Encode makes, measured as SQS receives it, leaves room for
// the dead-letter attributes, whatever the items hold: characters JSON
// escapes (<, >, &, quotes, backslashes, U+2028) grow several times.
func TestEncodedBodiesLeaveRoomForAttributes(t *testing.T) {
	fill := []string{"<", ">", "&", `"`, `\`, "\u2028", "\u2029"}
	items := make([]string, 3000)
	for i := range items {
		f := fill[i%len(fill)]
		items[i] = fmt.Sprintf("%04d", i) + strings.Repeat(f, (credentials.MaxItemBytes-4)/len(f))
	}
	limit := pushqueue.MaxBodyBytes
	bodies := pushqueue.Encode("380512468497932288", "APPEND", items, 1795780800123)
	n, longest := 0, 0
	for _, b := range bodies {
		longest = max(longest, len(b))
		m, err := pushqueue.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		n += len(m.Items)
	}
	t.Logf("%d bodies, the longest %d bytes", len(bodies), longest)
	if longest > limit || n != len(items) {
		t.Fatalf("the longest body is %d bytes (limit %d); %d of %d items", longest, limit, n, len(items))
	}
}

func TestDecodeRefusesWhatIsNotAPush(t *testing.T) {
	for body, says := range map[string]string{
		`nope`: "invalid",
		`{"credId":"1","operation":"REPLACE","items":["a"]}`:         "APPEND or REMOVE",
		`{"credId":"x","operation":"APPEND","items":["a"]}`:          "digits",
		`{"credId":"1","operation":"APPEND","items":[]}`:             "non-empty",
		`{"credId":"1","operation":"APPEND","items":["0x12"]}`:       "invalid items",
		`{"credId":"1","operation":"APPEND","items":["a"],"more":1}`: "unknown field",
		`{"credId":"1","operation":"APPEND","items":"a"}`:            "items must be an array of strings (found a JSON string)",
		`{"credId":1,"operation":"APPEND","items":["a"]}`:            "credId must be a string of digits (found a JSON number)",
		`{"credId":"1","operation":"APPEND","items":["odd\uffff"]}`:  "U+FFFF",
		`{"credId":"1","operation":"APPEND","items":["odd\ufffd"]}`:  "U+FFFD",
		`[{"credId":"1"}]`: "not a JSON object",
		`{"credId":"1","operation":"APPEND","items":["a"],"` + strings.Repeat("k", 100_000) + `":1}`: "(100000 bytes)",
		`{"credId":"1","operation":"APPEND","items":["a"]} x`:                                        "after top-level value",
	} {
		_, err := pushqueue.Decode([]byte(body))
		if !errors.Is(err, pushqueue.ErrInvalid) || !strings.Contains(err.Error(), says) || len(err.Error()) > 512 {
			t.Errorf("%.300s: %.300v", body, err)
		}
	}
	m, err := pushqueue.Decode([]byte(`{"credId":"1","operation":"APPEND","items":[" 0XAB00000000000000000000000000000000000000","b","b"]}`))
	if err != nil || len(m.Items) != 2 || m.Items[0] != "0xab00000000000000000000000000000000000000" {
		t.Fatalf("%v %q", err, m.Items)
	}
}

func sender(t *testing.T) (*sqstest.Server, *pushqueue.Sender) {
	t.Helper()
	srv := sqstest.NewServer()
	t.Cleanup(srv.Close)
	srv.Env(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	cfg, err := awsconf.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := pushqueue.Open(cfg, nil, url)
	if err != nil {
		t.Fatal(err)
	}
	return srv, s
}

func outgoing(n int) []pushqueue.Outgoing {
	out := make([]pushqueue.Outgoing, n)
	for i := range out {
		out[i] = pushqueue.Outgoing{Body: []byte(fmt.Sprintf(`{"credId":"1","operation":"APPEND","items":["a%d"]}`, i))}
	}
	return out
}

// Entries SQS refuses are sent again, within the budget; nothing is lost.
func TestRefusedEntriesRetried(t *testing.T) {
	srv, s := sender(t)
	srv.FailEntries(7)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Send(ctx, outgoing(25)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages("push")); n != 25 {
		t.Fatalf("%d messages queued, want 25", n)
	}
	if calls := srv.Calls("SendMessageBatch"); calls < 4 {
		t.Fatalf("%d calls: the refused entries were not sent again", calls)
	}
}

// Large bodies: batches stay under SQS's total of 256 KiB.
func TestLargeBodiesBatchedUnderTheLimit(t *testing.T) {
	srv, s := sender(t)
	big := make([]pushqueue.Outgoing, 5)
	for i := range big {
		big[i] = pushqueue.Outgoing{Body: []byte(strings.Repeat("x", 200_000))}
	}
	if err := s.Send(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages("push")); n != 5 {
		t.Fatalf("%d queued", n)
	}
}

// A queue that stays down: an *Error within the budget, never a hang.
func TestQueueDownAnsweredWithinBudget(t *testing.T) {
	srv, s := sender(t)
	srv.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, outgoing(3))
	var qe *pushqueue.Error
	if !errors.As(err, &qe) || qe.Queued != 0 || qe.Total != 3 || qe.RetryAfter <= 0 {
		t.Fatalf("got %v", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond-pushqueue.DefaultReserve+200*time.Millisecond {
		t.Fatalf("took %v, past the budget", took)
	}
}

// A queue named by its name or ARN instead of its URL is refused at start.
func TestOpenRefusesWhatIsNotAQueueURL(t *testing.T) {
	for _, bad := range []string{"galxe-lambda-PushQueue", "arn:aws:sqs:us-east-1:123456789012:galxe-lambda-PushQueue"} {
		if s, err := pushqueue.Open(aws.Config{}, nil, bad); err == nil || s != nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s, err := pushqueue.Open(aws.Config{}, nil, ""); s != nil || err != nil {
		t.Error("no URL must be no queue")
	}
}

// The size accounting is exact with "at" as without: every body is within
// MaxBodyBytes, and none could have taken the next body's first item.
func TestEncodeFillsBodiesExactly(t *testing.T) {
	items := make([]string, 9000)
	for i := range items {
		items[i] = fmt.Sprintf("user%d+%s@example.com", i, strings.Repeat("<", i%50)) // escaped: six bytes each
	}
	for _, at := range []int64{0, 1, 1795780800123, 1<<63 - 1} {
		bodies := pushqueue.Encode("380512468497932288", "REMOVE", items, at)
		n := 0
		for i, b := range bodies {
			m, err := pushqueue.Decode(b)
			if err != nil || m.At != at {
				t.Fatalf("at %d: body %d: at %d, %v", at, i, m.At, err)
			}
			n += len(m.Items)
			if len(b) > pushqueue.MaxBodyBytes {
				t.Fatalf("at %d: a body of %d bytes", at, len(b))
			}
			if i+1 < len(bodies) {
				next, _ := json.Marshal(items[n])
				if len(b)+1+len(next) <= pushqueue.MaxBodyBytes {
					t.Fatalf("at %d: body %d of %d bytes had room for the next item (%d bytes)", at, i, len(b), len(next))
				}
			}
		}
		if n != len(items) {
			t.Fatalf("at %d: %d items after the round trip, want %d", at, n, len(items))
		}
		if hasAt := strings.Contains(string(bodies[0]), `"at":`); hasAt != (at > 0) {
			t.Fatalf("at %d: the body holds \"at\": %v", at, hasAt)
		}
	}
}

// "at" is optional (bodies queued before it existed), and when present a
// positive integer: nothing else is a time the webhook gave.
func TestDecodeAt(t *testing.T) {
	const head = `{"credId":"1","operation":"APPEND","items":["a@b.c"]`
	if m, err := pushqueue.Decode([]byte(head + `}`)); err != nil || m.At != 0 {
		t.Fatalf("without at: %d %v", m.At, err)
	}
	if m, err := pushqueue.Decode([]byte(`{"at":1795780800123,"credId":"1","operation":"APPEND","items":["a@b.c"]}`)); err != nil || m.At != 1795780800123 {
		t.Fatalf("at first: %d %v", m.At, err)
	}
	for _, bad := range []string{`0`, `-1`, `1.5`, `1e3`, `"1795780800123"`, `null`, `true`, `[1]`, `{}`, `99999999999999999999`} {
		_, err := pushqueue.Decode([]byte(head + `,"at":` + bad + `}`))
		if !errors.Is(err, pushqueue.ErrInvalid) || !strings.Contains(err.Error(), "at must be a positive integer") {
			t.Errorf("at %s: %v", bad, err)
		}
	}
}
