package pushqueue_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// sdkAttempts is the SDK's standard retryer's attempts per call
// (shared/awsconf): throttling and 5xx answers are retried that often
// before a call fails.
const sdkAttempts = 3

func sendErr(t *testing.T, err error) *pushqueue.Error {
	t.Helper()
	var qe *pushqueue.Error
	if !errors.As(err, &qe) {
		t.Fatalf("got %v, want a *pushqueue.Error", err)
	}
	return qe
}

// SQS's final answers (no such queue, access denied, a KMS key the role
// may not use, an entry refused as the sender's fault) end a Send at once,
// marked Permanent, listing what was not queued; before, each was retried
// until the budget ended (13 to 21 calls, 4.8 to 5.2 s of a 6 s budget).
func TestPermanentRefusalsEndASendAtOnce(t *testing.T) {
	cases := map[string]struct {
		setup  func(srv *sqstest.Server, s *pushqueue.Sender, msgs []pushqueue.Outgoing)
		failed []int
	}{
		"no such queue": {func(srv *sqstest.Server, s *pushqueue.Sender, _ []pushqueue.Outgoing) {
			s.QueueURL = srv.URL + "/" + sqstest.AccountID + "/no-such-queue"
		}, []int{0, 1, 2}},
		"access denied": {func(srv *sqstest.Server, _ *pushqueue.Sender, _ []pushqueue.Outgoing) {
			srv.Fail("SendMessageBatch", sqstest.Fault{Code: "AccessDenied", Status: 403})
		}, []int{0, 1, 2}},
		"KMS access denied": {func(srv *sqstest.Server, _ *pushqueue.Sender, _ []pushqueue.Outgoing) {
			srv.Fail("SendMessageBatch", sqstest.Fault{Code: "KmsAccessDenied"})
		}, []int{0, 1, 2}},
		"an entry refused as the sender's fault": {func(_ *sqstest.Server, _ *pushqueue.Sender, msgs []pushqueue.Outgoing) {
			msgs[1].Body = []byte("a character SQS refuses: \x01")
		}, []int{1}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			srv, s := sender(t)
			msgs := outgoing(3)
			c.setup(srv, s, msgs)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			qe := sendErr(t, s.Send(ctx, msgs))
			if !qe.Permanent || !slices.Equal(qe.Failed, c.failed) || qe.Queued != 3-len(c.failed) {
				t.Fatalf("permanent %v, failed %v, queued %d: want permanent, failed %v", qe.Permanent, qe.Failed, qe.Queued, c.failed)
			}
			if calls := srv.Calls("SendMessageBatch"); calls != 1 {
				t.Fatalf("%d calls: a final answer was retried", calls)
			}
		})
	}
}

// dropOne is the real client, whose answer loses one successful entry:
// SQS listing an entry neither as successful nor as failed.
type dropOne struct{ *sqs.Client }

func (d dropOne) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	out, err := d.Client.SendMessageBatch(ctx, in, optFns...)
	if err == nil && len(out.Successful) > 0 {
		out.Successful = out.Successful[1:]
	}
	return out, err
}

// An entry SQS's answer does not list counts as not queued: before, it
// counted as queued (Send returned nil).
func TestUnlistedEntryIsNotQueued(t *testing.T) {
	_, s := sender(t)
	s.Client = dropOne{s.Client.(*sqs.Client)}
	s.MaxAttempts = 1
	qe := sendErr(t, s.Send(context.Background(), outgoing(3)))
	if qe.Permanent || !slices.Equal(qe.Failed, []int{0}) || qe.Queued != 2 {
		t.Fatalf("permanent %v, failed %v, queued %d: want failed [0], queued 2", qe.Permanent, qe.Failed, qe.Queued)
	}
}

// MaxAttempts bounds the rounds of a Send against a queue that stays
// down: a few calls, whatever the budget (before: retried until the
// budget ended, 33 calls and 8.6 s of a pusher's 10).
func TestMaxAttemptsBoundsASend(t *testing.T) {
	srv, s := sender(t)
	srv.SetDown(true)
	s.MaxAttempts = 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	qe := sendErr(t, s.Send(ctx, outgoing(12))) // two calls a round
	if qe.Permanent || qe.Queued != 0 || len(qe.Failed) != 12 {
		t.Fatalf("permanent %v, queued %d, failed %v", qe.Permanent, qe.Queued, qe.Failed)
	}
	if calls := srv.Calls("SendMessageBatch"); calls > 2*3*sdkAttempts {
		t.Fatalf("%d calls for 3 rounds of 2 calls", calls)
	}
	t.Logf("a queue down: %d calls in 3 rounds", srv.Calls("SendMessageBatch"))
}

// Failed lists, ascending, the messages a bounded Send could not queue.
func TestFailedListsWhatWasNotQueued(t *testing.T) {
	srv, s := sender(t)
	srv.FailEntries(3) // the first three entries of the first call
	s.MaxAttempts = 1
	qe := sendErr(t, s.Send(context.Background(), outgoing(25)))
	if qe.Permanent || !slices.Equal(qe.Failed, []int{0, 1, 2}) || qe.Queued != 22 {
		t.Fatalf("permanent %v, failed %v, queued %d", qe.Permanent, qe.Failed, qe.Queued)
	}
	if n := len(srv.Messages("push")); n != 22 {
		t.Fatalf("%d messages queued, want 22", n)
	}
}
