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
	if err := get("galxe-lambda/access-token"); !strings.HasPrefix(apiCode(err), "ValidationException: Parameter name must be a fully qualified name") {
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
