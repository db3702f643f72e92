package sqstest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// CreateQueue takes a queue's attributes and applies them; asked again, it
// answers the same URL when the attributes it is given match the queue's,
// and refuses (QueueAlreadyExists) when they differ.
func TestCreateQueueWithTheSDK(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	create := func(name string, attrs map[string]string) (string, error) {
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.QueueUrl), nil
	}
	dlq, err := create("dlq", nil)
	if err != nil || !strings.HasSuffix(dlq, "/"+sqstest.AccountID+"/dlq") {
		t.Fatalf("%q %v", dlq, err)
	}
	attrs := map[string]string{"VisibilityTimeout": "0", "MaximumMessageSize": "1024", "MessageRetentionPeriod": "1209600",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqstest.AccountID + `:dlq","maxReceiveCount":"1"}`}
	url, err := create("push", attrs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"VisibilityTimeout": "0", "MaximumMessageSize": "1024", "MessageRetentionPeriod": "1209600", "DelaySeconds": "0",
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqstest.AccountID + `:dlq","maxReceiveCount":1}`}
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, got.Attributes[k], v)
		}
	}
	for what, a := range map[string]map[string]string{"the same attributes": attrs, "none": nil, "a subset": {"VisibilityTimeout": "0"}} {
		if again, err := create("push", a); err != nil || again != url {
			t.Errorf("again with %s: %q %v", what, again, err)
		}
	}
	if _, err := create("push", map[string]string{"VisibilityTimeout": "60"}); code(err) != "QueueAlreadyExists" {
		t.Errorf("a different VisibilityTimeout: %v", err)
	}
	// A queue the Go API made (as the local stack makes its own) answers
	// the same way.
	made := srv.CreateQueue("made", sqstest.QueueOptions{VisibilityTimeout: 720 * time.Second, DeadLetter: "dlq"})
	if again, err := create("made", map[string]string{"VisibilityTimeout": "720", "RedrivePolicy": `{"maxReceiveCount":5,"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqstest.AccountID + `:dlq"}`}); err != nil || again != made {
		t.Errorf("the Go API's queue: %q %v", again, err)
	}
	for what, c2 := range map[string]struct {
		name  string
		attrs map[string]string
		code  string
	}{
		"a name with a space":          {"a b", nil, "InvalidParameterValue"},
		"a name of 81":                 {strings.Repeat("q", 81), nil, "InvalidParameterValue"},
		"a FIFO name":                  {"q.fifo", nil, "InvalidParameterValue"},
		"VisibilityTimeout over 12 h":  {"q", map[string]string{"VisibilityTimeout": "43201"}, "InvalidAttributeValue"},
		"MaximumMessageSize under 1 K": {"q", map[string]string{"MaximumMessageSize": "1023"}, "InvalidAttributeValue"},
		"DelaySeconds not a number":    {"q", map[string]string{"DelaySeconds": "soon"}, "InvalidAttributeValue"},
		"an unknown attribute":         {"q", map[string]string{"Colour": "red"}, "InvalidAttributeName"},
		"a read-only attribute":        {"q", map[string]string{"QueueArn": "arn"}, "InvalidAttributeName"},
		"a FIFO attribute":             {"q", map[string]string{"ContentBasedDeduplication": "true"}, "InvalidAttributeName"},
		"a missing dead-letter queue":  {"q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqstest.AccountID + `:gone","maxReceiveCount":5}`}, "InvalidAttributeValue"},
		"a maxReceiveCount of 0":       {"q", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:` + sqstest.AccountID + `:dlq","maxReceiveCount":0}`}, "InvalidAttributeValue"},
	} {
		if _, err := create(c2.name, c2.attrs); code(err) != c2.code {
			t.Errorf("%s: %v, want %s", what, err, c2.code)
		}
	}

	// The attributes apply: the size limit, and the redrive after one
	// receive (a 0 s visibility: visible again at once).
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(strings.Repeat("x", 1025))}); code(err) != "InvalidParameterValue" {
		t.Errorf("1025 bytes on a 1024-byte queue: %v", err)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("once")}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)})
		if err != nil || len(out.Messages) != want {
			t.Fatalf("receive %d: %v, %d messages, want %d", i+1, err, len(out.Messages), want)
		}
	}
	if out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq)}); err != nil || len(out.Messages) != 1 {
		t.Fatalf("the dead-letter queue: %v %+v", err, out)
	}
}

