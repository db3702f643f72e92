package secret

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
)

// GetParameterAPI is the part of the SSM client a source uses.
type GetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// FromSSM makes a source for a SecureString parameter, read with decryption.
func FromSSM(what string, client GetParameterAPI, name string) *Source {
	fetch := func(ctx context.Context) (string, error) {
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return "", err
		}
		if out.Parameter == nil {
			return "", publicError("SSM answered without a parameter")
		}
		return aws.ToString(out.Parameter.Value), nil
	}
	return NewSource(what, name, fetch, IsPermanentSSMError)
}

// permanentSSMCodes are SSM's answers that no retry can fix: the parameter
// is missing, the role may not read or decrypt it, or the request is wrong.
var permanentSSMCodes = map[string]bool{
	"ParameterNotFound":           true,
	"ParameterVersionNotFound":    true,
	"AccessDeniedException":       true,
	"InvalidKeyId":                true,
	"ValidationException":         true,
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"KMSAccessDeniedException":    true,
	"KMSDisabledException":        true,
	"KMSInvalidStateException":    true,
	"KMSNotFoundException":        true,
	"IncompleteSignature":         true,
}

// ClientError is an SSM client that could not be made: the AWS
// configuration did not load (a malformed AWS_* variable, say).
type ClientError struct{ Err error }

func (e *ClientError) Error() string { return "loading the AWS configuration: " + e.Err.Error() }
func (e *ClientError) Unwrap() error { return e.Err }

// PublicMessage says what failed without the SDK's text.
func (e *ClientError) PublicMessage() string {
	return "the AWS configuration could not be loaded (the function's log says why)"
}

// Unreachable stands for an SSM client that could not be made: every read
// fails, permanently, with err, so each secret says what failed instead of
// "not configured".
func Unreachable(err error) GetParameterAPI { return unreachable{&ClientError{Err: err}} }

type unreachable struct{ err *ClientError }

func (u unreachable) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return nil, u.err
}

// IsPermanentSSMError reports whether an SSM failure is a configuration
// problem. Throttling, server errors, timeouts and network errors are not.
func IsPermanentSSMError(err error) bool {
	var cerr *ClientError
	if errors.As(err, &cerr) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return permanentSSMCodes[apiErr.ErrorCode()]
	}
	return false
}

// NewSSMClient loads the default AWS configuration and makes an SSM client
// (tests; the functions share one configuration through coldstart).
func NewSSMClient(ctx context.Context) (*ssm.Client, error) {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, &ClientError{Err: err}
	}
	return ssm.NewFromConfig(cfg), nil
}
