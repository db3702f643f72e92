package coldstart_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	secretpkg "github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
)

const (
	token  = "glx_cold_start_token_1a2b3c4d5e6f7a8b9c0d"
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func TestInitReadsBothSecretsFromSSMOnce(t *testing.T) {
	ssm := ssmtest.NewServer()
	defer ssm.Close()
	ssm.Env(t)
	ssm.PutSecure("/galxe/token", token)
	ssm.PutSecure("/galxe/webhook", secret)
	galxe := galxetest.NewServer(galxetest.Options{Tokens: []string{token}})
	defer galxe.Close()

	vars := map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe/token", "WEBHOOK_SECRET_PARAMETER": "/galxe/webhook",
		"GALXE_ENDPOINT": galxe.URL}
	var out bytes.Buffer
	d := coldstart.Init(context.Background(), func(k string) string { return vars[k] }, &out, coldstart.Webhook)
	if d.Galxe == nil || d.WebhookSecret == nil {
		t.Fatalf("deps: %+v\n%s", d, out.String())
	}
	if _, err := d.Galxe.Do(context.Background(), "health", nil); err != nil {
		t.Fatal(err)
	}
	v, err := d.WebhookSecret.Get(context.Background())
	if err != nil || v.Reveal() != secret {
		t.Fatal("webhook secret not loaded")
	}
	if ssm.Reads("/galxe/token") != 1 || ssm.Reads("/galxe/webhook") != 1 {
		t.Fatalf("reads: %d %d", ssm.Reads("/galxe/token"), ssm.Reads("/galxe/webhook"))
	}
	if strings.Contains(out.String(), token) || strings.Contains(out.String(), "MfKQ9r8") {
		t.Fatalf("secret in output: %s", out.String())
	}
	// The request went out with metrics on stdout.
	if !strings.Contains(out.String(), `"GalxeRequests":1`) {
		t.Errorf("no metric line: %s", out.String())
	}
}

func TestInitSurvivesMissingParameterAndBadConfig(t *testing.T) {
	ssm := ssmtest.NewServer()
	defer ssm.Close()
	ssm.Env(t)
	vars := map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe/missing", "GALXE_ENDPOINT": "http://galxe.example/q"}
	var out bytes.Buffer
	d := coldstart.Init(context.Background(), func(k string) string { return vars[k] }, &out, coldstart.Webhook)
	if d.Galxe != nil || d.GalxeErr == nil {
		t.Fatal("a non-https endpoint must not make a client")
	}
	for _, want := range []string{"GALXE_ENDPOINT", "/galxe/missing", "WEBHOOK_AUTH=standard-webhooks needs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log does not mention %s:\n%s", want, out.String())
		}
	}
}

// When the AWS configuration cannot be loaded, the secrets say so; they are
// not reported as "not configured".
func TestAWSConfigurationFailureSaysWhatFailed(t *testing.T) {
	ssm := ssmtest.NewServer()
	defer ssm.Close()
	ssm.Env(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "many") // LoadDefaultConfig refuses it
	vars := map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe/token", "WEBHOOK_AUTH": "none", "GALXE_ENDPOINT": "http://127.0.0.1:9/q"}
	var out bytes.Buffer
	d := coldstart.Init(context.Background(), func(k string) string { return vars[k] }, &out, coldstart.Scheduled)
	_, err := d.Token.Get(context.Background())
	var serr *secretpkg.Error
	if !errors.As(err, &serr) || !serr.Permanent || !strings.Contains(serr.Public(), "AWS configuration could not be loaded") ||
		strings.Contains(err.Error(), "not configured") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(out.String(), "AWS_MAX_ATTEMPTS") {
		t.Errorf("the log does not say what failed: %s", out.String())
	}
}
