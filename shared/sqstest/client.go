package sqstest

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/awstest"
)

// Env points the AWS SDK's default configuration at the server, for the
// calling test, with dummy credentials.
func (s *Server) Env(t interface{ Setenv(k, v string) }) {
	awstest.Env(t, "AWS_ENDPOINT_URL_SQS", s.URL)
}

// Client is an SDK client for the server, for a harness that drives it
// (an event source, a benchmark): anonymous, since the stand-in checks no
// signature and signing ten thousand calls a second costs CPU.
func (s *Server) Client() (*sqs.Client, error) {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}), config.WithBaseEndpoint(s.URL))
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg), nil
}
