// Command scheduled is the EventBridge function: it runs the jobs canary,
// operation and credential-items (shared/jobs).
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
)

func main() {
	// A job holds all its items (100,000 are megabytes) while Galxe's rate
	// limit paces it; a tighter GC keeps the peak lower at a cost that does
	// not show in an I/O-bound function. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	d := coldstart.Init(context.Background(), os.Getenv, os.Stdout, false)
	r := &jobs.Runner{Galxe: d.Galxe, GalxeErr: d.GalxeErr, Log: d.Log}
	lambda.StartWithOptions(r, lambda.WithEnableSIGTERM(func() { d.Log.Info("SIGTERM: shutting down") }))
}
