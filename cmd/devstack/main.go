// Command devstack runs galxe-lambda on one machine with no AWS account and
// no Docker: the Galxe and SSM stand-ins on loopback, each function built
// for this machine and run under the AWS Lambda Runtime Interface Emulator,
// pointed at the stand-ins with the variables a deployment uses.
//
//	devstack            # demo: invoke every file in events/, then a few failures; exit 1 if any answer is wrong
//	devstack -up        # leave the stack running, its logs on the terminal, until Ctrl-C
//	devstack -up -real  # the same against the real Galxe, with GALXE_ACCESS_TOKEN from the environment
//	devstack -send METHOD PATH [-d BODY | -d @file | -d @-] [-v1]
//	                    # one signed webhook request to the running stack: status, body, log lines
//	devstack -sign FILE # print FILE signed by the running stack (for scripts; -send is simpler)
//	devstack -sign-headers -d BODY
//	                    # Standard Webhooks headers for BODY as curl arguments, signed with
//	                    # WEBHOOK_SECRET when set (a deployed stack's), else by the running stack
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
)

func main() {
	var (
		up     = flag.Bool("up", false, "leave the stack running and print its addresses")
		real   = flag.Bool("real", false, "use the real Galxe endpoint (GALXE_ENDPOINT or Galxe's) with GALXE_ACCESS_TOKEN")
		events = flag.String("events", "events", "folder of sample events")
		rie    = flag.String("rie", "bin/aws-lambda-rie", "the aws-lambda-rie binary (built if missing)")
		work   = flag.String("work", ".devstack", "folder for the built functions and the stack's state")
		sign   = flag.String("sign", "", "print this event signed by the running stack")
		doSend = flag.Bool("send", false, "send METHOD PATH [-d BODY|@file|@-] [-v1] to the running stack's webhook function")
		sigHdr = flag.Bool("sign-headers", false, "print Standard Webhooks headers for -d's body as curl arguments (WEBHOOK_SECRET, else the running stack signs)")
		data   = flag.String("d", "", "with -sign-headers: the body, @file or @- for standard input")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case *doSend:
		if err := send(ctx, *work, flag.Args(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "devstack -send:", err)
			os.Exit(1)
		}
		return
	case *sigHdr:
		if err := signHeaders(ctx, *work, *data, os.Stdin, os.Getenv("WEBHOOK_SECRET"), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "devstack -sign-headers:", err)
			os.Exit(1)
		}
		return
	case *sign != "":
		if err := signToStdout(ctx, *work, *sign, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "devstack -sign:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *up, *real, *events, *rie, *work, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, up, real bool, events, rie, work string, w io.Writer) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := BuildRIE(ctx, root, rie); err != nil {
		return err
	}
	fmt.Fprintln(w, "building the functions for this machine ...")
	bootstraps, err := BuildFunctions(ctx, root, filepath.Join(work, "functions"))
	if err != nil {
		return err
	}
	opts := Options{Bootstraps: bootstraps, RIE: rie}
	if up {
		opts.LiveLogs = w
	}
	if real {
		opts.RealEndpoint = os.Getenv("GALXE_ENDPOINT")
		if opts.RealEndpoint == "" {
			opts.RealEndpoint = galxe.DefaultEndpoint
		}
		opts.RealToken = os.Getenv("GALXE_ACCESS_TOKEN")
	}
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	_ = os.Remove(filepath.Join(work, "webhook-secret")) // what older versions left behind
	if up {
		front, err := s.Serve()
		if err != nil {
			return err
		}
		if err := writeState(work, front); err != nil {
			return err
		}
		defer os.Remove(filepath.Join(work, stateFile))
		printAddresses(w, s.status(front))
		<-ctx.Done()
		fmt.Fprintln(w, "stopping")
		return nil
	}
	return demo(ctx, s, events, w)
}

