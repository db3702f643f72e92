package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c := FromEnv(env(map[string]string{"GALXE_ACCESS_TOKEN_PARAMETER": "galxe/token", "WEBHOOK_SECRET_PARAMETER": "galxe/secret"}))
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
