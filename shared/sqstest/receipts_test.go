package sqstest_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// DeleteMessage and ChangeMessageVisibility, one message at a time, as a
// person uses them with the AWS CLI, and the receipt handles SQS refuses:
// one it never gave out, or gave out for another queue, is
// ReceiptHandleIsInvalid (HTTP 404), in the batch calls a failed entry
// with that code; an outdated one deletes nothing, successfully, and has
// expired for a visibility change.
func TestReceiptHandles(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	other := srv.CreateQueue("other", sqstest.QueueOptions{})
	srv.Put("push", "a")
	srv.Put("other", "b")
	receive := func(url string) string {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("receive: %v %+v", err, out)
		}
		return aws.ToString(out.Messages[0].ReceiptHandle)
	}
	handle, otherHandle := receive(url), receive(other)

	for what, h := range map[string]string{"a made-up handle": "garbage", "an empty handle": "", "another queue's": otherHandle,
		"a truncated handle": handle[:len(handle)-4]} {
		_, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(h)})
		if code(err) != "ReceiptHandleIsInvalid" || status(err) != 404 {
			t.Errorf("DeleteMessage with %s: %v", what, err)
		}
		_, err = c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(h), VisibilityTimeout: 10})
		if code(err) != "ReceiptHandleIsInvalid" || status(err) != 404 {
			t.Errorf("ChangeMessageVisibility with %s: %v", what, err)
		}
		del, err := c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("x"), ReceiptHandle: aws.String(h)}}})
		if err != nil || len(del.Failed) != 1 || aws.ToString(del.Failed[0].Code) != "ReceiptHandleIsInvalid" || !del.Failed[0].SenderFault {
			t.Errorf("DeleteMessageBatch with %s: %v %+v", what, err, del)
		}
		vis, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("x"), ReceiptHandle: aws.String(h), VisibilityTimeout: 10}}})
		if err != nil || len(vis.Failed) != 1 || aws.ToString(vis.Failed[0].Code) != "ReceiptHandleIsInvalid" || !vis.Failed[0].SenderFault {
			t.Errorf("ChangeMessageVisibilityBatch with %s: %v %+v", what, err, vis)
		}
	}
	if n := len(srv.Messages("push")); n != 1 {
		t.Fatalf("%d messages after refused handles", n)
	}

	// The current handle: a visibility of 0 makes the message visible
	// again at once; received again, the first handle is outdated.
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: 43201}); code(err) != "InvalidParameterValue" {
		t.Errorf("a visibility over 12 h: %v", err)
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	current := receive(url)
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle)}); err != nil {
		t.Errorf("DeleteMessage with an outdated handle: %v", err)
	}
	if n := len(srv.Messages("push")); n != 1 {
		t.Fatalf("an outdated handle deleted the message")
	}
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(handle), VisibilityTimeout: 10}); code(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "expired") {
		t.Errorf("ChangeMessageVisibility with an outdated handle: %v", err)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(current)}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages("push")); n != 0 {
		t.Fatalf("%d messages after DeleteMessage", n)
	}
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url + "-gone"), ReceiptHandle: aws.String(current)}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("an unknown queue: %v", err)
	}

	// The SDK always sends VisibilityTimeout; a raw request without it is
	// missing a parameter.
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"QueueUrl":"`+other+`","ReceiptHandle":"`+otherHandle+`"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.ChangeMessageVisibility")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-query-error") != "MissingParameter;Sender" {
		t.Errorf("no VisibilityTimeout: %d %q", resp.StatusCode, resp.Header.Get("x-amzn-query-error"))
	}
}

// A message's visibility ends at most 12 hours after the receive that put
// it in flight: a change made later in its flight may ask for less.
func TestVisibilityLimitCountsFromTheReceive(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	srv.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	srv.Put("push", "a")
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("receive: %v", err)
	}
	handle := out.Messages[0].ReceiptHandle
	change := func(seconds int32) error {
		_, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: handle, VisibilityTimeout: seconds})
		return err
	}
	if err := change(43200); err != nil {
		t.Fatalf("12 hours at the receive: %v", err)
	}
	mu.Lock()
	now = now.Add(10 * time.Minute)
	mu.Unlock()
	if err := change(43200); err == nil || !strings.Contains(err.Error(), "beyond the limit") {
		t.Fatalf("12 hours, 10 minutes after the receive: %v", err)
	}
	if err := change(43200 - 600); err != nil {
		t.Fatalf("what is left of the 12 hours: %v", err)
	}
}
