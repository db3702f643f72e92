// Command webhook is the API Gateway function: POST /credentials/{credId}/items,
// POST /operations/{name} and GET /health (shared/webhook).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

func main() {
	d := coldstart.Init(context.Background(), os.Getenv, os.Stdout, true)
	h := webhook.New(webhook.Options{Config: d.Config, Galxe: d.Galxe, GalxeErr: d.GalxeErr,
		WebhookSecret: d.WebhookSecret, Log: d.Log})
	lambda.StartWithOptions(h, lambda.WithEnableSIGTERM(func() { d.Log.Info("SIGTERM: shutting down") }))
}
