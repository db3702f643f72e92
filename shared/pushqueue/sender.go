package pushqueue

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/sethvargo/go-retry"
)

// SendAPI is the part of the SQS client a Sender uses.
type SendAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Outgoing is one message to send.
type Outgoing struct {
	Body       []byte
	Attributes map[string]string // String message attributes; may be nil
}

// Sender puts messages on one queue with SendMessageBatch: 10 entries a
// call at most, and at most MaxMessageBytes a call in all.
type Sender struct {
	Client   SendAPI
	QueueURL string
	// Reserve is kept back from the context's deadline for answering; 0:
	// DefaultReserve.
	Reserve time.Duration
}

// DefaultReserve matches the Galxe client's: time kept to answer.
const DefaultReserve = 500 * time.Millisecond

// Backoff between retries of refused entries: exponential from 50 ms with
// full jitter, capped at 1 s.
const (
	baseBackoff = 50 * time.Millisecond
	maxBackoff  = time.Second
)

// Error is messages that could not all be queued within the budget.
type Error struct {
	Queued, Total int           // messages
	RetryAfter    time.Duration // when the caller may try again
	Err           error         // the last failure
}

func (e *Error) Error() string {
	return fmt.Sprintf("queue: %d of %d messages queued: %v", e.Queued, e.Total, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// batches groups message indexes into calls of at most 10 entries and
// MaxMessageBytes in all.
func batches(msgs []Outgoing, pending []int) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for _, i := range pending {
		n := len(msgs[i].Body)
		for k, v := range msgs[i].Attributes {
			n += len(k) + len("String") + len(v)
		}
		if len(cur) == 10 || len(cur) > 0 && size+n > MaxMessageBytes {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// Send queues every message, retrying the entries SQS refuses and the
// calls that fail (after the SDK's own retries), with backoff, while the
// context's deadline less the reserve allows. It returns nil when all are
// queued, or an *Error. Sending a message twice is harmless for pushes
// (APPEND and REMOVE are idempotent).
func (s *Sender) Send(ctx context.Context, msgs []Outgoing) error {
	reserve := s.Reserve
	if reserve <= 0 {
		reserve = DefaultReserve
	}
	deadline := time.Now().Add(30 * time.Second)
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Add(-reserve)
	}
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	var last error
	jittered := retry.WithFullJitter(retry.WithCappedDuration(maxBackoff, retry.NewExponential(baseBackoff)))
	// Stop when the wait and one more call would not fit in the budget.
	b := retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := jittered.Next()
		return d, stop || time.Now().Add(d+50*time.Millisecond).After(deadline)
	})
	err := retry.Do(bctx, b, func(ctx context.Context) error {
		var failed []int
		for _, batch := range batches(msgs, pending) {
			refused, err := s.sendBatch(ctx, msgs, batch)
			if err != nil {
				last = err
			}
			failed = append(failed, refused...)
		}
		pending = failed
		if len(pending) == 0 {
			return nil
		}
		return retry.RetryableError(last)
	})
	if err == nil && len(pending) == 0 {
		return nil
	}
	if last == nil {
		last = errors.New("no time left in the invocation's budget")
	}
	return &Error{Queued: len(msgs) - len(pending), Total: len(msgs), RetryAfter: time.Second, Err: last}
}

// sendBatch sends one call; it returns the indexes not queued (all of
// them when the call failed) and why.
func (s *Sender) sendBatch(ctx context.Context, msgs []Outgoing, batch []int) ([]int, error) {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for k, i := range batch {
		e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(string(msgs[i].Body))}
		if len(msgs[i].Attributes) > 0 {
			e.MessageAttributes = map[string]types.MessageAttributeValue{}
			for name, v := range msgs[i].Attributes {
				e.MessageAttributes[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
		}
		entries[k] = e
	}
	out, err := s.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.QueueURL), Entries: entries})
	if err != nil {
		return batch, err
	}
	var refused []int
	for _, f := range out.Failed {
		k, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || k < 0 || k >= len(batch) { // not ours: nothing of the call is sure
			return batch, fmt.Errorf("SQS refused an entry %q it was not sent", aws.ToString(f.Id))
		}
		refused = append(refused, batch[k])
	}
	if len(refused) > 0 {
		f := out.Failed[0]
		return refused, fmt.Errorf("SQS refused %d of %d entries (%s)", len(refused), len(batch), aws.ToString(f.Code))
	}
	return nil, nil
}

// Open makes a Sender for the queue at url with an SQS client built from
// the function's shared AWS configuration (cfgErr: why it did not load).
// An empty url is no queue: nil, nil.
func Open(cfg aws.Config, cfgErr error, url string) (*Sender, error) {
	switch u, err := neturl.Parse(url); {
	case url == "":
		return nil, nil
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("%q is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", url)
	case cfgErr != nil:
		return nil, fmt.Errorf("the SQS client cannot be made: %w", cfgErr)
	}
	return &Sender{Client: sqs.NewFromConfig(cfg), QueueURL: url}, nil
}