func printAddresses(w io.Writer, st Status) {
	fmt.Fprintf(w, "\nthe stack is up (Ctrl-C stops it); the functions' log lines follow as they come\n")
	fmt.Fprintf(w, "  Galxe              %s\n", st.Galxe)
	fmt.Fprintf(w, "  SSM stand-in       %s (parameters %s, %s)\n", st.SSM, TokenParameter, SecretParameter)
	if st.SQS != "" {
		fmt.Fprintf(w, "  SQS stand-in       %s (queues %s, %s; the pusher drains the first)\n", st.SQS, PushQueueName, PushDeadLetterQueue)
	}
	if st.DynamoDB != "" {
		fmt.Fprintf(w, "  DynamoDB stand-in  %s (table %s: deliveries, push marks)\n", st.DynamoDB, StateTableName)
	}
	for _, fn := range Functions {
		fmt.Fprintf(w, "  %-18s %s\n", fn+" function", st.Functions[fn])
	}
	fmt.Fprintf(w, "  %-18s %s (the webhook's routes, as the deployed ApiUrl serves them; callers sign)\n", "API URL", st.API)
	fmt.Fprintf(w, `
in another terminal:
  go run ./cmd/devstack -send GET /health
  go run ./cmd/devstack -send POST /operations/credential -d '{"variables":{"id":"380512468497932288"}}'
  go run ./cmd/devstack -send POST /credentials/380512468497932288/items -d '{"operation":"APPEND","items":["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"]}'
  body='{"variables":{"id":"380512468497932288"}}'; curl -s %s/operations/credential $(go run ./cmd/devstack -sign-headers -d "$body") -H content-type:application/json -d "$body"
  curl -s %s -d @events/scheduled-canary.json
  aws lambda invoke --endpoint-url %s --region us-east-1 --no-sign-request --function-name scheduled --payload fileb://events/scheduled-canary.json --log-type Tail --query LogResult --output text out.json | base64 -d

`, st.API, st.Functions["scheduled"], st.URL)
}

// answer is what a function said, read the same way for both functions.
type answer struct {
	status  int               // the API Gateway status, or 200/500 for a job's success/failure
	body    string            // the response body, or the job's summary or error
	headers map[string]string // the API Gateway response's headers, names lower-cased
}

func readAnswer(fn string, inv *Invocation) answer {
	if inv.FuncErr || inv.Status != 200 {
		return answer{status: 500, body: string(inv.Body)}
	}
	if fn == "webhook" {
		var r struct {
			StatusCode int               `json:"statusCode"`
			Body       string            `json:"body"`
			Headers    map[string]string `json:"headers"`
		}
		if json.Unmarshal(inv.Body, &r) == nil && r.StatusCode != 0 {
			a := answer{status: r.StatusCode, body: r.Body, headers: map[string]string{}}
			for k, v := range r.Headers {
				a.headers[strings.ToLower(k)] = v
			}
			return a
		}
	}
	return answer{status: 200, body: string(inv.Body)}
}

// check is one invocation of the demo and what the contract says of it.
type check struct {
	name    string
	fn      string
	event   []byte
	sign    bool
	before  func(*Stack)
	want    int    // status
	wantHas string // a substring of the body
}

func demo(ctx context.Context, s *Stack, eventsDir string, w io.Writer) error {
	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	var checks []check
	for _, f := range files {
		name := filepath.Base(f)
		fn := ""
		switch {
		case strings.HasPrefix(name, "webhook-"):
			fn = "webhook"
		case strings.HasPrefix(name, "scheduled-"):
			fn = "scheduled"
		case strings.HasPrefix(name, "pusher-"):
			fn = "pusher"
		default:
			continue
		}
		ev, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		status, want := 200, map[string]string{"scheduled": `"ok":true`, "pusher": `"batchItemFailures":[]`}[fn]
		if strings.HasPrefix(name, "webhook-credential-items") && s.Events != nil {
			status, want = 202, `"queued":true` // APPEND goes through the push queue
		}
		checks = append(checks, check{name: name, fn: fn, event: ev, sign: fn == "webhook", want: status, wantHas: want})
	}
	var last []check
	if s.Galxe != nil {
		failures, pause := failureChecks(files)
		checks = append(checks, failures...)
		if pause.event != nil {
			last = append(last, pause)
		}
	}
	failed := 0
	drained := false
	run := func(c check) error {
		if c.before != nil && !drained && s.Events != nil {
			// The sample pushes went through the queue: the pusher must have
			// delivered them before a check sets Galxe to fail, or its call
			// would meet the failure meant for the check.
			if !waitUntil(ctx, time.Minute, func() bool { return len(s.SQS.Messages(PushQueueName)) == 0 }) {
				fmt.Fprintln(w, "warning: the sample pushes are still queued after a minute; the failure checks below may meet them")
			}
			drained = true
		}
		if c.before != nil {
			c.before(s)
		}
		ev := c.event
		if c.sign {
			if ev, err = s.Sign(ev); err != nil {
				return err
			}
		}
		ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		inv, err := s.Functions[c.fn].Invoke(ictx, ev)
		cancel()
		if err != nil {
			return err
		}
		a := readAnswer(c.fn, inv)
		ok := a.status == c.want && strings.Contains(a.body, c.wantHas)
		if !ok {
			failed++
		}
		printInvocation(w, c, inv, a, ok)
		return nil
	}
	for _, c := range checks {
		if err := run(c); err != nil {
			return err
		}
	}
	total := len(checks) + len(last)
	if s.Galxe != nil && s.Events != nil {
		for _, q := range queueChecks(s.SharedState) {
			total++
			ok, err := q.run(ctx, s, w)
			if err != nil {
				return err
			}
			if !ok {
				failed++
			}
		}
	}
	for _, c := range last {
		if err := run(c); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", total-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d checks differ from the contract", failed, total)
	}
	return nil
}

