// Command libfloor is the library floor of the benchmarks: an empty handler
// that links the libraries the functions use and does at init only what the
// design requires (load the AWS configuration, read one SecureString, and
// with STATE_TABLE set make the shared-state table's DynamoDB client, as
// the functions do at cold start).
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// table is the shared-state table's client (DESIGN.md §11), made at init
// when STATE_TABLE is set, as every function makes it; nil without.
var table *dynamodb.Client

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
	if os.Getenv("STATE_TABLE") != "" {
		table = dynamodb.NewFromConfig(cfg)
	}
	lambda.Start(func(context.Context, map[string]any) (string, error) {
		_ = table
		return "ok", nil
	})
}
