package sqstest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// client is the real SDK client pointed at the stand-in through
// AWS_ENDPOINT_URL_SQS, as the functions are.
func client(t *testing.T) (*sqstest.Server, *sqs.Client) {
	t.Helper()
	srv := sqstest.NewServer()
	t.Cleanup(srv.Close)
	srv.Env(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRetryMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	return srv, sqs.NewFromConfig(cfg)
}

func code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return fmt.Sprint(err)
}

func TestSendReceiveDeleteWithTheSDK(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: time.Hour})
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String(`{"n":1}`)},
		{Id: aws.String("b"), MessageBody: aws.String(`{"n":2}`), MessageAttributes: map[string]types.MessageAttributeValue{
			"error_code": {DataType: aws.String("String"), StringValue: aws.String("X")}}},
	}})
	if err != nil || len(out.Successful) != 2 {
		t.Fatalf("send: %v %+v", err, out)
	}
	recv, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"}})
	if err != nil || len(recv.Messages) != 2 {
		t.Fatalf("receive: %v %d", err, len(recv.Messages))
	}
	m := recv.Messages[1]
	if m.Attributes["SentTimestamp"] == "" || m.Attributes["ApproximateReceiveCount"] != "1" ||
		aws.ToString(m.MessageAttributes["error_code"].StringValue) != "X" {
		t.Fatalf("attributes: %v %v", m.Attributes, m.MessageAttributes)
	}
	// In flight: not received again until the visibility timeout passes.
	again, _ := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if len(again.Messages) != 0 {
		t.Fatal("an in-flight message was received again")
	}
	del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("0"), ReceiptHandle: recv.Messages[0].ReceiptHandle}}})
	if err != nil || len(del.Successful) != 1 {
		t.Fatalf("delete: %v", err)
	}
	// A second's visibility: it comes back once the second has passed.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	again, _ = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if len(again.Messages) != 1 || aws.ToString(again.Messages[0].Body) != `{"n":2}` || again.Messages[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after the timeout: %+v", again.Messages)
	}
}

func TestRedriveAfterMaxReceives(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	srv.CreateQueue("dlq", sqstest.QueueOptions{})
	url := srv.CreateQueue("push", sqstest.QueueOptions{DeadLetter: "dlq", MaxReceiveCount: 2, VisibilityTimeout: 10 * time.Millisecond})
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		time.Sleep(20 * time.Millisecond)
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(out.Messages); (i < 2) != (got == 1) {
			t.Fatalf("receive %d: %d messages", i+1, got)
		}
	}
	if d := srv.Messages("dlq"); len(d) != 1 || d[0].Body != "x" {
		t.Fatalf("dead-letter queue: %+v", d)
	}
}

// What SQS refuses, the stand-in refuses, with SQS's codes
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
func TestRefusesWhatSQSRefuses(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	eleven := make([]types.SendMessageBatchRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry(fmt.Sprint(i), "x")
	}
	big := strings.Repeat("a", 200_000)
	for name, c2 := range map[string]struct {
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		"eleven entries":      {eleven, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		"repeated ids":        {[]types.SendMessageBatchRequestEntry{entry("a", "x"), entry("a", "y")}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		"an id with a space":  {[]types.SendMessageBatchRequestEntry{entry("a b", "x")}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
		"over 256 KiB in all": {[]types.SendMessageBatchRequestEntry{entry("a", big), entry("b", big)}, "AWS.SimpleQueueService.BatchRequestTooLong"},
	} {
		_, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: c2.entries})
		if code(err) != c2.code {
			t.Errorf("%s: %v, want %s", name, err, c2.code)
		}
	}
	// An empty batch: the SDK refuses it itself, so ask as a raw client would.
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"QueueUrl":"`+url+`","Entries":[]}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessageBatch")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-query-error") != "AWS.SimpleQueueService.EmptyBatchRequest;Sender" {
		t.Errorf("an empty batch: %d %q", resp.StatusCode, resp.Header.Get("x-amzn-query-error"))
	}
	// Entry by entry: a body SQS cannot carry fails alone.
	out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		entry("ok", "fine"), entry("ctl", "bad\x01char"), entry("large", strings.Repeat("b", 100_000))}})
	if err != nil || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "ctl" || !out.Failed[0].SenderFault {
		t.Fatalf("%v %+v", err, out)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strings.Repeat("c", sqstest.MaxMessageBytes+1))}); code(err) != "InvalidParameterValue" {
		t.Errorf("a message over 256 KiB: %v", err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url + "-gone"), MessageBody: aws.String("x")}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("an unknown queue: %v", err)
	}
	if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 11}); code(err) != "InvalidParameterValue" {
		t.Errorf("MaxNumberOfMessages 11: %v", err)
	}
	// Injected partial failure and an outage.
	srv.FailEntries(1)
	out, err = c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{entry("a", "1"), entry("b", "2")}})
	if err != nil || len(out.Failed) != 1 || out.Failed[0].SenderFault {
		t.Fatalf("partial failure: %v %+v", err, out)
	}
	srv.SetDown(true)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")}); code(err) != "ServiceUnavailable" {
		t.Errorf("down: %v", err)
	}
}