// queueCheck is a demo step of the queued path, which several invocations
// make together.
type queueCheck struct {
	name string
	run  func(ctx context.Context, s *Stack, w io.Writer) (bool, error)
}

func queueChecks(shared bool) []queueCheck {
	checks := []queueCheck{{"a burst of one-address pushes through the queue", demoBurst}, {"a credential Galxe does not know", demoDeadLetter}}
	if shared {
		checks = append(checks, queueCheck{"an older APPEND redelivered after a later REMOVE", demoRedelivered},
			queueCheck{"one delivery sent to two instances", demoDeliveredTwice},
			queueCheck{"a read answered from the cache by another instance", demoCachedRead},
			queueCheck{"one account's rate while a backlog drains and reads go on", demoAccountRate})
	}
	return checks
}

// demoBurst sends 40 one-address pushes at once, signed as a sender would,
// then waits for the pusher to deliver them, and counts Galxe's calls.
func demoBurst(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	const n = 40
	before := s.Galxe.Calls("credentialItems")
	addrs := make([]string, n)
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		addrs[i] = fmt.Sprintf("0x%040x", 0xd3e0000+i)
		wg.Go(func() {
			body, _ := json.Marshal(map[string]any{"operation": "APPEND", "items": []string{addrs[i]}})
			ev, err := signedPost(s, "/credentials/"+galxetest.DemoCredentialID+"/items", body, "demo-"+randomHex(4))
			if err != nil {
				errs[i] = err
				return
			}
			inv, err := s.Functions["webhook"].Invoke(ctx, ev)
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = readAnswer("webhook", inv).status
		})
	}
	wg.Wait()
	answered := time.Since(start)
	accepted := 0
	for i := range n {
		if errs[i] != nil {
			return false, errs[i]
		}
		if statuses[i] == 202 {
			accepted++
		}
	}
	delivered := waitUntil(ctx, 30*time.Second, func() bool {
		held := strings.Join(s.Galxe.Items(galxetest.DemoCredentialID), " ")
		for _, a := range addrs {
			if !strings.Contains(held, a) {
				return false
			}
		}
		return true
	})
	calls := s.Galxe.Calls("credentialItems") - before
	ok := accepted == n && delivered && calls <= 4
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== %s: %s\n", "a burst of one-address pushes through the queue", mark)
	fmt.Fprintf(w, "%d pushes of one address each, sent at once: %d answered 202 in %v by %d webhook instances\n",
		n, accepted, answered.Round(time.Millisecond), s.Functions["webhook"].Instances())
	fmt.Fprintf(w, "the pusher (%d invocations so far, at most %d at once) delivered all %d: %v; Galxe saw %d credentialItems calls for them\n",
		s.Events.Invocations(), PusherConcurrency, n, delivered, calls)
	return ok, nil
}

