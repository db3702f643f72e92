package sqstest

import (
	"context"
	"encoding/json"
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
// once, each with an events.SQSEvent; the function's answer is read as a
// partial batch response (ReportBatchItemFailures, as the template sets):
// what succeeded is deleted, and the reported failures reappear after
// their visibility timeout; an invocation that fails, or an answer Lambda
// could not read, fails the whole batch. As in Lambda, polling goes on
// while invocations run.
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
	deletes     sync.WaitGroup
}

// sqsEventLimit bounds an invocation's event, as Lambda's (6 MB).
const sqsEventLimit = 6_000_000

// Invocations reports how many times the function was invoked.
func (es *EventSource) Invocations() int { return int(es.invocations.Load()) }

// Run polls and invokes until ctx ends.
func (es *EventSource) Run(ctx context.Context) {
	n := max(1, es.MaxConcurrency)
	type batch struct {
		records []events.SQSMessage
		payload []byte
	}
	batches := make(chan batch)
	var pollers, invokers sync.WaitGroup
	for range n {
		pollers.Go(func() {
			for ctx.Err() == nil {
				records, err := es.gather(ctx)
				if err != nil { // the queue failed: back off, as Lambda's poller does
					select {
					case <-time.After(200 * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				if len(records) == 0 {
					continue
				}
				// The event is made while the poller waits for a free
				// invocation, not on the invocations' own time.
				payload, err := json.Marshal(events.SQSEvent{Records: records})
				if err != nil {
					continue
				}
				select {
				case batches <- batch{records, payload}:
				case <-ctx.Done():
				}
			}
		})
		invokers.Go(func() {
			for {
				select {
				case b := <-batches:
					_ = es.invoke(ctx, b.records, b.payload)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	pollers.Wait()
	invokers.Wait()
	es.deletes.Wait()
}

// receivers is how many ReceiveMessage calls a poller keeps in flight
// while it fills a batch.
const receivers = 2

// gather collects one batch: it waits (long polling) for a first message,
// then receives in parallel until the batch size, 6 MB of event, or the
// batching window since the first message.
func (es *EventSource) gather(ctx context.Context) ([]events.SQSMessage, error) {
	first, err := es.receive(ctx, min(10, es.BatchSize), 1)
	if err != nil || len(first) == 0 {
		return nil, err
	}
	opened := time.Now()
	var (
		mu      sync.Mutex
		records []events.SQSMessage
		size    = 20
		full    bool
	)
	add := func(msgs []types.Message) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			r := toRecord(m, es.QueueARN)
			n := recordSize(r)
			if full || len(records) >= es.BatchSize || size+n > sqsEventLimit {
				full = true
				// Lambda would not put it in this batch: let it come back at once.
				_, _ = es.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(es.QueueURL),
					Entries: []types.ChangeMessageVisibilityBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}}})
				continue
			}
			size += n
			records = append(records, r)
		}
		full = full || len(records) >= es.BatchSize
	}
	add(first)
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return full || time.Since(opened) >= es.Window || ctx.Err() != nil
	}
	var wg sync.WaitGroup
	for range receivers {
		wg.Go(func() {
			for !done() {
				mu.Lock()
				want := min(10, es.BatchSize-len(records))
				mu.Unlock()
				if want <= 0 {
					return
				}
				msgs, err := es.receive(ctx, want, 0)
				if err != nil {
					return
				}
				if len(msgs) == 0 {
					time.Sleep(min(50*time.Millisecond, es.Window/10))
					continue
				}
				add(msgs)
			}
		})
	}
	wg.Wait()
	return records, nil
}

func (es *EventSource) receive(ctx context.Context, n int, wait int32) ([]types.Message, error) {
	out, err := es.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(es.QueueURL),
		MaxNumberOfMessages: int32(n), WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"}})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

func (es *EventSource) invoke(ctx context.Context, records []events.SQSMessage, payload []byte) error {
	es.invocations.Add(1)
	out, err := es.Invoke(ctx, payload)
	if err != nil {
		return err // nothing deleted: all come back
	}
	batch := make(map[string]bool, len(records))
	for _, r := range records {
		batch[r.MessageId] = true
	}
	failures, err := batchItemFailures(out, batch)
	if err != nil {
		return err // as Lambda: the whole batch failed, nothing deleted
	}
	// The deletes go on while the next batch is invoked, as Lambda's do.
	es.deletes.Go(func() { _ = es.delete(context.WithoutCancel(ctx), records, failures) })
	return nil
}

// delete removes the messages that succeeded, 10 a call.
func (es *EventSource) delete(ctx context.Context, records []events.SQSMessage, failures map[string]bool) error {
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
		if failures[r.MessageId] {
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
