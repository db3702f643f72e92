package sqstest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
// succeeded, and keeps reported failures, which come back when their
// visibility timeout ends. The visibility is longer than the test, so that
// no message comes back because the machine is slow; the test ends the
// reported one's at once instead of waiting for it.
func TestEventSourceLikeLambdas(t *testing.T) {
	srv, c := client(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: time.Hour})
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
					if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url),
						ReceiptHandle: aws.String(r.ReceiptHandle), VisibilityTimeout: 0}); err != nil {
						t.Error(err)
					}
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
			}
			return json.Marshal(resp)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { es.Run(ctx); close(done) }()
	deadline := time.Now().Add(time.Minute)
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
	typed := map[string]events.SQSMessageAttribute{
		"error_code": {StringValue: aws.String("INVALID_<MESSAGE>"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "String"},
		"sent":       {StringValue: aws.String("1700000000000"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Number.ms"},
		"blob":       {BinaryValue: []byte("\x00\x01\x02\x03\x04"), StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "Binary"},
	}
	for _, body := range []string{`{"credId":"1","operation":"APPEND","items":["0xab"]}`, "plain", "<&>\n\t\"\\\u2028\u2029é\x01"} {
		for _, attrs := range []map[string]events.SQSMessageAttribute{{}, typed} {
			r := events.SQSMessage{MessageId: "id-1", ReceiptHandle: "rh", Body: body, Md5OfBody: "md5", EventSource: "aws:sqs",
				EventSourceARN: "arn:aws:sqs:us-east-1:1:q", AWSRegion: "us-east-1", Md5OfMessageAttributes: "c61be7b1c0ef3e93c4cca74d43e9439c",
				Attributes: map[string]string{"SentTimestamp": "1", "ApproximateReceiveCount": "2"}, MessageAttributes: attrs}
			b, _ := json.Marshal(r)
			if got := sqstest.RecordSize(r); got < len(b) || got > len(b)+8 {
				t.Errorf("%q with %d attributes: size %d, encoded %d", body, len(attrs), got, len(b))
			}
		}
	}
}

// The event source reads the function's answer as Lambda reads a partial
// batch response: listed messages come back, the others are deleted; an
// answer Lambda cannot use as one (an itemIdentifier empty, null, not a
// string or not in the batch, an item or an answer with another key, not a
// JSON object) fails the whole batch, and nothing is deleted.
func TestEventSourceReadsPartialBatchResponsesAsLambda(t *testing.T) {
	for name, c := range map[string]struct {
		answer string // $ID: the second record's messageId
		left   int    // of the three messages, those not deleted
	}{
		"one failure":               {`{"batchItemFailures":[{"itemIdentifier":"$ID"}]}`, 1},
		"the same failure twice":    {`{"batchItemFailures":[{"itemIdentifier":"$ID"},{"itemIdentifier":"$ID"}]}`, 1},
		"an empty list":             {`{"batchItemFailures":[]}`, 0},
		"a null list":               {`{"batchItemFailures":null}`, 0},
		"an empty response":         {`{}`, 0},
		"a null response":           {`null`, 0},
		"no response":               {``, 0},
		"an empty itemIdentifier":   {`{"batchItemFailures":[{"itemIdentifier":""}]}`, 3},
		"a null itemIdentifier":     {`{"batchItemFailures":[{"itemIdentifier":null}]}`, 3},
		"a number itemIdentifier":   {`{"batchItemFailures":[{"itemIdentifier":7}]}`, 3},
		"an id not in the batch":    {`{"batchItemFailures":[{"itemIdentifier":"not-a-message"}]}`, 3},
		"a misspelt key":            {`{"batchItemFailures":[{"itemIdentifer":"$ID"}]}`, 3},
		"a key beside it":           {`{"batchItemFailures":[{"itemIdentifier":"$ID","reason":"x"}]}`, 3},
		"a null item":               {`{"batchItemFailures":[null]}`, 3},
		"another case":              {`{"BatchItemFailures":[{"ItemIdentifier":"$ID"}]}`, 3},
		"another key":               {`{"failures":[{"itemIdentifier":"$ID"}]}`, 3},
		"a list of strings":         {`{"batchItemFailures":["$ID"]}`, 3},
		"a list for a response":     {`[{"itemIdentifier":"$ID"}]`, 3},
		"not JSON":                  {`ok`, 3},
		"a string for the response": {`"done"`, 3},
	} {
		t.Run(name, func(t *testing.T) {
			srv, cl := client(t)
			// A visibility longer than the test: nothing comes back on its own.
			url := srv.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: time.Hour})
			srv.Put("push", "a", "b", "c")
			invoked := make(chan []string, 1)
			es := &sqstest.EventSource{Client: cl, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
				BatchSize: 3, Window: 10 * time.Millisecond, MaxConcurrency: 1,
				Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
					var ev events.SQSEvent
					if err := json.Unmarshal(payload, &ev); err != nil {
						return nil, err
					}
					ids := make([]string, len(ev.Records))
					for i, r := range ev.Records {
						ids[i] = r.MessageId
					}
					select {
					case invoked <- ids:
					default:
					}
					if len(ids) != 3 {
						return nil, fmt.Errorf("a batch of %d", len(ids))
					}
					return []byte(strings.ReplaceAll(c.answer, "$ID", ids[1])), nil
				}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { es.Run(ctx); close(done) }()
			var ids []string
			select {
			case ids = <-invoked:
			case <-time.After(time.Minute):
				t.Fatal("not invoked within a minute")
			}
			cancel()
			<-done // Run returns once the deletes are done
			if len(ids) != 3 {
				t.Fatalf("a batch of %d", len(ids))
			}
			left := srv.Messages("push")
			if len(left) != c.left {
				t.Fatalf("%d messages left, want %d", len(left), c.left)
			}
			if c.left == 1 && left[0].ID != ids[1] {
				t.Fatalf("left %s, want the reported %s", left[0].ID, ids[1])
			}
		})
	}
}

