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
	"github.com/aws/smithy-go"
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
	// MaxAttempts bounds the rounds of sends (the first included) of one
	// Send; 0: retry while the budget allows.
	MaxAttempts int
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
	Failed        []int         // indexes of the messages not queued, ascending
	Permanent     bool          // SQS refused for good (no such queue, access denied, SenderFault): no retry can change it
	RetryAfter    time.Duration // when the caller may try again
	Err           error         // the last failure
}

func (e *Error) Error() string {
	return fmt.Sprintf("queue: %d of %d messages queued: %v", e.Queued, e.Total, e.Err)
}
func (e *Error) Unwrap() error { return e.Err }

// permanentCodes are SQS's answers to a call that no retry can change: the
// queue does not exist, the role may not use it or its KMS key, or the
// request itself is malformed. Each is listed by its shape's name and by
// the query-compatible code the SDK reports.
var permanentCodes = map[string]bool{
	"QueueDoesNotExist": true, "AWS.SimpleQueueService.NonExistentQueue": true,
	"AccessDenied": true, "AccessDeniedException": true,
	"InvalidSecurity": true, "AWS.SimpleQueueService.InvalidSecurity": true,
	"KmsAccessDenied": true, "KMS.AccessDeniedException": true,
	"KmsDisabled": true, "KMS.DisabledException": true,
	"KmsNotFound": true, "KMS.NotFoundException": true,
	"KmsInvalidState": true, "KMS.InvalidStateException": true,
	"KmsInvalidKeyUsage": true, "KMS.InvalidKeyUsageException": true,
	"KmsOptInRequired": true, "KMS.OptInRequired": true,
	"InvalidAddress": true, "UnsupportedOperation": true, "AWS.SimpleQueueService.UnsupportedOperation": true,
	"BatchRequestTooLong": true, "AWS.SimpleQueueService.BatchRequestTooLong": true,
	"TooManyEntriesInBatchRequest": true, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest": true,
	"InvalidParameterValue": true, "MissingParameter": true, "InvalidMessageContents": true,
}

// permanent reports whether a failed call is SQS's final answer.
func permanent(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && permanentCodes[ae.ErrorCode()]
}

// batches groups message indexes into calls of at most 10 entries and
// MaxMessageBytes in all.
func batches(msgs []Outgoing, pending []int) [][]int {
	var out [][]int
	var cur []int
	size := 0
	for _, i := range pending {
		n := Size(msgs[i])
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

// Size is what SQS counts of a message against its size limit: the body,
// and each attribute's name, data type ("String") and value.
func Size(m Outgoing) int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += AttributeSize(k, v)
	}
	return n
}

// AttributeSize is what SQS counts of one String message attribute.
func AttributeSize(name, value string) int { return len(name) + len("String") + len(value) }

// Send queues every message, retrying the entries SQS refuses and the
// calls that fail (after the SDK's own retries), with backoff, while the
// context's deadline less the reserve allows and at most MaxAttempts
// rounds. A permanent refusal (see Error.Permanent) ends it at once. It
// returns nil when all are queued, or an *Error listing those that were
// not. An entry SQS's answer lists as neither successful nor failed counts
// as not queued. Sending a message twice is harmless for pushes (APPEND
// and REMOVE are idempotent).
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

	queued := make([]bool, len(msgs))
	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	var (
		last  error
		final bool // SQS refused something for good
	)
	jittered := retry.WithFullJitter(retry.WithCappedDuration(maxBackoff, retry.NewExponential(baseBackoff)))
	// Stop when the wait and one more call would not fit in the budget.
	var b retry.Backoff = retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := jittered.Next()
		return d, stop || time.Now().Add(d+50*time.Millisecond).After(deadline)
	})
	if s.MaxAttempts > 0 {
		b = retry.WithMaxRetries(uint64(s.MaxAttempts-1), b)
	}
	_ = retry.Do(bctx, b, func(ctx context.Context) error {
		for _, batch := range batches(msgs, pending) {
			r := s.sendBatch(ctx, msgs, batch)
			for _, i := range r.queued {
				queued[i] = true
			}
			if r.err != nil {
				last = r.err
			}
			if r.final {
				final = true
			}
			if r.queueRefused {
				break // the other calls would meet the same answer
			}
		}
		pending = pending[:0]
		for i, ok := range queued {
			if !ok {
				pending = append(pending, i)
			}
		}
		switch {
		case len(pending) == 0:
			return nil
		case final:
			return last // not retryable: Do returns at once
		}
		return retry.RetryableError(last)
	})
	if len(pending) == 0 {
		return nil
	}
	if last == nil {
		last = errors.New("no time left in the invocation's budget")
	}
	return &Error{Queued: len(msgs) - len(pending), Total: len(msgs), Failed: pending, Permanent: final,
		RetryAfter: time.Second, Err: last}
}

// sent is what one SendMessageBatch call did.
type sent struct {
	queued       []int // the indexes SQS listed as successful (and not as failed)
	final        bool  // an entry or the call was refused for good
	queueRefused bool  // the call itself was refused for good: no other call can succeed
	err          error // why some were not queued
}

// sendBatch sends one call.
func (s *Sender) sendBatch(ctx context.Context, msgs []Outgoing, batch []int) sent {
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
		p := permanent(err)
		return sent{final: p, queueRefused: p, err: err}
	}
	// Only what SQS lists as successful is queued: an entry listed as
	// failed, or not listed at all, is not.
	var r sent
	entry := func(id *string) (int, bool) {
		k, err := strconv.Atoi(aws.ToString(id))
		return k, err == nil && k >= 0 && k < len(batch)
	}
	failed := make([]bool, len(batch))
	for _, f := range out.Failed {
		if k, ok := entry(f.Id); ok {
			failed[k] = true
			r.final = r.final || f.SenderFault
			r.err = fmt.Errorf("SQS refused an entry (%s, sender fault %v)", aws.ToString(f.Code), f.SenderFault)
		}
	}
	listed := make([]bool, len(batch))
	for _, ok := range out.Successful {
		if k, ok := entry(ok.Id); ok && !failed[k] && !listed[k] {
			listed[k] = true
			r.queued = append(r.queued, batch[k])
		}
	}
	if r.err == nil && len(r.queued) < len(batch) {
		r.err = fmt.Errorf("SQS's answer listed %d of %d entries neither as successful nor as failed", len(batch)-len(r.queued), len(batch))
	}
	return r
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
