// Command libfloor is the library floor of the benchmarks: an empty handler
// that links the libraries the functions use and does at init only what the
// design requires (load the AWS configuration, read one SecureString).
package main

import (
	"context"
	"log"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/sethvargo/go-retry"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Keep the other libraries linked, as the functions link them.
var (
	_ = retry.WithFullJitter(retry.NewExponential(time.Millisecond))
	_ = rate.NewLimiter(10, 1)
	_ singleflight.Group
	_ = standardwebhooks.NewWebhook
	_ = sqs.NewFromConfig // the queued path's client, linked as the webhook and the pusher link it
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	_, err = ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{
		Name: aws.String("/galxe-lambda/access-token"), WithDecryption: aws.Bool(true)})
	cancel()
	if err != nil {
		log.Print(err)
	}
	lambda.Start(func(context.Context, map[string]any) (string, error) { return "ok", nil })
}
