package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
)

// The end-to-end tests drive the built bootstrap binaries through the Lambda
// Runtime Interface Emulator, as Lambda would, against the stand-ins.

var (
	bootstraps map[string]string
	rieBinary  string
)

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../..")
	dir, err := os.MkdirTemp("", "devstack-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	rieBinary = filepath.Join(root, "bin", "aws-lambda-rie")
	if err := BuildRIE(ctx, root, rieBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if bootstraps, err = BuildFunctions(ctx, root, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startStack(t *testing.T, o Options) *Stack {
	t.Helper()
	o.Bootstraps, o.RIE = bootstraps, rieBinary
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		for _, f := range s.Functions {
			if !f.stopped() {
				t.Errorf("%s still running after Close", f.Name)
			}
		}
	})
	return s
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invoke(t *testing.T, s *Stack, fn string, event []byte, sign bool) (answer, *Invocation) {
	t.Helper()
	if sign {
		var err error
		if event, err = s.Sign(event); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inv, err := s.Functions[fn].Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	return readAnswer(fn, inv), inv
}

func TestEveryEventUnderTheEmulator(t *testing.T) {
	s := startStack(t, Options{})
	files, _ := filepath.Glob("../../events/*.json")
	n := 0
	for _, f := range files {
		name := filepath.Base(f)
		fn, _, _ := strings.Cut(name, "-")
		if !slices.Contains(Functions, fn) {
			continue
		}
		n++
		a, inv := invoke(t, s, fn, readEvent(t, name), fn == "webhook")
		want := 200
		if strings.HasPrefix(name, "webhook-credential-items") {
			want = 202 // APPEND through the push queue
		}
		if a.status != want || (fn == "scheduled" && !strings.Contains(a.body, `"ok":true`)) ||
			(fn == "pusher" && !strings.Contains(a.body, `"batchItemFailures":[]`)) {
			t.Errorf("%s: %d %s\n%s", name, a.status, a.body, inv.Logs)
		}
	}
	if n < 10 {
		t.Fatalf("only %d events", n)
	}
	// Cold start read each secret once, through the real SDK; warm
	// invocations used the copies in memory. (The pusher's instances start
	// as the event source or the events call for them.)
	if r, starts := s.SSM.Reads(TokenParameter), s.Functions["webhook"].Instances()+s.Functions["scheduled"].Instances()+s.Functions["pusher"].Instances(); r != starts {
		t.Errorf("token read %d times for %d cold starts", r, starts)
	}
	if r := s.SSM.Reads(SecretParameter); r != 1 {
		t.Errorf("webhook secret read %d times, want 1", r)
	}
	if !strings.Contains(s.Functions["webhook"].Output(), `"cold_start":true`) {
		t.Error("no cold_start flag in the webhook's logs")
	}
	assertNoSecrets(t, s)
}

func TestRotatedTokenUnderTheEmulator(t *testing.T) {
	// The read cache off: each read asks Galxe, which is what shows the token.
	s := startStack(t, Options{Env: map[string]map[string]string{"webhook": {"READ_CACHE_SECONDS": "0"}}})
	ev := readEvent(t, "webhook-operation-v1.json")
	if a, _ := invoke(t, s, "webhook", ev, true); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	s.SSM.PutSecure(TokenParameter, "rotated-token-value-for-e2e")
	s.Galxe.SetTokens("rotated-token-value-for-e2e")
	if a, inv := invoke(t, s, "webhook", ev, true); a.status != 200 {
		t.Fatalf("after rotation: %d %s\n%s", a.status, a.body, inv.Logs)
	}
	if r := s.SSM.Reads(TokenParameter); r != 2 {
		t.Fatalf("token read %d times, want 2", r)
	}
	// Revoked: one more read, then 502 with Galxe's code.
	s.Galxe.SetTokens("nobody")
	if a, _ := invoke(t, s, "webhook", ev, true); a.status != 502 || !strings.Contains(a.body, "INVALID_TOKEN") {
		t.Fatalf("revoked: %d %s", a.status, a.body)
	}
	assertNoSecrets(t, s)
}

func TestRateLimitStormAnsweredBeforeTheDeadline(t *testing.T) {
	s := startStack(t, Options{Timeouts: map[string]int{"webhook": 3, "scheduled": 3}})
	for range 5000 {
		s.Galxe.Fail(galxetest.ErrorFault("QUOTA_EXCEEDED"))
	}
	a, inv := invoke(t, s, "webhook", readEvent(t, "webhook-operation-v2.json"), true)
	if a.status != 429 || !strings.Contains(a.body, "QUOTA_EXCEEDED") || !strings.Contains(a.body, "retry_after_seconds") {
		t.Fatalf("%d %s\n%s", a.status, a.body, inv.Logs)
	}
	if inv.Duration >= 3*time.Second || strings.Contains(inv.Logs, "Task timed out") {
		t.Fatalf("answered in %v, past the 3 s timeout", inv.Duration)
	}
	if s.Galxe.Requests() < 3 {
		t.Fatalf("only %d attempts: the budget allowed retries", s.Galxe.Requests())
	}
	// The scheduled function fails the job, within its deadline too.
	a, inv = invoke(t, s, "scheduled", readEvent(t, "scheduled-canary.json"), false)
	if a.status != 500 || !strings.Contains(a.body, "QUOTA_EXCEEDED") || inv.Duration >= 3*time.Second {
		t.Fatalf("scheduled: %d %s in %v", a.status, a.body, inv.Duration)
	}
}

func TestHungUpstreamAnswered504BeforeTheDeadline(t *testing.T) {
	s := startStack(t, Options{Timeouts: map[string]int{"webhook": 3}})
	for range 20 {
		s.Galxe.Fail(galxetest.Fault{Hang: true})
	}
	a, inv := invoke(t, s, "webhook", readEvent(t, "webhook-operation-v1.json"), true)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.body), &body)
	if a.status != 504 || body.Error.Code != "UPSTREAM_TIMEOUT" {
		t.Fatalf("%d %s\n%s", a.status, a.body, inv.Logs)
	}
	if inv.Duration >= 3*time.Second || strings.Contains(inv.Logs, "Task timed out") {
		t.Fatalf("answered in %v, past the 3 s timeout", inv.Duration)
	}
}

func TestMissingParameterAnsweredAsConfigurationError(t *testing.T) {
	s := startStack(t, Options{Env: map[string]map[string]string{"webhook": {"GALXE_ACCESS_TOKEN_PARAMETER": "/galxe-lambda/missing"}}})
	a, inv := invoke(t, s, "webhook", readEvent(t, "webhook-operation-v2.json"), true)
	if a.status != 500 || !strings.Contains(a.body, "CONFIGURATION_ERROR") || !strings.Contains(a.body, "galxe-lambda/missing") {
		t.Fatalf("%d %s\n%s", a.status, a.body, inv.Logs)
	}
	if s.Galxe.Requests() != 0 {
		t.Fatal("called Galxe without a token")
	}
}

// The mistake a deployment made: a hierarchical name without its leading
// slash. SSM refuses it in every call, so the function does not ask; it
// answers a configuration error that says how to fix the name.
func TestSlashlessParameterNameIsAClearConfigurationError(t *testing.T) {
	name := strings.TrimPrefix(TokenParameter, "/")
	s := startStack(t, Options{Env: map[string]map[string]string{"webhook": {"GALXE_ACCESS_TOKEN_PARAMETER": name}}})
	a, inv := invoke(t, s, "webhook", readEvent(t, "webhook-operation-v2.json"), true)
	if a.status != 500 || !strings.Contains(a.body, "CONFIGURATION_ERROR") || !strings.Contains(a.body, `use \"/`+name+`\"`) {
		t.Fatalf("%d %s\n%s", a.status, a.body, inv.Logs)
	}
	if !strings.Contains(inv.Logs, "GALXE_ACCESS_TOKEN_PARAMETER") {
		t.Errorf("the cold start's log does not name the variable:\n%s", inv.Logs)
	}
	if s.SSM.Reads(name) != 0 || s.Galxe.Requests() != 0 {
		t.Fatalf("asked SSM %d times, Galxe %d times", s.SSM.Reads(name), s.Galxe.Requests())
	}
	h, _ := invoke(t, s, "webhook", readEvent(t, "webhook-health-v2.json"), false)
	if h.status != 503 || !strings.Contains(h.body, "degraded") || !strings.Contains(h.body, "/"+name) {
		t.Fatalf("health: %d %s", h.status, h.body)
	}
}

func assertNoSecrets(t *testing.T, s *Stack) {
	t.Helper()
	secretPart := strings.TrimPrefix(s.WebhookSecret, "whsec_")
	for _, fn := range Functions {
		out := s.Functions[fn].Output()
		for _, secret := range []string{s.Token, secretPart} {
			if strings.Contains(out, secret) {
				t.Fatalf("%s's output holds a secret", fn)
			}
		}
	}
}

// The queued path end to end, under the emulator: a burst of one-address
// pushes answered 202 by several webhook instances, then a few Galxe calls
// by the pusher through the event source; an unknown credential's push
// ends in the dead-letter queue with Galxe's code.
func TestQueuedBurstUnderTheEmulator(t *testing.T) {
	s := startStack(t, Options{BatchWindow: 500 * time.Millisecond})
	const n = 40
	addrs := make([]string, n)
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		addrs[i] = fmt.Sprintf("0x%040x", 0xbeef00+i)
		wg.Go(func() {
			ev := itemsEvent(t, galxetest.DemoCredentialID, "APPEND", addrs[i])
			a, _ := invoke(t, s, "webhook", ev, true)
			statuses[i] = a.status
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 202 {
			t.Fatalf("push %d answered %d", i, st)
		}
	}
	if s.Functions["webhook"].Instances() < 2 {
		t.Errorf("one webhook instance took the whole burst")
	}
	waitFor(t, 20*time.Second, func() bool {
		held := strings.Join(s.Galxe.Items(galxetest.DemoCredentialID), " ")
		for _, a := range addrs {
			if !strings.Contains(held, a) {
				return false
			}
		}
		return true
	})
	if calls := s.Galxe.Calls("credentialItems"); calls > 4 {
		t.Errorf("%d Galxe calls for %d addresses", calls, n)
	}

	a, _ := invoke(t, s, "webhook", itemsEvent(t, "999999999999999999", "APPEND", addrs[0]), true)
	if a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	waitFor(t, 20*time.Second, func() bool { return len(s.SQS.Messages(PushDeadLetterQueue)) == 1 })
	if dead := s.SQS.Messages(PushDeadLetterQueue)[0]; dead.Attributes["error_code"] != "CREDENTIAL_NOT_FOUND" {
		t.Fatalf("dead letter %+v", dead)
	}
	assertNoSecrets(t, s)
}

// itemsEvent is an HTTP API event for the items route.
func itemsEvent(t *testing.T, credID, op string, items ...string) []byte {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"operation": op, "items": items})
	ev, err := buildEvent(sendRequest{Method: "POST", Path: "/credentials/" + credID + "/items", Body: body}, "e2e-"+randomHex(4), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not done within %v", d)
}
