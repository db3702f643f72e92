// Package awsconf loads the AWS configuration the functions' SDK clients
// share (SSM, SQS): the Lambda role's credentials and region from the
// environment, and the SDK's own endpoint overrides (AWS_ENDPOINT_URL_SSM,
// AWS_ENDPOINT_URL_SQS), which point it at local stand-ins.
package awsconf

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// maxBackoff keeps the SDK's own retries of throttling and 5xx answers
// short enough to fit several inside an invocation's budget.
const maxBackoff = 250 * time.Millisecond

// Load loads the default configuration once per process.
func Load(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, config.WithRetryer(func() aws.Retryer {
		return retry.AddWithMaxBackoffDelay(retry.NewStandard(), maxBackoff)
	}))
}
