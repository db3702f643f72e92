package pusher

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
)

// The String attributes a dead letter carries beside its unchanged body.
const (
	AttrErrorCode             = "error_code"              // Galxe's code, or CodeInvalidMessage
	AttrOriginalMessageID     = "original_message_id"     // the record's messageId
	AttrOriginalSentTimestamp = "original_sent_timestamp" // its SentTimestamp, ms
)

// DeadLetterAttempts bounds the rounds of dead-letter sends of one
// invocation: a dead-letter queue that keeps failing costs a few calls,
// and the messages it did not take come back, not the invocation's time.
const DeadLetterAttempts = 3

// visibilityConcurrency is how many ChangeMessageVisibilityBatch calls run
// at once: 10,000 held-back messages are 1,000 calls.
const visibilityConcurrency = 16

// VisibilityAPI is the part of the SQS client the pusher uses to hold back
// the messages an account-wide refusal stopped.
type VisibilityAPI interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// deadLetter sends the settled refusals, unchanged, to the dead-letter
// queue with their attributes, in at most DeadLetterAttempts rounds. It
// returns how many the queue took and the messages it did not take (all
// of them with no queue configured), which are reported instead: SQS
// delivers them again, or its redrive policy parks them.
func (h *Handler) deadLetter(ctx context.Context, msgs []message, dead map[int]string) (taken int, notTaken []int) {
	if len(dead) == 0 {
		return 0, nil
	}
	var idx []int
	for i := range msgs {
		code, ok := dead[i]
		if !ok {
			continue
		}
		h.logger().WarnContext(ctx, "message refused", "message_id", msgs[i].rec.MessageId, "error_code", code, "reason", reasonOf(&msgs[i], code))
		if len(msgs[i].rec.Body) > pushqueue.MaxMessageBytes {
			// Larger than any queue takes with certainty (a source queue
			// may allow more than its dead-letter queue): SQS's redrive
			// policy parks it, without the code, which the line above logs.
			notTaken = append(notTaken, i)
			continue
		}
		idx = append(idx, i)
	}
	if h.DeadLetters == nil {
		return 0, append(notTaken, idx...)
	}
	if len(idx) == 0 {
		return 0, notTaken
	}
	out := make([]pushqueue.Outgoing, len(idx))
	for k, i := range idx {
		out[k] = pushqueue.Outgoing{Body: []byte(msgs[i].rec.Body), Attributes: deadLetterAttributes(msgs[i].rec, dead[i])}
	}
	sender := *h.DeadLetters
	if sender.MaxAttempts == 0 {
		sender.MaxAttempts = DeadLetterAttempts
	}
	err := sender.Send(ctx, out)
	if err == nil {
		return len(idx), notTaken
	}
	h.logger().ErrorContext(ctx, "the dead-letter queue did not take every message; the others will come back", "error", err.Error())
	var qe *pushqueue.Error
	if !errors.As(err, &qe) {
		return 0, append(notTaken, idx...) // which were taken is not known: all come back
	}
	for _, k := range qe.Failed {
		notTaken = append(notTaken, idx[k])
	}
	return len(idx) - len(qe.Failed), notTaken
}

// deadLetterAttributes are a dead letter's attributes, as many as fit
// beside its body within SQS's size limit, which counts them (error_code
// first, then original_message_id and original_sent_timestamp). A body
// with no room left is sent without them rather than reported: SQS would
// deliver it again and again until its redrive parked it, without the
// code either, after the same refusal each time; the log line says what
// the attributes would have.
func deadLetterAttributes(r *events.SQSMessage, code string) map[string]string {
	room := pushqueue.MaxMessageBytes - len(r.Body)
	attrs := map[string]string{}
	for _, a := range [...]struct{ name, value string }{
		{AttrErrorCode, code},
		{AttrOriginalMessageID, r.MessageId},
		{AttrOriginalSentTimestamp, r.Attributes["SentTimestamp"]},
	} {
		n := pushqueue.AttributeSize(a.name, a.value)
		if a.value == "" || n > room { // SQS refuses an empty attribute value
			continue
		}
		attrs[a.name] = a.value
		room -= n
	}
	return attrs
}

func reasonOf(m *message, code string) string {
	if m.invalid != "" {
		return m.invalid
	}
	return "Galxe refused an item of the message for good (" + code + ")"
}

// holdBack keeps the messages an account-wide refusal stopped invisible
// for as long as it lasts (holdFor), so that their receives are not spent
// before Galxe takes calls again: ChangeMessageVisibilityBatch with the
// records' receipt handles, 10 a call, several calls at once, until the
// context's deadline less the answer's reserve. It returns how many
// messages it held back.
func (h *Handler) holdBack(ctx context.Context, recs []*events.SQSMessage, stop error) int {
	hold, ok := holdFor(stop)
	if !ok || h.Queues == nil || len(recs) == 0 {
		return 0
	}
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-pushqueue.DefaultReserve))
		defer cancel()
	}
	type batch struct {
		url  string
		recs []*events.SQSMessage
	}
	byQueue := map[string][]*events.SQSMessage{}
	var queues []string
	for _, r := range recs {
		url, ok := queueURL(r.EventSourceARN)
		if !ok || r.ReceiptHandle == "" {
			continue
		}
		if _, seen := byQueue[url]; !seen {
			queues = append(queues, url)
		}
		byQueue[url] = append(byQueue[url], r)
	}
	var batches []batch
	for _, url := range queues {
		for part := range slices.Chunk(byQueue[url], 10) {
			batches = append(batches, batch{url, part})
		}
	}

	seconds := int32(hold / time.Second)
	var (
		mu      sync.Mutex
		held    int
		lastErr error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, visibilityConcurrency)
	)
	for _, b := range batches {
		if ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(b.recs))
			for k, r := range b.recs {
				entries[k] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(k)),
					ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: seconds}
			}
			out, err := h.Queues.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(b.url), Entries: entries})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = err
				return
			}
			held += len(out.Successful)
			if len(out.Failed) > 0 {
				lastErr = errors.New("SQS refused a visibility change (" + aws.ToString(out.Failed[0].Code) + ")")
			}
		})
	}
	wg.Wait()
	if held < len(recs) {
		attrs := []any{"messages", len(recs), "held_back", held}
		if lastErr != nil {
			attrs = append(attrs, "error", lastErr.Error())
		}
		h.logger().WarnContext(ctx, "not every stopped message was held back; the others come back after the queue's visibility timeout", attrs...)
	}
	return held
}

// queueURL is the URL of the queue an event source ARN names:
// arn:PARTITION:sqs:REGION:ACCOUNT:NAME becomes
// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (amazonaws.com.cn in China).
func queueURL(arn string) (string, bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || p[2] != "sqs" || p[3] == "" || p[4] == "" || p[5] == "" {
		return "", false
	}
	domain := "amazonaws.com"
	if p[1] == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return "https://sqs." + p[3] + "." + domain + "/" + p[4] + "/" + p[5], true
}