// The event's records carry the message attributes as Lambda writes them:
// the data type (custom ones included), a stringValue or a binaryValue,
// empty lists, and md5OfMessageAttributes.
func TestEventSourceRecordsKeepAttributeTypes(t *testing.T) {
	srv, c := client(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: time.Hour})
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("hello"), MessageAttributes: typed}); err != nil {
		t.Fatal(err)
	}
	payloads := make(chan []byte, 1)
	es := &sqstest.EventSource{Client: c, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
		BatchSize: 1, Window: 10 * time.Millisecond, MaxConcurrency: 1,
		Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			select {
			case payloads <- payload:
			default:
			}
			return []byte(`{"batchItemFailures":[]}`), nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { es.Run(ctx); close(done) }()
	var payload []byte
	select {
	case payload = <-payloads:
	case <-time.After(time.Minute):
		t.Fatal("not invoked within a minute")
	}
	cancel()
	<-done
	var raw struct {
		Records []struct {
			MD5               string                     `json:"md5OfMessageAttributes"`
			MessageAttributes map[string]json.RawMessage `json:"messageAttributes"`
		}
	}
	if err := json.Unmarshal(payload, &raw); err != nil || len(raw.Records) != 1 {
		t.Fatalf("%v %s", err, payload)
	}
	r := raw.Records[0]
	if r.MD5 != typedMD5 {
		t.Errorf("md5OfMessageAttributes %s, want %s", r.MD5, typedMD5)
	}
	for name, want := range map[string]string{
		"s": `{"stringValue":"x","stringListValues":[],"binaryListValues":[],"dataType":"String"}`,
		"n": `{"stringValue":"1.5","stringListValues":[],"binaryListValues":[],"dataType":"Number"}`,
		"b": `{"binaryValue":"QUFFQw==","stringListValues":[],"binaryListValues":[],"dataType":"Binary"}`,
		"c": `{"stringValue":"y","stringListValues":[],"binaryListValues":[],"dataType":"String.custom"}`,
		"f": `{"stringValue":"-2e3","stringListValues":[],"binaryListValues":[],"dataType":"Number.float"}`,
	} {
		if got := string(r.MessageAttributes[name]); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev.Records[0].MessageAttributes["b"]; got.DataType != "Binary" || string(got.BinaryValue) != "AAEC" {
		t.Errorf("decoded: %+v", got)
	}
	if n := len(srv.Messages("push")); n != 0 {
		t.Errorf("%d messages left", n)
	}
}
