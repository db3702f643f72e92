package sqstest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

func str(dataType, v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(dataType), StringValue: aws.String(v)}
}

func bin(dataType string, v []byte) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(dataType), BinaryValue: v}
}

// typed are attributes of every type, custom ones included, and their
// MD5OfMessageAttributes as moto computed it for the same attributes (sent
// with the AWS CLI), which is also SQS's documented algorithm: the type
// byte 1 for String and Number values, 2 for Binary ones.
var (
	typed = map[string]types.MessageAttributeValue{
		"s": str("String", "x"), "n": str("Number", "1.5"), "b": bin("Binary", []byte("AAEC")),
		"c": str("String.custom", "y"), "f": str("Number.float", "-2e3"),
	}
	typedMD5      = "c61be7b1c0ef3e93c4cca74d43e9439c"
	typedBatch    = map[string]types.MessageAttributeValue{"n": str("Number.int", "42"), "b": bin("Binary.gif", []byte("R0lG"))}
	typedBatchMD5 = "106f6f8e707cd41017da5ff72a138356"
)

// The stand-in keeps each attribute's data type and value, in SendMessage,
// SendMessageBatch, ReceiveMessage and Messages, with SQS's digests.
func TestAttributesKeepTheirTypes(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("hello"), MessageAttributes: typed})
	if err != nil || aws.ToString(sent.MD5OfMessageAttributes) != typedMD5 {
		t.Fatalf("SendMessage: %v, digest %s, want %s", err, aws.ToString(sent.MD5OfMessageAttributes), typedMD5)
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("b"), MessageBody: aws.String("y"), MessageAttributes: typedBatch}}})
	if err != nil || len(batch.Successful) != 1 || aws.ToString(batch.Successful[0].MD5OfMessageAttributes) != typedBatchMD5 {
		t.Fatalf("SendMessageBatch: %v %+v, want digest %s", err, batch, typedBatchMD5)
	}
	recv, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil || len(recv.Messages) != 2 {
		t.Fatalf("ReceiveMessage: %v %+v", err, recv)
	}
	for i, want := range []map[string]types.MessageAttributeValue{typed, typedBatch} {
		m := recv.Messages[i]
		if digest := []string{typedMD5, typedBatchMD5}[i]; aws.ToString(m.MD5OfMessageAttributes) != digest {
			t.Errorf("message %d: digest %s, want %s", i, aws.ToString(m.MD5OfMessageAttributes), digest)
		}
		if len(m.MessageAttributes) != len(want) {
			t.Errorf("message %d: %d attributes, want %d", i, len(m.MessageAttributes), len(want))
		}
		for name, w := range want {
			got := m.MessageAttributes[name]
			if aws.ToString(got.DataType) != aws.ToString(w.DataType) || aws.ToString(got.StringValue) != aws.ToString(w.StringValue) || !bytes.Equal(got.BinaryValue, w.BinaryValue) {
				t.Errorf("message %d, %s: %s %q %q, want %s %q %q", i, name, aws.ToString(got.DataType), aws.ToString(got.StringValue), got.BinaryValue,
					aws.ToString(w.DataType), aws.ToString(w.StringValue), w.BinaryValue)
			}
		}
	}
	msgs := srv.Messages("push")
	if msgs[0].AttributeTypes["f"] != "Number.float" || msgs[0].Attributes["f"] != "-2e3" || msgs[1].AttributeTypes["b"] != "Binary.gif" || msgs[1].Attributes["b"] != "R0lG" {
		t.Errorf("Messages: %+v", msgs)
	}
}

// A Number attribute holds a number, as SQS's rule has it: up to 38
// significant digits, zero or between 10^-128 and 10^+126 in magnitude.
func TestNumberAttributesAreNumbers(t *testing.T) {
	srv, c := client(t)
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	send := func(v string) error {
		_, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"),
			MessageAttributes: map[string]types.MessageAttributeValue{"n": str("Number", v)}})
		return err
	}
	for _, v := range []string{"0", "-1.5", "+2", "007", "1e10", "1E-128", ".5", "5.", "1e126", "-1e126", "0e999", "0.000",
		"1" + strings.Repeat("0", 37), "1." + strings.Repeat("9", 37), "12345678901234567890123456789012345678000"} {
		if err := send(v); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
	for _, v := range []string{"abc", "1e", "e5", "1.2.3", "0x10", "NaN", "Inf", "1_000", " 1", "1,5", "--1", "1e127", "2e126", "1e-129",
		"1." + strings.Repeat("1", 38)} {
		if err := send(v); code(err) != "InvalidParameterValue" {
			t.Errorf("%q: %v, want InvalidParameterValue", v, err)
		}
	}
}

// What SQS refuses in message attributes: more than ten; a name with other
// characters, a '.' at either end or twice in a row, over 256, or a
// reserved prefix; a type other than String, Number or Binary (case
// matters); an empty value; a String with characters a body may not have.
// SendMessage refuses the call; SendMessageBatch fails the entry alone.
func TestAttributeRules(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	url := srv.CreateQueue("push", sqstest.QueueOptions{})
	eleven := map[string]types.MessageAttributeValue{}
	for _, n := range strings.Split("a b c d e f g h i j k", " ") {
		eleven[n] = str("String", "v")
	}
	one := func(name string, v types.MessageAttributeValue) map[string]types.MessageAttributeValue {
		return map[string]types.MessageAttributeValue{name: v}
	}
	for what, attrs := range map[string]map[string]types.MessageAttributeValue{
		"eleven attributes":      eleven,
		"a leading period":       one(".a", str("String", "v")),
		"a trailing period":      one("a.", str("String", "v")),
		"two periods":            one("a..b", str("String", "v")),
		"a space":                one("a b", str("String", "v")),
		"257 characters":         one(strings.Repeat("a", 257), str("String", "v")),
		"the AWS. prefix":        one("AWS.trace", str("String", "v")),
		"the amazon. prefix":     one("amazon.x", str("String", "v")),
		"a lowercase type":       one("a", str("string", "v")),
		"an unknown type":        one("a", str("Text", "v")),
		"an empty string":        one("a", str("String", "")),
		"an empty binary":        one("a", bin("Binary", nil)),
		"a binary as a string":   one("a", str("Binary", "v")),
		"a control character":    one("a", str("String", "bad\x01")),
		"a number as binary":     one("a", bin("Number", []byte("1"))),
		"an empty custom number": one("a", str("Number.int", "")),
	} {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageAttributes: attrs}); code(err) != "InvalidParameterValue" {
			t.Errorf("SendMessage with %s: %v, want InvalidParameterValue", what, err)
		}
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("ok"), MessageBody: aws.String("x")}, {Id: aws.String("bad"), MessageBody: aws.String("x"), MessageAttributes: attrs}}})
		if err != nil || len(out.Successful) != 1 || len(out.Failed) != 1 || aws.ToString(out.Failed[0].Code) != "InvalidParameterValue" || !out.Failed[0].SenderFault {
			t.Errorf("SendMessageBatch with %s: %v %+v", what, err, out)
		}
	}
	ten := map[string]types.MessageAttributeValue{}
	for _, n := range strings.Split("a b c d e f g h i j", " ") {
		ten[n] = str("String", "v")
	}
	ten["j"] = str("String", "émoji 🙂")
	ten["a-b_c.d"] = str("Number", "1")
	delete(ten, "i")
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("x"), MessageAttributes: ten}); err != nil {
		t.Errorf("ten valid attributes refused: %v", err)
	}
}
