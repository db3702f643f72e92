package sqstest

import (
	"encoding/base64"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// toRecord is a received message as Lambda hands it to the function: the
// message attributes with their data types, a String's or Number's
// stringValue, a Binary's binaryValue, and the empty lists Lambda writes.
func toRecord(m types.Message, arn string) events.SQSMessage {
	r := events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
		Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: "us-east-1"}
	for k, v := range m.MessageAttributes {
		r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue,
			StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: aws.ToString(v.DataType)}
	}
	return r
}

// recordSize is a record's length in the event's JSON, without encoding
// it: the fields' names and punctuation, and each value as encoding/json
// writes it (escapes included).
func recordSize(r events.SQSMessage) int {
	n := 179 // {"messageId":"",...,"awsRegion":""} with empty values and {} for the maps
	for _, v := range []string{r.MessageId, r.ReceiptHandle, r.Body, r.Md5OfBody, r.Md5OfMessageAttributes, r.EventSource, r.EventSourceARN, r.AWSRegion} {
		n += jsonLen(v)
	}
	for k, v := range r.Attributes {
		n += jsonLen(k) + jsonLen(v) + 6 // "k":"v",
	}
	if len(r.Attributes) > 0 {
		n-- // no comma after the last
	}
	for k, v := range r.MessageAttributes {
		// "k":{"stringValue":"v","stringListValues":[],"binaryListValues":[],"dataType":"t"},
		n += jsonLen(k) + jsonLen(v.DataType) + 63
		if v.StringValue != nil {
			n += jsonLen(*v.StringValue) + 17
		}
		if v.BinaryValue != nil {
			n += base64.StdEncoding.EncodedLen(len(v.BinaryValue)) + 17 // "binaryValue":"…",
		}
	}
	return n
}

// jsonLen is the length of s inside a JSON string as encoding/json writes
// it: quotes and backslashes escaped with one byte more, control
// characters and <, > and & (HTML-safe) as six-byte \u escapes, and so
// U+2028 and U+2029 (three bytes each).
func jsonLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 5
		}
	}
	return n + strings.Count(s, "\u2028")*3 + strings.Count(s, "\u2029")*3
}
