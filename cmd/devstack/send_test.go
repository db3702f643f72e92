package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
)

func TestParseSendAndBuildEvent(t *testing.T) {
	body := filepath.Join(t.TempDir(), "body.json")
	os.WriteFile(body, []byte(`{"variables":{}}`), 0o644)
	for _, c := range []struct {
		args    []string
		stdin   string
		method  string
		body    string
		v1      bool
		wantErr string
	}{
		{args: []string{"get", "/health"}, method: "GET"},
		{args: []string{"POST", "/operations/credential", "-d", `{"variables":{"id":"1"}}`}, method: "POST", body: `{"variables":{"id":"1"}}`},
		{args: []string{"POST", "/operations/credential", "-d", "@" + body, "-v1"}, method: "POST", body: `{"variables":{}}`, v1: true},
		{args: []string{"POST", "/operations/credential", "-d", "@-"}, stdin: `{"a":1}`, method: "POST", body: `{"a":1}`},
		{args: []string{"POST"}, wantErr: "usage"},
		{args: []string{"POST", "operations"}, wantErr: "must begin with /"},
		{args: []string{"POST", "/x", "-d", "@/no/such/file"}, wantErr: "reading the body"},
		{args: []string{"POST", "/x", "extra"}, wantErr: "usage"},
	} {
		r, err := parseSend(c.args, strings.NewReader(c.stdin))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: got %v, want an error with %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		ev, err := buildEvent(r, "rid-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// The function's own parser reads it as API Gateway would send it.
		req, err := apigw.Parse(ev)
		if err == nil {
			err = req.DecodeBody()
		}
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		wantV := apigw.V2
		if c.v1 {
			wantV = apigw.V1
		}
		if req.Method != c.method || req.Path != c.args[1] || string(req.Body) != c.body || req.Version != wantV || req.RequestID != "rid-1" {
			t.Errorf("%v: parsed as %+v", c.args, req)
		}
	}
}

func TestSendWithoutARunningStackSaysSo(t *testing.T) {
	work := t.TempDir()
	var out bytes.Buffer
	err := send(context.Background(), work, []string{"GET", "/health"}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "make up") || out.Len() != 0 {
		t.Fatalf("no state file: %v, printed %q", err, out.String())
	}
	// A stack that is gone: the state file remains, the port answers nothing.
	os.WriteFile(filepath.Join(work, stateFile), []byte(`{"url":"http://127.0.0.1:9","pid":1}`), 0o644)
	err = signToStdout(context.Background(), work, "../../events/webhook-health-v2.json", &out)
	if err == nil || !strings.Contains(err.Error(), "does not answer") || out.Len() != 0 {
		t.Fatalf("stale state file: %v, printed %q", err, out.String())
	}
}

// upStack is what `make up` leaves running: the stack, its front door, and
// the state file -send finds it by (in the returned work folder).
func upStack(t *testing.T) (*Stack, string) {
	t.Helper()
	s := startStack(t, Options{})
	front, err := s.Serve()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := writeState(work, front); err != nil {
		t.Fatal(err)
	}
	return s, work
}

// -send against a running stack, as the README uses it: signed by the
// stack itself, answered with status, body and the invocation's log lines.
func TestSendToTheRunningStack(t *testing.T) {
	s, work := upStack(t)
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"GET", "/health"}, []string{"GET /health -> 200 OK", `"status": "ok"`, "log |", `"path":"/health"`}},
		{[]string{"POST", "/operations/credential", "-d", `{"variables":{"id":"380512468497932288"}}`}, []string{"-> 200 OK", `"credential"`, `"operation":"credential"`}},
		{[]string{"POST", "/operations/credential", "-v1", "-d", `{"variables":{"id":"380512468497932288"}}`}, []string{"-> 200 OK", `"credential"`}},
		{[]string{"POST", "/operations/nope"}, []string{"-> 400 Bad Request", "UNKNOWN_OPERATION"}},
		{[]string{"DELETE", "/health"}, []string{"-> 405 Method Not Allowed", "METHOD_NOT_ALLOWED"}},
	} {
		var out bytes.Buffer
		if err := send(ctx, work, c.args, nil, &out); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out.String())
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: no %q in:\n%s", c.args, w, out.String())
			}
		}
	}
	// -sign prints the event signed with the stack's current secret.
	var signed bytes.Buffer
	if err := signToStdout(ctx, work, "../../events/webhook-operation-v2.json", &signed); err != nil {
		t.Fatal(err)
	}
	inv, err := s.Functions["webhook"].Invoke(ctx, signed.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a := readAnswer("webhook", inv); a.status != 200 {
		t.Fatalf("signed by -sign: %d %s", a.status, a.body)
	}
	assertNoSecrets(t, s)
}

// A burst of requests at once gets an answer each: invocations queue for
// a free instance, and more instances start as Lambda would start them
// (the emulator itself serves one invocation at a time).
func TestConcurrentRequestsAllAnswered(t *testing.T) {
	s := startStack(t, Options{})
	front, err := s.Serve()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Sign(readEvent(t, "webhook-health-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, body, err := post(context.Background(), front+"/2015-03-31/functions/webhook/invocations", nil, ev)
			if err != nil {
				errs <- fmt.Errorf("request %d: %v", i, err)
				return
			}
			var r struct {
				StatusCode int `json:"statusCode"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil || r.StatusCode != 200 {
				errs <- fmt.Errorf("request %d: %d %s", i, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Functions["webhook"].Instances(); got < 2 || got > DefaultInstances {
		t.Errorf("%d instances served the burst, want 2 to %d", got, DefaultInstances)
	}
	// Lambda's own errors for what the API refuses.
	resp, body, _ := post(context.Background(), front+"/2015-03-31/functions/nope/invocations", nil, []byte(`{}`))
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("unknown function: %d %s", resp.StatusCode, body)
	}
	resp, body, _ = post(context.Background(), front+"/2015-03-31/functions/webhook/invocations", nil, []byte(`{not json`))
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidRequestContentException" {
		t.Errorf("bad JSON: %d %s", resp.StatusCode, body)
	}
}

// readmeSends are the README's -send commands, split as a shell would
// (single quotes, and lines continued with a backslash).
func readmeSends(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var cmds [][]string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "go run ./cmd/devstack -send ")
		if !ok {
			continue
		}
		if i := strings.Index(rest, " #"); i >= 0 {
			rest = rest[:i]
		}
		var args []string
		for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
			if rest[0] == '\'' {
				end := strings.IndexByte(rest[1:], '\'')
				args, rest = append(args, rest[1:end+1]), rest[end+2:]
				continue
			}
			word, after, _ := strings.Cut(rest, " ")
			args, rest = append(args, word), after
		}
		cmds = append(cmds, args)
	}
	return cmds
}

// What the README tells a user to run works against a running stack.
func TestREADMESendCommands(t *testing.T) {
	cmds := readmeSends(t)
	if len(cmds) < 3 {
		t.Fatalf("the README shows %d -send commands", len(cmds))
	}
	_, work := upStack(t)
	for _, args := range cmds {
		var out bytes.Buffer
		if err := send(context.Background(), work, args, nil, &out); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, out.String())
		}
		if !strings.Contains(out.String(), " -> 200 OK") && !strings.Contains(out.String(), " -> 202 Accepted") {
			t.Errorf("%q:\n%s", args, out.String())
		}
	}
}
