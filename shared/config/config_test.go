package config

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c := FromEnv(env(map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe/token", "WEBHOOK_SECRET_PARAMETER": "/galxe/secret"}))
	if len(c.Problems) != 0 || len(c.WebhookProblems()) != 0 {
		t.Fatalf("problems: %v %v", c.Problems, c.WebhookProblems())
	}
	if c.Endpoint != "https://graphigo-business.prd.galaxy.eco/query" || c.MaxQPS != 10 || c.WebhookAuth != AuthStandardWebhooks ||
		c.MaxItemsPerRequest != 20000 || !c.NeedsSSM() {
		t.Fatalf("%+v", c)
	}
}

func TestProblemsNameSettingsNotValues(t *testing.T) {
	c := FromEnv(env(map[string]string{
		"GALXE_ENDPOINT": "http://galxe.example/query", "GALXE_MAX_QPS": "-3", "WEBHOOK_AUTH": "basic",
		"MAX_ITEMS_PER_REQUEST": "lots", "WEBHOOK_SECRET": "",
	}))
	all := strings.Join(append(c.Problems, c.WebhookProblems()...), "\n")
	for _, want := range []string{"GALXE_ENDPOINT", "GALXE_MAX_QPS", "WEBHOOK_AUTH", "MAX_ITEMS_PER_REQUEST", "no Galxe token"} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem about %s in:\n%s", want, all)
		}
	}
	local := FromEnv(env(map[string]string{"GALXE_ACCESS_TOKEN": "tok-12345", "WEBHOOK_AUTH": "none", "GALXE_ENDPOINT": "http://127.0.0.1:9/query"}))
	if len(local.Problems) != 0 || len(local.WebhookProblems()) != 0 || local.NeedsSSM() {
		t.Fatalf("local config: %v", local.Problems)
	}
	if strings.Contains(strings.Join(local.Problems, ""), "tok-12345") {
		t.Fatal("a problem names the token")
	}
}

// A hierarchical name without its leading slash is refused by SSM in every
// call: it is a configuration problem that says how to fix it, and the
// source fails at once without asking SSM.
func TestSlashlessParameterName(t *testing.T) {
	c := FromEnv(env(map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "galxe-lambda/access-token",
		"WEBHOOK_SECRET_PARAMETER": "galxe-lambda/webhook-secret"}))
	all := strings.Join(c.Problems, "\n")
	for _, want := range []string{`GALXE_ACCESS_TOKEN_PARAMETER "galxe-lambda/access-token"`, `use "/galxe-lambda/access-token"`,
		`WEBHOOK_SECRET_PARAMETER "galxe-lambda/webhook-secret"`, `use "/galxe-lambda/webhook-secret"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s in:\n%s", want, all)
		}
	}
	asked := 0
	_, err := c.TokenSource(countingSSM{&asked}).Get(context.Background())
	var serr *secret.Error
	if !errors.As(err, &serr) || !serr.Permanent || !strings.Contains(err.Error(), `use "/galxe-lambda/access-token"`) || asked != 0 {
		t.Fatalf("got %v after %d SSM calls; want a permanent error and no call", err, asked)
	}
}

type countingSSM struct{ n *int }

func (c countingSSM) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	*c.n++
	return nil, errors.New("not reached")
}

func TestSharedStateSettings(t *testing.T) {
	base := map[string]string{"GALXE_ACCESS_TOKEN": "t", "WEBHOOK_AUTH": "none"}
	with := func(k, v string) Config {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return FromEnv(env(m))
	}
	if c := FromEnv(env(base)); c.StateTable != "" || c.IdempotencyTTL != DefaultIdempotencyTTL || c.NeedsAWS() {
		t.Fatalf("defaults: %+v", c)
	}
	if c := with("STATE_TABLE", " galxe-lambda-StateTable-1A2B "); c.StateTable != "galxe-lambda-StateTable-1A2B" || !c.NeedsAWS() || len(c.Problems) != 0 {
		t.Fatalf("a table: %+v", c)
	}
	if c := with("IDEMPOTENCY_TTL_SECONDS", "600"); c.IdempotencyTTL != 600*time.Second || len(c.Problems) != 0 {
		t.Fatalf("a TTL: %+v", c)
	}
	for k, v := range map[string]string{
		"STATE_TABLE":             "arn:aws:dynamodb:us-east-1:123456789012:table/t",
		"IDEMPOTENCY_TTL_SECONDS": "4 days",
	} {
		if c := with(k, v); len(c.Problems) != 1 || !strings.Contains(c.Problems[0], k) {
			t.Errorf("%s=%q: problems %v", k, v, c.Problems)
		}
	}
	// DynamoDB's rule for a table's name: 3 to 255 of [a-zA-Z0-9_.-].
	for v, ok := range map[string]bool{
		"abc": true, "a.b-c_D9": true, strings.Repeat("t", 255): true,
		"ab": false, strings.Repeat("t", 256): false, "tab le": false, "tablé": false, "t/able": false,
	} {
		if c := with("STATE_TABLE", v); (len(c.Problems) == 0) != ok {
			t.Errorf("STATE_TABLE=%q: problems %v, want accepted %v", v, c.Problems, ok)
		}
	}
	for _, v := range []string{"0", "-5", "99999999999"} {
		if c := with("IDEMPOTENCY_TTL_SECONDS", v); len(c.Problems) != 1 {
			t.Errorf("IDEMPOTENCY_TTL_SECONDS=%q accepted", v)
		}
	}
}
