package sqstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventSource does locally what Lambda's SQS event source mapping does:
// pollers gather messages until the batch size, the batching window or
// 6 MB of event; at most MaxConcurrency invocations of the function run at
// once, each with an events.SQSEvent; what succeeded is deleted, and the
// reported failures reappear after their visibility timeout. As in Lambda,
// polling goes on while invocations run.
type EventSource struct {
	Client   *sqs.Client
	QueueURL string
	QueueARN string
	// Invoke runs the function with an event and returns its answer, or an
	// error when the invocation failed (then nothing is deleted).
	Invoke         func(ctx context.Context, payload []byte) ([]byte, error)
	BatchSize      int           // 10,000 in the template
	Window         time.Duration // MaximumBatchingWindowInSeconds
	MaxConcurrency int           // ScalingConfig.MaximumConcurrency

	invocations atomic.Int64
}

// sqsEventLimit bounds an invocation's event, as Lambda's (6 MB).
const sqsEventLimit = 6_000_000

// Invocations reports how many times the function was invoked.
func (es *EventSource) Invocations() int { return int(es.invocations.Load()) }

// Run polls and invokes until ctx ends.
func (es *EventSource) Run(ctx context.Context) {
	n := max(1, es.MaxConcurrency)
	batches := make(chan []events.SQSMessage)
	var pollers, invokers sync.WaitGroup
	for range n {
		pollers.Go(func() {
			for ctx.Err() == nil {
				records, err := es.gather(ctx)
				if err != nil {
					time.Sleep(200 * time.Millisecond) // the queue failed: back off, as Lambda's poller does
					continue
				}
				if len(records) == 0 {
					continue
				}
				select {
				case batches <- records:
				case <-ctx.Done():
				}
			}
		})
		invokers.Go(func() {
			for {
				select {
				case records := <-batches:
					_ = es.invoke(ctx, records)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	pollers.Wait()
	invokers.Wait()
}

// gather collects one batch.
func (es *EventSource) gather(ctx context.Context) ([]events.SQSMessage, error) {
	var (
		records []events.SQSMessage
		size    = 20
		opened  time.Time
	)
	for len(records) < es.BatchSize && size < sqsEventLimit && ctx.Err() == nil {
		wait := int32(1)
		if len(records) > 0 {
			if time.Since(opened) >= es.Window {
				break
			}
			wait = 0
		}
		out, err := es.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(es.QueueURL),
			MaxNumberOfMessages: int32(min(10, es.BatchSize-len(records))), WaitTimeSeconds: wait,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			if len(records) == 0 {
				return nil, err
			}
			break
		}
		if len(out.Messages) == 0 {
			if len(records) == 0 {
				return nil, nil // nothing waiting: poll again
			}
			time.Sleep(min(50*time.Millisecond, es.Window/10))
			continue
		}
		if len(records) == 0 {
			opened = time.Now()
		}
		for _, m := range out.Messages {
			r := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
				MessageAttributes: map[string]events.SQSMessageAttribute{},
				EventSource:       "aws:sqs", EventSourceARN: es.QueueARN, AWSRegion: "us-east-1"}
			for k, v := range m.MessageAttributes {
				r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
			}
			b, _ := json.Marshal(r)
			if size+len(b)+1 > sqsEventLimit {
				// Lambda would not put it in this batch: let it come back at once.
				_, _ = es.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(es.QueueURL),
					Entries: []types.ChangeMessageVisibilityBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}}})
				size = sqsEventLimit
				continue
			}
			size += len(b) + 1
			records = append(records, r)
		}
	}
	return records, nil
}

func (es *EventSource) invoke(ctx context.Context, records []events.SQSMessage) error {
	payload, err := json.Marshal(events.SQSEvent{Records: records})
	if err != nil {
		return err
	}
	es.invocations.Add(1)
	out, err := es.Invoke(ctx, payload)
	if err != nil {
		return err // nothing deleted: all come back
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("the function's answer is not an SQSEventResponse: %w", err)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		_, err := es.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(es.QueueURL), Entries: entries})
		entries = nil
		return err
	}
	for i, r := range records {
		if failed[r.MessageId] {
			continue
		}
		entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
		if len(entries) == 10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