// demoDeadLetter pushes to a credential Galxe does not know: 202, then the
// message in the dead-letter queue with Galxe's code.
func demoDeadLetter(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	body := []byte(`{"operation":"APPEND","items":["0x00000000000000000000000000000000000000dd"]}`)
	ev, err := signedPost(s, "/credentials/999999999999999999/items", body, "demo-dlq")
	if err != nil {
		return false, err
	}
	before := len(s.SQS.Messages(PushDeadLetterQueue))
	inv, err := s.Functions["webhook"].Invoke(ctx, ev)
	if err != nil {
		return false, err
	}
	a := readAnswer("webhook", inv)
	var code string
	arrived := waitUntil(ctx, 30*time.Second, func() bool {
		dead := s.SQS.Messages(PushDeadLetterQueue)
		if len(dead) > before {
			code = dead[len(dead)-1].Attributes["error_code"]
			return true
		}
		return false
	})
	ok := a.status == 202 && arrived && code == "CREDENTIAL_NOT_FOUND"
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== a credential Galxe does not know: %s\n", mark)
	fmt.Fprintf(w, "the webhook answered %d %s; the pusher's call was refused, and the message is in %s with error_code %q\n",
		a.status, clip(a.body, 200), PushDeadLetterQueue, code)
	return ok, nil
}

// demoRedelivered shows pushes applied in order across deliveries: an
// APPEND that reaches the pusher after a later REMOVE of the same address
// (a redelivery, or SQS's lack of order) is skipped, not applied.
func demoRedelivered(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	const addr = "0x00000000000000000000000000000000000000aa"
	cred := galxetest.DemoCredentialID
	message := func(op string, at time.Time) string {
		b, _ := json.Marshal(map[string]any{"credId": cred, "operation": op, "items": []string{addr}, "at": at.UnixMilli()})
		return string(b)
	}
	holds := func() bool { return slices.Contains(s.Galxe.Items(cred), addr) }
	drained := func() bool { return len(s.SQS.Messages(PushQueueName)) == 0 }
	accepted := time.Now()
	s.SQS.Put(PushQueueName, message("APPEND", accepted.Add(-2*time.Second)))
	appended := waitUntil(ctx, 30*time.Second, func() bool { return drained() && holds() })
	s.SQS.Put(PushQueueName, message("REMOVE", accepted))
	removed := waitUntil(ctx, 30*time.Second, func() bool { return drained() && !holds() })
	calls := s.Galxe.Calls("credentialItems")
	// The same APPEND, accepted before the REMOVE, delivered again now.
	s.SQS.Put(PushQueueName, message("APPEND", accepted.Add(-time.Second)))
	done := waitUntil(ctx, 30*time.Second, drained)
	skipped := done && !holds() && s.Galxe.Calls("credentialItems") == calls
	ok := appended && removed && skipped
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== an older APPEND redelivered after a later REMOVE: %s\n", mark)
	fmt.Fprintf(w, "APPEND then REMOVE of %s applied (held %v, then removed %v); the APPEND accepted before the REMOVE, delivered again, was skipped by its mark: Galxe saw %d more calls and holds it: %v\n",
		addr, appended, removed, s.Galxe.Calls("credentialItems")-calls, holds())
	return ok, nil
}

// demoDeliveredTwice sends one signed REPLACE to two webhook instances, as
// a sender's retry after a timeout would: Galxe runs it once, and the
// second instance answers with the first one's stored answer.
func demoDeliveredTwice(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	body := []byte(`{"operation":"REPLACE","items":["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed","0x00000000000000000000000000000000000000bb"]}`)
	ev, err := signedPost(s, "/credentials/"+galxetest.DemoCredentialID+"/items", body, "demo-twice")
	if err != nil {
		return false, err
	}
	before := s.Galxe.Calls("credentialItems")
	invs, err := s.Functions["webhook"].InvokeEach(ctx, ev, 2)
	if err != nil {
		return false, err
	}
	first, second := readAnswer("webhook", invs[0]), readAnswer("webhook", invs[1])
	replayed := second.headers["idempotent-replayed"] == "true"
	calls := s.Galxe.Calls("credentialItems") - before
	ok := first.status == 200 && second.status == 200 && second.body == first.body && replayed && calls == 1
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== one delivery sent to two instances: %s\n", mark)
	fmt.Fprintf(w, "the same signed REPLACE to two webhook instances: the first answered %d %s; the second %d, byte-identical: %v, Idempotent-Replayed: %v; Galxe ran it %d time(s)\n",
		first.status, clip(first.body, 160), second.status, second.body == first.body, replayed, calls)
	return ok, nil
}

