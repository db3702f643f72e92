package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EventSource does locally what Lambda's SQS event source mapping does:
// pollers gather messages until the batch size, the batching window or
// 6 MB of event, invoke the function with an events.SQSEvent, delete what
// succeeded, and leave the reported failures to reappear after their
// visibility timeout; at most MaxConcurrency invocations run at once.
type EventSource struct {
	Client         *sqs.Client
	QueueURL       string
	QueueARN       string
	Function       *Function
	BatchSize      int           // 10,000 in the template
	Window         time.Duration // MaximumBatchingWindowInSeconds
	MaxConcurrency int           // ScalingConfig.MaximumConcurrency

	mu          sync.Mutex
	invocations int
}

// maxEventBytes bounds an invocation's event, as Lambda's (6 MB).
const sqsEventLimit = 6_000_000

// Invocations reports how many times the function was invoked.
func (es *EventSource) Invocations() int {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.invocations
}

// Run polls until ctx ends.
func (es *EventSource) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range max(1, es.MaxConcurrency) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := es.once(ctx); err != nil && ctx.Err() == nil {
					time.Sleep(200 * time.Millisecond) // the queue failed: back off, as Lambda's poller does
				}
			}
		})
	}
	wg.Wait()
}

// once gathers one batch and invokes the function with it.
func (es *EventSource) once(ctx context.Context) error {
	var (
		records []events.SQSMessage
		size    = 20
		opened  time.Time
	)
	for len(records) < es.BatchSize && size < sqsEventLimit {
		wait := int32(1)
		if len(records) > 0 {
			left := es.Window - time.Since(opened)
			if left <= 0 {
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
				return err
			}
			break
		}
		if len(out.Messages) == 0 {
			if len(records) == 0 {
				return nil // nothing waiting: poll again
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
	if len(records) == 0 {
		return nil
	}
	return es.invoke(ctx, records)
}

func (es *EventSource) invoke(ctx context.Context, records []events.SQSMessage) error {
	payload, err := json.Marshal(events.SQSEvent{Records: records})
	if err != nil {
		return err
	}
	es.mu.Lock()
	es.invocations++
	es.mu.Unlock()
	inv, err := es.Function.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	if inv.FuncErr || inv.Status != 200 {
		return fmt.Errorf("the function failed: %s", clip(string(inv.Body), 200)) // nothing deleted: all come back
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(inv.Body, &resp); err != nil {
		return fmt.Errorf("the function's answer is not an SQSEventResponse: %w", err)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, r := range records {
		if failed[r.MessageId] {
			continue
		}
		entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
		if len(entries) == 10 {
			if _, err := es.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(es.QueueURL), Entries: entries}); err != nil {
				return err
			}
			entries = entries[:0]
		}
	}
	if len(entries) > 0 {
		_, err = es.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(es.QueueURL), Entries: entries})
	}
	return err
}
