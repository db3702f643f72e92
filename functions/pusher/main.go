// Command pusher is the SQS function: it drains queued pushes into
// coalesced Galxe calls (shared/pusher).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
)

func main() {
	ctx := context.Background()
	d := coldstart.Init(ctx, os.Getenv, os.Stdout, coldstart.Pusher)
	deadLetters, err := pushqueue.Open(d.AWS, d.AWSErr, d.Config.DeadLetterQueueURL)
	if err != nil {
		d.Log.Error("dead-letter queue not usable; refused messages will be retried", "error", err.Error())
	}
	h := &pusher.Handler{Galxe: d.Galxe, GalxeErr: d.GalxeErr, DeadLetters: deadLetters,
		State: d.State, StateErr: d.StateErr, Log: d.Log, Metrics: d.Metrics}

	// The source queue's client holds back the messages an account-wide
	// refusal stopped. The shared configuration is loaded only when SSM or
	// a dead-letter queue needs it; without either (a local run) it is
	// loaded here.
	cfg, cfgErr := d.AWS, d.AWSErr
	if !d.Config.NeedsAWS() {
		cfg, cfgErr = awsconf.Load(ctx)
	}
	if cfgErr != nil {
		d.Log.Error("no SQS client; messages stopped by a spent quota come back after the queue's visibility timeout", "error", cfgErr.Error())
	} else {
		h.Queues = sqs.NewFromConfig(cfg)
	}
	lambda.Start(d.Counted(lambda.NewHandler(h.Handle)))
}