// A queue's DelaySeconds holds back a message that gives no delay of its
// own, and its ReceiveMessageWaitTimeSeconds makes a receive that gives no
// wait a long poll.
func TestQueueDefaultsForMessagesAndReceives(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("delayed"), Attributes: map[string]string{"DelaySeconds": "900"}})
	if err != nil {
		t.Fatal(err)
	}
	delayed := out.QueueUrl
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: delayed, MessageBody: aws.String("later")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: delayed, MaxNumberOfMessages: 10})
	if err != nil || len(got.Messages) != 0 {
		t.Fatalf("a delayed message was received: %v %+v", err, got)
	}
	counts, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: delayed, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil || counts.Attributes["ApproximateNumberOfMessagesDelayed"] != "1" || counts.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("%v %v", err, counts.Attributes)
	}

	out, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("polled"), Attributes: map[string]string{"ReceiveMessageWaitTimeSeconds": "20"}})
	if err != nil {
		t.Fatal(err)
	}
	polled := out.QueueUrl
	received := make(chan int, 1)
	go func() {
		got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: polled})
		if err != nil {
			received <- -1
			return
		}
		received <- len(got.Messages)
	}()
	for srv.Calls("ReceiveMessage") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: polled, MessageBody: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if n := <-received; n != 1 {
		t.Fatalf("the long poll got %d messages", n)
	}
}

// GetQueueUrl and ListQueues, as a person looks at the local stack.
func TestGetQueueURLAndListQueues(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	urls := map[string]string{}
	for _, name := range []string{"push", "push-dlq", "other"} {
		urls[name] = srv.CreateQueue(name, sqstest.QueueOptions{})
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("push")})
	if err != nil || aws.ToString(got.QueueUrl) != urls["push"] {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("gone")}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("an unknown queue: %v", err)
	}
	if _, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("push"), QueueOwnerAWSAccountId: aws.String("999999999999")}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("another account's queue: %v", err)
	}
	list := func(in *sqs.ListQueuesInput) []string {
		out, err := c.ListQueues(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.QueueUrls
	}
	if all := list(&sqs.ListQueuesInput{}); strings.Join(all, " ") != urls["other"]+" "+urls["push"]+" "+urls["push-dlq"] {
		t.Errorf("all: %v", all)
	}
	if some := list(&sqs.ListQueuesInput{QueueNamePrefix: aws.String("push")}); len(some) != 2 {
		t.Errorf("prefix push: %v", some)
	}
	if none := list(&sqs.ListQueuesInput{QueueNamePrefix: aws.String("zz")}); len(none) != 0 {
		t.Errorf("prefix zz: %v", none)
	}
	var paged []string
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil || len(out.QueueUrls) > 2 {
			t.Fatalf("%v %+v", err, out)
		}
		paged = append(paged, out.QueueUrls...)
	}
	if len(paged) != 3 {
		t.Errorf("pages: %v", paged)
	}
}

// A QueueUrl names its queue by its path, /ACCOUNT/NAME, whatever its
// host: the real-shaped URL a function derives from an eventSourceARN
// finds the local queue; another account's does not.
func TestQueueURLByPath(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	srv.CreateQueue("push", sqstest.QueueOptions{})
	real := "https://sqs.us-east-1.amazonaws.com/" + sqstest.AccountID + "/push"
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(real), MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("the real-shaped URL: %v", err)
	}
	if n := len(srv.Messages("push")); n != 1 {
		t.Fatalf("%d messages", n)
	}
	for _, url := range []string{"https://sqs.us-east-1.amazonaws.com/000000000000/push", "https://sqs.us-east-1.amazonaws.com/push", "push", srv.URL + "/" + sqstest.AccountID + "/push/more"} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
			t.Errorf("%s: %v", url, err)
		}
	}
}

// PurgeQueue deletes every message, visible or in flight, and SQS allows
// one a minute.
func TestPurgeQueue(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	srv.Put("push", "a", "b", "c")
	if _, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages("push")); n != 0 {
		t.Fatalf("%d messages after the purge", n)
	}
	_, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url)})
	if code(err) != "AWS.SimpleQueueService.PurgeQueueInProgress" || status(err) != 403 {
		t.Errorf("a second purge at once: %v", err)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(url + "-gone")}); code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("an unknown queue: %v", err)
	}
}

// An injected RequestThrottled answers as SQS's does: HTTP 403, the
// sender's fault.
func TestThrottlingIsA403(t *testing.T) {
	srv, c := client(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	srv.Fail("SendMessage", sqstest.Fault{Code: "RequestThrottled"})
	_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x")})
	if code(err) != "RequestThrottled" || status(err) != 403 {
		t.Fatalf("%v (HTTP %d)", err, status(err))
	}
}
