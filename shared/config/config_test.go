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

// The account's budget, quota and read cache (DESIGN.md §11).
func TestBudgetQuotaAndCacheSettings(t *testing.T) {
	base := map[string]string{"GALXE_ACCESS_TOKEN": "t", "WEBHOOK_AUTH": "none"}
	with := func(kv ...string) Config {
		m := map[string]string{}
		for bk, bv := range base {
			m[bk] = bv
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return FromEnv(env(m))
	}
	c := with()
	if len(c.Problems) != 0 || c.AccountQPS != 10 || c.ForegroundQPS != 2 || c.MonthlyQuota != 100000 || c.QuotaReserve != 1000 ||
		c.ReadCacheSet || c.ReadCacheTTL != 0 || c.BackgroundQPS() != 8 || c.BackgroundQuota() != 99000 {
		t.Fatalf("defaults: %+v", c)
	}
	if c.CacheTTL(60*time.Second) != 60*time.Second || c.CacheTTL(30*time.Second) != 30*time.Second {
		t.Fatal("unset READ_CACHE_SECONDS must keep each operation's lifetime")
	}

	c = with("GALXE_ACCOUNT_QPS", " 20 ", "GALXE_FOREGROUND_QPS", "0.5", "GALXE_MONTHLY_QUOTA", "2000000",
		"GALXE_QUOTA_RESERVE", "50000", "READ_CACHE_SECONDS", "15")
	if len(c.Problems) != 0 || c.AccountQPS != 20 || c.ForegroundQPS != 0.5 || c.MonthlyQuota != 2000000 || c.QuotaReserve != 50000 ||
		!c.ReadCacheSet || c.ReadCacheTTL != 15*time.Second || c.CacheTTL(60*time.Second) != 15*time.Second || c.BackgroundQPS() != 19.5 {
		t.Fatalf("overrides: %+v", c)
	}
	// The reserve's default follows the quota; 0 is a reserve of nothing,
	// and a foreground share of 0 leaves the whole second to the background.
	if c := with("GALXE_MONTHLY_QUOTA", "5000"); len(c.Problems) != 0 || c.QuotaReserve != 50 {
		t.Fatalf("reserve of a 5000 quota: %+v", c)
	}
	if c := with("GALXE_QUOTA_RESERVE", "0", "GALXE_FOREGROUND_QPS", "0"); len(c.Problems) != 0 || c.QuotaReserve != 0 || c.ForegroundQPS != 0 || c.BackgroundQuota() != 100000 {
		t.Fatalf("zero reserve and foreground share: %+v", c)
	}
	// 0 turns the cache off, and says so: not "unset".
	if c := with("READ_CACHE_SECONDS", "0"); len(c.Problems) != 0 || !c.ReadCacheSet || c.ReadCacheTTL != 0 || c.CacheTTL(time.Minute) != 0 {
		t.Fatalf("cache off: %+v", c)
	}
	if c := with("READ_CACHE_SECONDS", "86400"); len(c.Problems) != 0 || c.ReadCacheTTL != 24*time.Hour {
		t.Fatalf("a day's cache: %+v", c)
	}

	// Each refusal is one problem naming the variable; the setting keeps its default.
	refused := []struct {
		kv   []string
		name string
	}{
		{[]string{"GALXE_ACCOUNT_QPS", "0"}, "GALXE_ACCOUNT_QPS"},
		{[]string{"GALXE_ACCOUNT_QPS", "-1"}, "GALXE_ACCOUNT_QPS"},
		{[]string{"GALXE_ACCOUNT_QPS", "ten"}, "GALXE_ACCOUNT_QPS"},
		{[]string{"GALXE_ACCOUNT_QPS", "NaN"}, "GALXE_ACCOUNT_QPS"},
		{[]string{"GALXE_ACCOUNT_QPS", "+Inf"}, "GALXE_ACCOUNT_QPS"},
		{[]string{"GALXE_FOREGROUND_QPS", "-0.5"}, "GALXE_FOREGROUND_QPS"},
		{[]string{"GALXE_FOREGROUND_QPS", "NaN"}, "GALXE_FOREGROUND_QPS"},
		{[]string{"GALXE_FOREGROUND_QPS", "two"}, "GALXE_FOREGROUND_QPS"},
		{[]string{"GALXE_FOREGROUND_QPS", "10"}, "GALXE_ACCOUNT_QPS (10)"},       // equal: no background share
		{[]string{"GALXE_FOREGROUND_QPS", "12"}, "GALXE_ACCOUNT_QPS (10)"},       // above
		{[]string{"GALXE_ACCOUNT_QPS", "2"}, "GALXE_FOREGROUND_QPS (default 2)"}, // the default share no longer fits
		{[]string{"GALXE_ACCOUNT_QPS", "4", "GALXE_FOREGROUND_QPS", "4"}, "GALXE_ACCOUNT_QPS (4)"},
		{[]string{"GALXE_MONTHLY_QUOTA", "0"}, "GALXE_MONTHLY_QUOTA"},
		{[]string{"GALXE_MONTHLY_QUOTA", "-100"}, "GALXE_MONTHLY_QUOTA"},
		{[]string{"GALXE_MONTHLY_QUOTA", "1e5"}, "GALXE_MONTHLY_QUOTA"},
		{[]string{"GALXE_MONTHLY_QUOTA", "100000.5"}, "GALXE_MONTHLY_QUOTA"},
		{[]string{"GALXE_QUOTA_RESERVE", "-1"}, "GALXE_QUOTA_RESERVE"},
		{[]string{"GALXE_QUOTA_RESERVE", "1%"}, "GALXE_QUOTA_RESERVE"},
		{[]string{"GALXE_QUOTA_RESERVE", "100000"}, "GALXE_MONTHLY_QUOTA (100000)"}, // equal: background gets none
		{[]string{"GALXE_MONTHLY_QUOTA", "500", "GALXE_QUOTA_RESERVE", "600"}, "GALXE_MONTHLY_QUOTA (500)"},
		{[]string{"READ_CACHE_SECONDS", "-1"}, "READ_CACHE_SECONDS"},
		{[]string{"READ_CACHE_SECONDS", "1m"}, "READ_CACHE_SECONDS"},
		{[]string{"READ_CACHE_SECONDS", "1.5"}, "READ_CACHE_SECONDS"},
		{[]string{"READ_CACHE_SECONDS", "86401"}, "READ_CACHE_SECONDS"},
	}
	for _, r := range refused {
		c := with(r.kv...)
		if len(c.Problems) != 1 || !strings.Contains(c.Problems[0], r.name) {
			t.Errorf("%v: problems %q, want one naming %s", r.kv, c.Problems, r.name)
			continue
		}
		if c.ForegroundQPS >= c.AccountQPS && r.kv[0] != "GALXE_ACCOUNT_QPS" {
			t.Errorf("%v: a refused setting left foreground %v ≥ account %v", r.kv, c.ForegroundQPS, c.AccountQPS)
		}
		if c.QuotaReserve >= c.MonthlyQuota || c.MonthlyQuota <= 0 || c.AccountQPS <= 0 || c.ReadCacheSet {
			t.Errorf("%v: a refused setting was kept: %+v", r.kv, c)
		}
	}
	// A refused account rate is reported once, not again as the foreground's.
	if c := with("GALXE_ACCOUNT_QPS", "-1", "GALXE_FOREGROUND_QPS", "3"); len(c.Problems) != 1 {
		t.Errorf("one mistake, problems %q", c.Problems)
	}
	if c := with("GALXE_MONTHLY_QUOTA", "none", "GALXE_QUOTA_RESERVE", "5"); len(c.Problems) != 1 || c.QuotaReserve != 5 {
		t.Errorf("one mistake, problems %q, reserve %d", c.Problems, c.QuotaReserve)
	}
}
