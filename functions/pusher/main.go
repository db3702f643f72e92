// Command pusher is the SQS function: it drains queued pushes into
// coalesced Galxe calls (shared/pusher).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
)

func main() {
	d := coldstart.Init(context.Background(), os.Getenv, os.Stdout, false)
	deadLetters, err := pushqueue.Open(d.AWS, d.AWSErr, d.Config.DeadLetterQueueURL)
	if err != nil {
		d.Log.Error("dead-letter queue not usable; refused messages will be retried", "error", err.Error())
	}
	lambda.Start(&pusher.Handler{Galxe: d.Galxe, GalxeErr: d.GalxeErr, DeadLetters: deadLetters, Log: d.Log, Metrics: d.Metrics})
}
