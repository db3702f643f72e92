package pusher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
)

// instant stands in for Galxe: the benchmark is the pusher's own work.
type instant struct{}

func (instant) Do(context.Context, string, any) (*galxe.Result, error) {
	return &galxe.Result{Data: json.RawMessage(`{}`), Attempts: 1}, nil
}

// BenchmarkInvoke10000: an event of 10,000 one-address records, as large as
// Lambda makes them, decoded, coalesced and planned into 20 calls.
func BenchmarkInvoke10000(b *testing.B) {
	recs := make([]events.SQSMessage, 10000)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("m-%d", i), push(cred, "APPEND", addr(i+1)), int64(1795780800000+i))
	}
	payload, _ := json.Marshal(events.SQSEvent{Records: recs})
	h := lambda.NewHandler((&pusher.Handler{Galxe: instant{}}).Handle)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
}
