package sqstest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// The event source batches, bounds its concurrency, deletes what
// succeeded, and delivers reported failures again after their visibility
// timeout.
func TestEventSourceLikeLambdas(t *testing.T) {
	srv, c := client(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: 300 * time.Millisecond})
	for i := range 250 {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu        sync.Mutex
		seen      = map[string]int{}
		running   atomic.Int32
		peak      atomic.Int32
		biggest   int
		failFirst = true
	)
	es := &sqstest.EventSource{Client: c, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
		BatchSize: 100, Window: 200 * time.Millisecond, MaxConcurrency: 2,
		Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			var ev events.SQSEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return nil, err
			}
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			biggest = max(biggest, len(ev.Records))
			var resp events.SQSEventResponse
			for _, r := range ev.Records {
				if r.EventSource != "aws:sqs" || r.Attributes["SentTimestamp"] == "" {
					t.Errorf("record %+v", r)
				}
				seen[r.Body]++
				if r.Body == "7" && failFirst { // reported once: it must come back
					failFirst = false
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return json.Marshal(resp)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { es.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		complete := len(seen) == 250 && seen["7"] == 2
		mu.Unlock()
		if complete && len(srv.Messages("push")) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 250 || seen["7"] != 2 || len(srv.Messages("push")) != 0 {
		t.Fatalf("%d seen, message 7 %d times, %d left", len(seen), seen["7"], len(srv.Messages("push")))
	}
	for body, n := range seen {
		if body != "7" && n != 1 {
			t.Errorf("%s delivered %d times", body, n)
		}
	}
	if biggest > 100 || peak.Load() > 2 {
		t.Fatalf("batch of %d, %d at once", biggest, peak.Load())
	}
}

// The event source's size of a record matches its encoding, so an event
// stays within Lambda's 6 MB without encoding each record twice.
func TestRecordSizeMatchesTheEncoding(t *testing.T) {
	for _, body := range []string{`{"credId":"1","operation":"APPEND","items":["0xab"]}`, "plain", "<&>\n\t\"\\\u2028é\x01"} {
		r := events.SQSMessage{MessageId: "id-1", ReceiptHandle: "rh", Body: body, Md5OfBody: "md5", EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:1:q", AWSRegion: "us-east-1",
			Attributes: map[string]string{"SentTimestamp": "1", "ApproximateReceiveCount": "2"}, MessageAttributes: map[string]events.SQSMessageAttribute{}}
		b, _ := json.Marshal(r)
		if got := sqstest.RecordSize(r); got < len(b) || got > len(b)+8 {
			t.Errorf("%q: size %d, encoded %d", body, got, len(b))
		}
	}
}
