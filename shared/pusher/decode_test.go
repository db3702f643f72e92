package pusher

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func sampleEvent(n int) []byte {
	recs := make([]events.SQSMessage, n)
	for i := range recs {
		body := fmt.Sprintf(`{"credId":"380512468497932288","operation":"APPEND","items":["0x%040x"]}`, i)
		recs[i] = events.SQSMessage{MessageId: fmt.Sprintf("059f36b4-87a3-44ab-83d2-%012d", i), ReceiptHandle: "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
			Body: body, Md5OfBody: "e4e68fb7bd0e697a0ae8f1bb342846b3", EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:push", AWSRegion: "us-east-1",
			Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": strconv.Itoa(1795780800000 + i),
				"SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1795780800001"},
			MessageAttributes: map[string]events.SQSMessageAttribute{}}
	}
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

// stdRecords is encoding/json's answer, the reference.
func stdRecords(b []byte) ([]record, error) {
	var ev struct {
		Records []record `json:"Records"`
	}
	err := json.Unmarshal(b, &ev)
	return ev.Records, err
}

func BenchmarkDecodeRecords(b *testing.B) {
	payload := sampleEvent(10000)
	b.SetBytes(int64(len(payload)))
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := scanRecords(payload); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdRecords(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzDecodeRecords: whatever the input, the one-pass reader and
// encoding/json give the same records, or the reader declines.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(sampleEvent(2))
	f.Add([]byte(`{"Records":[{"messageId":"a","body":"x\"y\\u00e9\ud83d\ude00\ud800","eventSource":"aws:sqs","attributes":{"SentTimestamp":"5"}}]}`))
	f.Add([]byte(`{"records":[{"MessageId":"a"}]}`))
	f.Add([]byte(`{"Records":[{"messageId":"a","messageId":"b","body":null,"attributes":null,"x":[1,-2.5e3,true,false,null,{}]}]}`))
	f.Add([]byte("{\"Records\":[{\"body\":\"\xff\"}]}"))
	f.Add([]byte(`{"Records":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := stdRecords(b)
		got, ok := scanRecords(b)
		if !ok {
			return // declined: encoding/json decides
		}
		if wantErr != nil {
			t.Fatalf("the reader accepted what encoding/json refuses (%v): %q", wantErr, b)
		}
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nscan %+v\njson %+v", b, got, want)
		}
	})
}

func TestDecodeRecordsMatchesEncodingJSON(t *testing.T) {
	b := sampleEvent(50)
	got, err := decodeRecords(b)
	want, _ := stdRecords(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("%v", err)
	}
	if _, ok := scanRecords(b); !ok {
		t.Fatal("the reader declined Lambda's own shape")
	}
}
