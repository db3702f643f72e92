package galxetest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
)

const token = "standin-token"

func post(t *testing.T, srv *galxetest.Server, tok string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("access-token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return resp.StatusCode, out
}

// Every persisted operation is valid against the schema and answers from state.
func TestOperationsAnswerFromState(t *testing.T) {
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	defer srv.Close()
	doc := func(n string) string { op, _ := galxe.LookupOperation(n); return op.Document }

	cases := []struct {
		op   string
		vars map[string]any
		want string
	}{
		{"health", nil, `"__typename":"Query"`},
		{"credential", map[string]any{"id": galxetest.DemoCredentialID}, `"itemCount":3`},
		{"credentialEligibility", map[string]any{"id": galxetest.DemoCredentialID, "address": galxetest.DemoHolder}, `"eligible":1`},
		{"credentialHolders", map[string]any{"id": galxetest.DemoCredentialID, "first": 2}, `"hasNextPage":true`},
		{"quest", map[string]any{"id": galxetest.DemoQuestID}, `"status":"Active"`},
		{"questEligibility", map[string]any{"id": galxetest.DemoQuestID, "address": galxetest.DemoHolder}, `"eligible":true`},
		{"spaceQuests", map[string]any{"input": map[string]any{"spaceId": galxetest.DemoSpaceID, "statuses": []any{"Active"}}}, `"totalCount":2`},
		{"spaceLeaderboard", map[string]any{"spaceId": galxetest.DemoSpaceID}, `"rank":1`},
		{"credentialItems", map[string]any{"credId": galxetest.DemoCredentialID, "operation": "APPEND", "items": []string{"bob@example.com"}}, `"name":"Early supporters"`},
	}
	if names := galxe.OperationNames(); len(names) != len(cases) {
		t.Fatalf("operations %v, cases %d: every persisted operation needs a case", names, len(cases))
	}
	for _, c := range cases {
		if err := srv.Validate(doc(c.op), c.vars); err != nil {
			t.Errorf("%s is not valid against the schema: %v", c.op, err)
		}
		status, out := post(t, srv, token, map[string]any{"query": doc(c.op), "variables": c.vars, "operationName": c.op})
		b, _ := json.Marshal(out)
		if status != 200 || !strings.Contains(string(b), c.want) || out["errors"] != nil {
			t.Errorf("%s: %d %s (want %s)", c.op, status, b, c.want)
		}
	}
	if got := srv.Items(galxetest.DemoCredentialID); len(got) != 4 {
		t.Errorf("items after APPEND: %v", got)
	}
	if srv.Validate(`query { credential(id: "1") { nosuchfield } }`, nil) == nil {
		t.Error("the schema must reject unknown fields")
	}
}

func TestAuthenticationAndLimits(t *testing.T) {
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: 2})
	defer srv.Close()
	body := map[string]any{"query": "query health { __typename }", "operationName": "health"}
	if st, out := post(t, srv, "", body); st != 401 || !strings.Contains(jsonOf(out), "TOKEN_REQUIRED") {
		t.Errorf("no token: %d %v", st, out)
	}
	if st, out := post(t, srv, "wrong", body); st != 401 || !strings.Contains(jsonOf(out), "INVALID_TOKEN") {
		t.Errorf("bad token: %d %v", st, out)
	}
	limited := 0
	for range 5 {
		if st, out := post(t, srv, token, body); st == 429 {
			limited++
			if !strings.Contains(jsonOf(out), "QUOTA_EXCEEDED") {
				t.Errorf("429 without QUOTA_EXCEEDED: %v", out)
			}
		}
	}
	if limited == 0 || srv.RateLimited() != limited {
		t.Errorf("5 requests at once against 2 QPS: %d limited, server counted %d", limited, srv.RateLimited())
	}
	// The 500-item limit.
	items := make([]string, 501)
	for i := range items {
		items[i] = "user" + string(rune('a'+i%26)) + "@example.com"
	}
	srv2 := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	defer srv2.Close()
	op, _ := galxe.LookupOperation("credentialItems")
	st, out := post(t, srv2, token, map[string]any{"query": op.Document, "operationName": op.Name,
		"variables": map[string]any{"credId": galxetest.DemoCredentialID, "operation": "APPEND", "items": items}})
	if st != 400 || !strings.Contains(jsonOf(out), "INVALID_ARGUMENT") {
		t.Errorf("501 items: %d %v", st, out)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// A credentialItems call carrying an invalid address, or an item Galxe was
// told to refuse, is refused whole with INVALID_ADDRESS (VALIDATION); the
// credential is left as it was.
func TestInvalidAddressRefusesTheCall(t *testing.T) {
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	defer srv.Close()
	const refused = "0x00000000000000000000000000000000000000ff"
	srv.RefuseItems(refused)
	op, _ := galxe.LookupOperation("credentialItems")
	for _, bad := range []string{"0x12", refused} {
		st, out := post(t, srv, token, map[string]any{"query": op.Document, "operationName": op.Name,
			"variables": map[string]any{"credId": galxetest.DemoCredentialID, "operation": "APPEND", "items": []string{"carol@example.com", bad}}})
		if st != 400 || !strings.Contains(jsonOf(out), `"code":"INVALID_ADDRESS"`) || !strings.Contains(jsonOf(out), `"category":"VALIDATION"`) {
			t.Errorf("%s: %d %v", bad, st, out)
		}
	}
	if held := srv.Items(galxetest.DemoCredentialID); len(held) != 3 {
		t.Errorf("a refused call changed the credential: %v", held)
	}
}
