package ssmtest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
)

// client is the real SDK client, pointed at the stand-in the way a user
// points it: through AWS_ENDPOINT_URL_SSM.
func client(t *testing.T) (*ssmtest.Server, *ssm.Client) {
	t.Helper()
	srv := ssmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Env(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return srv, ssm.NewFromConfig(cfg)
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return ""
}

// SSM refuses a hierarchical name without its leading slash in every call
// (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html).
func TestRefusesWhatSSMRefuses(t *testing.T) {
	_, c := client(t)
	ctx := context.Background()
	put := func(name string) error {
		_, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v"), Type: types.ParameterTypeSecureString})
		return err
	}
	get := func(name string) error {
		_, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		return err
	}
	for name, says := range map[string]string{
		"galxe-lambda/access-token":          "fully qualified",
		"/galxe lambda/token":                "sub-path",
		"/galxe-lambda//token":               "sub-path",
		"/" + strings.Repeat("a/", 15) + "a": "depth",
		"/" + strings.Repeat("x", 1011):      "1011",
		"/aws/reserved":                      "reserved",
		"SSM-token":                          "reserved",
	} {
		if err := put(name); !strings.HasPrefix(apiCode(err), "ValidationException: ") || !strings.Contains(apiCode(err), says) {
			t.Errorf("PutParameter %q: %v, want a ValidationException saying %q", name, err, says)
		}
	}
	// A read answers with SSM's message about the characters (AWS's answer,
	// as reported in aws/aws-sdk-js-v3#5005).
	if err := get("galxe-lambda/access-token"); !strings.HasPrefix(apiCode(err), "ValidationException: Parameter name: can't be prefixed with") {
		t.Errorf("GetParameter of a slash-less hierarchical name: %v", err)
	}
	for _, name := range []string{"/galxe-lambda/access-token", "galxe-token"} {
		if err := put(name); err != nil {
			t.Fatalf("PutParameter %q: %v", name, err)
		}
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil || aws.ToString(out.Parameter.Value) != "v" {
			t.Fatalf("GetParameter %q: %v", name, err)
		}
	}
	if err := put("/galxe-lambda/access-token"); !strings.HasPrefix(apiCode(err), "ParameterAlreadyExists") {
		t.Errorf("a second PutParameter without Overwrite: %v", err)
	}
	if err := get("/galxe-lambda/other"); !strings.HasPrefix(apiCode(err), "ParameterNotFound") {
		t.Errorf("GetParameter of a missing name: %v", err)
	}
}

func TestSecureStringNeedsDecryption(t *testing.T) {
	srv, c := client(t)
	srv.PutSecure("/p", "plain")
	out, err := c.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("/p")})
	if err != nil || aws.ToString(out.Parameter.Value) == "plain" {
		t.Fatalf("read without decryption returned the plain value (%v)", err)
	}
}

func TestPutSecureRefusesBadNames(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("PutSecure accepted a slash-less hierarchical name")
		}
	}()
	srv := ssmtest.NewServer()
	defer srv.Close()
	srv.PutSecure("galxe-lambda/access-token", "v")
}

// GetParameters, as a person reads the local stack's parameters with the
// AWS CLI: those that exist in Parameters (a SecureString decrypted only
// WithDecryption), the other names in InvalidParameters, at most ten
// names; a fault pending for one of them answers the call.
func TestGetParameters(t *testing.T) {
	srv, c := client(t)
	ctx := context.Background()
	srv.PutSecure("/galxe-lambda/access-token", "token")
	srv.PutSecure("/galxe-lambda/webhook-secret", "secret")
	names := []string{"/galxe-lambda/access-token", "/galxe-lambda/missing", "/galxe-lambda/webhook-secret", "/galxe-lambda/access-token"}
	out, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range out.Parameters {
		got[aws.ToString(p.Name)] = aws.ToString(p.Value)
		if p.Type != types.ParameterTypeSecureString || p.Version != 1 || !strings.HasSuffix(aws.ToString(p.ARN), ":parameter"+aws.ToString(p.Name)) {
			t.Errorf("%+v", p)
		}
	}
	if len(out.Parameters) != 2 || got["/galxe-lambda/access-token"] != "token" || got["/galxe-lambda/webhook-secret"] != "secret" {
		t.Errorf("Parameters: %v", got)
	}
	if len(out.InvalidParameters) != 1 || out.InvalidParameters[0] != "/galxe-lambda/missing" {
		t.Errorf("InvalidParameters: %v", out.InvalidParameters)
	}
	if srv.Reads("/galxe-lambda/access-token") != 2 {
		t.Errorf("%d reads", srv.Reads("/galxe-lambda/access-token"))
	}

	out, err = c.GetParameters(ctx, &ssm.GetParametersInput{Names: names[:1]})
	if err != nil || len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) == "token" {
		t.Errorf("without decryption: %v %+v", err, out)
	}

	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "/p" + strings.Repeat("x", i)
	}
	if _, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: eleven}); !strings.HasPrefix(apiCode(err), "ValidationException: 1 validation error") || !strings.Contains(apiCode(err), "less than or equal to 10") {
		t.Errorf("eleven names: %v", err)
	}
	if _, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{}}); !strings.HasPrefix(apiCode(err), "ValidationException: 1 validation error") {
		t.Errorf("no names: %v", err)
	}
	if _, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{"galxe-lambda/access-token"}}); !strings.HasPrefix(apiCode(err), "ValidationException: ") {
		t.Errorf("a slash-less hierarchical name: %v", err)
	}

	srv.Fail("/galxe-lambda/webhook-secret", ssmtest.AccessDenied("/galxe-lambda/webhook-secret"))
	if _, err := c.GetParameters(ctx, &ssm.GetParametersInput{Names: names}); !strings.HasPrefix(apiCode(err), "AccessDeniedException") {
		t.Errorf("a pending fault: %v", err)
	}
}
