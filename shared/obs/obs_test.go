package obs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

// Parsing the lines as CloudWatch would: each metric named in a directive
// has a value at the root, and each dimension too.
func TestMetricsAreValidEMF(t *testing.T) {
	var out bytes.Buffer
	m := NewMetrics(&out, "stack-WebhookFunction-1A2B")
	m.Attempt(context.Background(), galxe.Attempt{Operation: "health", Number: 1, Latency: 1500 * time.Microsecond})
	m.Attempt(context.Background(), galxe.Attempt{Operation: "credential", Number: 2, Latency: 20 * time.Millisecond,
		Err: &galxe.Error{Code: "QUOTA_EXCEEDED", Category: galxe.CategoryRateLimit, RequestID: "req_1"}})

	sc := bufio.NewScanner(&out)
	var lines []map[string]any
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		lines = append(lines, line)
	}
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	names := map[string]bool{}
	for _, line := range lines {
		aws := line["_aws"].(map[string]any)
		if _, ok := aws["Timestamp"].(float64); !ok {
			t.Fatal("no timestamp")
		}
		for _, d := range aws["CloudWatchMetrics"].([]any) {
			dir := d.(map[string]any)
			if dir["Namespace"] != Namespace {
				t.Fatalf("namespace %v", dir["Namespace"])
			}
			for _, set := range dir["Dimensions"].([]any) {
				for _, dim := range set.([]any) {
					if _, ok := line[dim.(string)]; !ok {
						t.Errorf("dimension %v has no value", dim)
					}
				}
			}
			for _, md := range dir["Metrics"].([]any) {
				name := md.(map[string]any)["Name"].(string)
				if _, ok := line[name].(float64); !ok {
					t.Errorf("metric %s has no numeric value", name)
				}
				names[name] = true
			}
		}
	}
	for _, want := range []string{"GalxeRequests", "GalxeLatency", "GalxeRetries", "GalxeRateLimited", "GalxeErrors"} {
		if !names[want] {
			t.Errorf("no %s", want)
		}
	}
	// Every metric is given by FunctionName too: alarms of one stack never
	// count another stack's requests.
	for _, line := range lines {
		if line["FunctionName"] != "stack-WebhookFunction-1A2B" {
			t.Errorf("FunctionName %v", line["FunctionName"])
		}
		for _, d := range line["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			byFunction := false
			for _, set := range d.(map[string]any)["Dimensions"].([]any) {
				for _, dim := range set.([]any) {
					byFunction = byFunction || dim == "FunctionName"
				}
			}
			if !byFunction {
				t.Errorf("a directive without a FunctionName dimension set: %v", d)
			}
		}
	}
	if lines[0]["GalxeLatency"] != 1.5 || lines[1]["Category"] != "RATE_LIMIT" {
		t.Errorf("values: %v / %v", lines[0]["GalxeLatency"], lines[1]["Category"])
	}
}

func TestLoggerJSONWithRequestID(t *testing.T) {
	var out bytes.Buffer
	log := NewLogger(&out, func(string) string { return "" })
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "rid-1"})
	log.InfoContext(ctx, "hello", "cold_start", true)
	log.DebugContext(ctx, "hidden at INFO")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %s", out.String())
	}
	if line["requestId"] != "rid-1" || line["message"] != "hello" || line["cold_start"] != true || line["timestamp"] == nil {
		t.Fatalf("%v", line)
	}
	out.Reset()
	text := NewLogger(&out, func(k string) string {
		return map[string]string{"AWS_LAMBDA_LOG_FORMAT": "TEXT", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}[k]
	})
	text.DebugContext(ctx, "shown")
	if !bytes.Contains(out.Bytes(), []byte("message=shown")) || !bytes.Contains(out.Bytes(), []byte("requestId=rid-1")) {
		t.Fatalf("text: %s", out.String())
	}
}
