// Package awstest points the AWS SDK's default configuration at a local
// stand-in for a test: the service's endpoint override and dummy
// credentials, with nothing read from the machine's own AWS setup. The
// stand-ins (ssmtest, sqstest) share it.
package awstest

// Env sets, for the calling test, endpointVar (such as
// AWS_ENDPOINT_URL_SSM) to url, a region, and credentials no AWS account has.
func Env(t interface{ Setenv(k, v string) }, endpointVar, url string) {
	t.Setenv(endpointVar, url)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSTANDIN")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "standin-secret-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}
