package pusher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
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

// BenchmarkDrain10000: an event of 10,000 one-address records drained at
// the template's pace (GALXE_MAX_QPS 5, Galxe answering in 150 ms), with and
// without the shared-state table on the DynamoDB stand-in: the wall time
// against the ideal (20 calls at 5 a second), and the table's requests per
// pushed item.
func BenchmarkDrain10000(b *testing.B) {
	for _, withTable := range []bool{false, true} {
		b.Run(fmt.Sprintf("table=%v", withTable), func(b *testing.B) {
			g := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1, Latency: 150 * time.Millisecond})
			defer g.Close()
			db := dynamotest.NewServer()
			defer db.Close()
			db.CreateTable(stateTable)
			var wall time.Duration
			n := 0
			for b.Loop() {
				client, _ := galxe.New(galxe.Config{Endpoint: g.URL, Token: secret.Static("t", token), MaxQPS: 5})
				h := &pusher.Handler{Galxe: client}
				if withTable {
					h.State = state.New(db.Client(state.ClientOptions), stateTable)
				}
				now := time.Now().UnixMilli()
				recs := make([]events.SQSMessage, 10000)
				for i := range recs {
					recs[i] = record(fmt.Sprintf("m-%d", i), pushAt(cred, "APPEND", now, addr(n*10000+i+1)), now)
				}
				payload, _ := json.Marshal(events.SQSEvent{Records: recs})
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				start := time.Now()
				out, err := lambda.NewHandler(h.Handle).Invoke(ctx, payload)
				wall += time.Since(start)
				cancel()
				if err != nil || !bytes.Contains(out, []byte(`"batchItemFailures":[]`)) {
					b.Fatalf("%v %.200s", err, out)
				}
				n++
			}
			ideal := time.Duration(n) * 20 * 200 * time.Millisecond
			b.ReportMetric(float64(wall)/float64(ideal), "wall/ideal")
			b.ReportMetric(float64(db.Calls("PutItem")+db.Calls("GetItem"))/float64(n*10000), "ddb-requests/item")
		})
	}
}