// signedPost is the API Gateway event of a POST as a sender signs it.
func signedPost(s *Stack, path string, body []byte, requestID string) ([]byte, error) {
	ev, err := buildEvent(sendRequest{Method: "POST", Path: path, Body: body}, requestID, time.Now())
	if err != nil {
		return nil, err
	}
	return s.Sign(ev)
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// failureChecks are a few of the contract's failure rows, shown live. Each
// reads a credential of its own, so that none is answered from the read
// cache: each asks Galxe. The last pauses the whole account (a 429 with a
// Retry-After longer than the budget, DESIGN.md §11): it runs after every
// other step.
func failureChecks(files []string) (checks []check, last check) {
	var op []byte
	for _, f := range files {
		if filepath.Base(f) == "webhook-operation-v2.json" {
			op, _ = os.ReadFile(f)
		}
	}
	if op == nil {
		return nil, check{}
	}
	n := 0
	own := func(c check, fault func(*Stack)) check {
		n++
		id := fmt.Sprintf("3805124684979324%02d", n)
		c.event = withBody(op, fmt.Sprintf(`{"variables":{"id":%q}}`, id))
		c.fn, c.sign = "webhook", true
		c.before = func(s *Stack) {
			s.Galxe.AddCredential(galxetest.Credential{ID: id, Name: c.name})
			fault(s)
		}
		return c
	}
	checks = []check{
		{name: "unsigned request", fn: "webhook", event: op, want: 401, wantHas: "UNAUTHENTICATED"},
		own(check{name: "Galxe monthly quota spent", want: 429, wantHas: `"retry_after_seconds":3600`},
			func(s *Stack) { s.Galxe.Fail(galxetest.QuotaSpent("monthly")) }),
		own(check{name: "Galxe outage, retried", want: 200, wantHas: `"credential"`},
			func(s *Stack) { s.Galxe.Fail(galxetest.HTMLPage(502), galxetest.NoHealthyUpstream()) }),
		own(check{name: "Galxe permission denied", want: 403, wantHas: "PERMISSION_DENIED"},
			func(s *Stack) { s.Galxe.Fail(galxetest.ErrorFault("PERMISSION_DENIED")) }),
		own(check{name: "token rotated in SSM", want: 200, wantHas: `"credential"`}, func(s *Stack) {
			s.Token = "devstack_rotated_" + randomHex(8)
			s.SSM.PutSecure(TokenParameter, s.Token)
			s.Galxe.SetTokens(s.Token)
		}),
	}
	last = own(check{name: "Galxe rate limit longer than the budget (the account pauses until its Retry-After)", want: 429, wantHas: "QUOTA_EXCEEDED"},
		func(s *Stack) {
			f := galxetest.ErrorFault("QUOTA_EXCEEDED")
			f.RetryAfter = "60"
			s.Galxe.Fail(f)
		})
	return checks, last
}

// withBody is an API Gateway event with another body, as plain text.
func withBody(event []byte, body string) []byte {
	var ev map[string]any
	if json.Unmarshal(event, &ev) != nil {
		return event
	}
	ev["body"], ev["isBase64Encoded"] = body, false
	b, _ := json.Marshal(ev)
	return b
}

func printInvocation(w io.Writer, c check, inv *Invocation, a answer, ok bool) {
	mark := "as expected"
	if !ok {
		mark = fmt.Sprintf("WRONG (want %d with %q)", c.want, c.wantHas)
	}
	fmt.Fprintf(w, "\n=== %s -> %s function: %d %s (%v)\n", c.name, c.fn, a.status, mark, inv.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "event:  %s\n", clip(compact(c.event), 240))
	fmt.Fprintf(w, "answer: %s\n", clip(a.body, 600))
	for _, l := range logLines(inv.Logs) {
		fmt.Fprintf(w, "  log | %s\n", clip(l, 400))
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes)", len(s))
}
