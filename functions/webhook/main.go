// Command webhook is the API Gateway function: POST /credentials/{credId}/items,
// POST /operations/{name} and GET /health (shared/webhook).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

// No lambda.WithEnableSIGTERM: it registers an extension before the first
// invocation (a Runtime API round trip on every cold start) only to log
// one line at shutdown, and the functions hold nothing to flush.
func main() {
	d := coldstart.Init(context.Background(), os.Getenv, os.Stdout, coldstart.Webhook)
	queue, queueErr := pushqueue.Open(d.AWS, d.AWSErr, d.Config.PushQueueURL)
	if queueErr != nil {
		d.Log.Error("push queue not usable", "error", queueErr.Error())
	}
	lambda.Start(d.Counted(webhook.New(webhook.Options{Config: d.Config, Galxe: d.Galxe, GalxeErr: d.GalxeErr,
		WebhookSecret: d.WebhookSecret, Log: d.Log, Metrics: d.Metrics, Queue: queue, QueueErr: queueErr,
		State: d.State, StateErr: d.StateErr, ReadCache: d.ReadCache, Budget: d.Budget})))
}
