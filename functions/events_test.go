package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

// Every sample event is answered as the contract says, through lambda's
// own JSON round trip, against the Galxe stand-in.
func TestSampleEvents(t *testing.T) {
	const token = "sample-events-token"
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	defer srv.Close()
	vars := map[string]string{"GALXE_ENDPOINT": srv.URL, "GALXE_ACCESS_TOKEN": token, "WEBHOOK_AUTH": "none"}
	cfg := config.FromEnv(func(k string) string { return vars[k] })
	client, err := galxe.New(galxe.Config{Endpoint: srv.URL, Token: cfg.TokenSource(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	wh := lambda.NewHandler(webhook.New(webhook.Options{Config: cfg, Galxe: client, Log: log}))
	sched := lambda.NewHandler(&jobs.Runner{Galxe: client, Log: log})
	push := lambda.NewHandler((&pusher.Handler{Galxe: client, Log: log}).Handle)

	files, _ := filepath.Glob("../events/*.json")
	if len(files) < 10 {
		t.Fatalf("only %d sample events", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "env.json" || name == "env.example.json" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(name, "webhook-"):
				out, err := wh.Invoke(context.Background(), raw)
				if err != nil {
					t.Fatal(err)
				}
				var resp struct {
					StatusCode int    `json:"statusCode"`
					Body       string `json:"body"`
				}
				if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: %s", name, out)
				}
			case strings.HasPrefix(name, "scheduled-"):
				out, err := sched.Invoke(context.Background(), raw)
				if err != nil {
					t.Fatal(err)
				}
				var sum map[string]any
				if err := json.Unmarshal(out, &sum); err != nil || sum["ok"] != true {
					t.Fatalf("%s: %s", name, out)
				}
			case strings.HasPrefix(name, "pusher-"):
				out, err := push.Invoke(context.Background(), raw)
				if err != nil {
					t.Fatal(err)
				}
				var resp events.SQSEventResponse
				if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("%s: %s", name, out)
				}
			default:
				t.Fatalf("%s: name it webhook-*, scheduled-* or pusher-*", name)
			}
		})
	}
	held := strings.Join(srv.Items(galxetest.DemoCredentialID), " ")
	if !strings.Contains(held, "0x00000000000000000000000000000000000000b3") {
		t.Error("the items event did not reach the credential, lower-cased")
	}
	// The SQS sample: d1 appended; d2 appended, then removed by a later message.
	if !strings.Contains(held, "00000000000000000000000000000000000000d1") || strings.Contains(held, "00000000000000000000000000000000000000d2") {
		t.Errorf("the SQS sample was not coalesced as sent: %s", held)
	}
}
