// Command scheduled is the EventBridge function: it runs the jobs canary,
// operation and credential-items (shared/jobs).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
)

func main() {
	d := coldstart.Init(context.Background(), os.Getenv, os.Stdout, coldstart.Scheduled)
	lambda.Start(d.Counted(&jobs.Runner{Galxe: d.Galxe, GalxeErr: d.GalxeErr, State: d.State, StateErr: d.StateErr, Log: d.Log, Metrics: d.Metrics}))
}
