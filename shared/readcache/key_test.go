package readcache_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
)

func key(t *testing.T, op, vars string) string {
	t.Helper()
	k, err := readcache.Key(op, json.RawMessage(vars))
	if err != nil {
		t.Fatalf("Key(%s, %s): %v", op, vars, err)
	}
	return k
}

// The same question however it is written is one key.
func TestSameQuestionSameKey(t *testing.T) {
	const addr = "0x00000000000000000000000000000000000000a1"
	for name, pair := range map[string][2]string{
		"keys reordered":         {`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		"nested keys reordered":  {`{"input":{"spaceId":42,"first":10}}`, `{"input":{"first":10,"spaceId":42}}`},
		"white space":            {` { "id" : "1" ,"address":"x" } `, `{"address":"x","id":"1"}`},
		"address in mixed case":  {`{"id":"1","address":"0x00000000000000000000000000000000000000A1"}`, `{"id":"1","address":"` + addr + `"}`},
		"address with 0X":        {`{"address":"0X00000000000000000000000000000000000000a1"}`, `{"address":"` + addr + `"}`},
		"escaped string":         {`{"id":"\u0031"}`, `{"id":"1"}`},
		"absent and null and {}": {``, `{}`},
		"null":                   {`null`, `{}`},
		"address in a list":      {`{"a":["0xABCDEF0000000000000000000000000000000000"]}`, `{"a":["0xabcdef0000000000000000000000000000000000"]}`},
		"objects in a list":      {`{"z":[1,{"b":true,"a":null}]}`, `{"z":[1,{"a":null,"b":true}]}`},
	} {
		if a, b := key(t, "credentialEligibility", pair[0]), key(t, "credentialEligibility", pair[1]); a != b {
			t.Errorf("%s: %s and %s have different keys", name, pair[0], pair[1])
		}
	}
}

// Different questions are different keys. Numbers are exact: read as
// float64, two 18-digit ids would be one key; 1 and 1.0 are different
// literals and, by choice, different keys (asked of Galxe separately).
func TestDifferentQuestionsDifferentKeys(t *testing.T) {
	for name, pair := range map[string][2]string{
		"18-digit ids":        {`{"spaceId":380512468497932288}`, `{"spaceId":380512468497932289}`},
		"1 and 1.0":           {`{"first":1}`, `{"first":1.0}`},
		"number and string":   {`{"id":1}`, `{"id":"1"}`},
		"list order":          {`{"statuses":["Active","Expired"]}`, `{"statuses":["Expired","Active"]}`},
		"null and absent":     {`{"after":null}`, `{}`},
		"case of non-address": {`{"address":"Alice@example.com"}`, `{"address":"alice@example.com"}`},
		"short hex kept":      {`{"a":"0xABC"}`, `{"a":"0xabc"}`},
	} {
		if a, b := key(t, "quest", pair[0]), key(t, "quest", pair[1]); a == b {
			t.Errorf("%s: %s and %s share a key", name, pair[0], pair[1])
		}
	}
	if key(t, "quest", `{"id":"1"}`) == key(t, "credential", `{"id":"1"}`) {
		t.Error("two operations share a key")
	}
}

func TestCanonicalForm(t *testing.T) {
	got, err := readcache.Canonical(json.RawMessage(`{"b":[1.50, "0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"], "a":{"y":null,"x":true}}`))
	want := `{"a":{"x":true,"y":null},"b":[1.50,"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}`
	if err != nil || string(got) != want {
		t.Fatalf("got %s %v, want %s", got, err, want)
	}
	k := key(t, "quest", `{}`)
	if len(k) != 64 {
		t.Errorf("key %q is not a SHA-256 in hex", k)
	}
}

// Variables without one canonical form are not keyed (they still go to
// Galxe as they are).
func TestNoCanonicalForm(t *testing.T) {
	for name, vars := range map[string]string{
		"key twice":     `{"id":"1","id":"2"}`,
		"invalid UTF-8": "{\"id\":\"\xff\"}",
		"deep":          strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"trailing":      `{} {}`,
		"not JSON":      `{"id":`,
	} {
		if _, err := readcache.Key("quest", json.RawMessage(vars)); err == nil {
			t.Errorf("%s: keyed", name)
		}
	}
}

func TestLifetimes(t *testing.T) {
	for op, want := range map[string]int{"credentialEligibility": 60, "questEligibility": 60, "credential": 60, "quest": 60,
		"credentialHolders": 30, "spaceQuests": 30, "spaceLeaderboard": 30, "health": 0, "credentialItems": 0, "nope": 0} {
		if got := int(readcache.Lifetime(op).Seconds()); got != want || readcache.Cacheable(op) != (want > 0) {
			t.Errorf("%s: %ds, cacheable %v; want %ds", op, got, readcache.Cacheable(op), want)
		}
	}
}
