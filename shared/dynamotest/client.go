package dynamotest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/awstest"
)

// Env points the AWS SDK's default configuration at the server, for the
// calling test, with dummy credentials.
func (s *Server) Env(t interface{ Setenv(k, v string) }) {
	awstest.Env(t, "AWS_ENDPOINT_URL_DYNAMODB", s.URL)
}

// Client is an SDK client for the server, for a test or a harness that
// drives it: anonymous (the stand-in checks no signature), reading nothing
// from the machine's AWS configuration; optFns adjust it (say, RetryMaxAttempts).
func (s *Server) Client(optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  aws.AnonymousCredentials{},
	}, optFns...)
}
