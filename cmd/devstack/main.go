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
	"sort"
	"strings"
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
	for _, fn := range Functions {
		fmt.Fprintf(w, "  %-18s %s\n", fn+" function", st.Functions[fn])
	}
	fmt.Fprintf(w, `
in another terminal:
  go run ./cmd/devstack -send GET /health
  go run ./cmd/devstack -send POST /operations/credential -d '{"variables":{"id":"380512468497932288"}}'
  curl -s %s -d @events/scheduled-canary.json
  aws lambda invoke --endpoint-url %s --function-name scheduled --payload fileb://events/scheduled-canary.json out.json

`, st.Functions["scheduled"], st.URL)
}

// answer is what a function said, read the same way for both functions.
type answer struct {
	status int    // the API Gateway status, or 200/500 for a job's success/failure
	body   string // the response body, or the job's summary or error
}

func readAnswer(fn string, inv *Invocation) answer {
	if inv.FuncErr || inv.Status != 200 {
		return answer{status: 500, body: string(inv.Body)}
	}
	if fn == "webhook" {
		var r struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if json.Unmarshal(inv.Body, &r) == nil && r.StatusCode != 0 {
			return answer{status: r.StatusCode, body: r.Body}
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
		default:
			continue
		}
		ev, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		want := `"ok":true`
		if fn == "webhook" {
			want = ""
		}
		checks = append(checks, check{name: name, fn: fn, event: ev, sign: fn == "webhook", want: 200, wantHas: want})
	}
	if s.Galxe != nil {
		checks = append(checks, failureChecks(files)...)
	}
	failed := 0
	for _, c := range checks {
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
	}
	fmt.Fprintf(w, "\n%d passed, %d failed\n", len(checks)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d answers differ from the contract", failed, len(checks))
	}
	return nil
}

// failureChecks are a few of the contract's failure rows, shown live.
func failureChecks(files []string) []check {
	var healthOp []byte
	for _, f := range files {
		if filepath.Base(f) == "webhook-operation-v2.json" {
			healthOp, _ = os.ReadFile(f)
		}
	}
	if healthOp == nil {
		return nil
	}
	return []check{
		{name: "unsigned request", fn: "webhook", event: healthOp, want: 401, wantHas: "UNAUTHENTICATED"},
		{name: "Galxe rate limit longer than the budget", fn: "webhook", event: healthOp, sign: true,
			before: func(s *Stack) {
				f := galxetest.ErrorFault("QUOTA_EXCEEDED")
				f.RetryAfter = "60"
				s.Galxe.Fail(f)
			}, want: 429, wantHas: "QUOTA_EXCEEDED"},
		{name: "Galxe monthly quota spent", fn: "webhook", event: healthOp, sign: true,
			before: func(s *Stack) { s.Galxe.Fail(galxetest.QuotaSpent("monthly")) }, want: 429, wantHas: `"retry_after_seconds":3600`},
		{name: "Galxe outage, retried", fn: "webhook", event: healthOp, sign: true,
			before: func(s *Stack) { s.Galxe.Fail(galxetest.HTMLPage(502), galxetest.NoHealthyUpstream()) }, want: 200, wantHas: `"credential"`},
		{name: "Galxe permission denied", fn: "webhook", event: healthOp, sign: true,
			before: func(s *Stack) { s.Galxe.Fail(galxetest.ErrorFault("PERMISSION_DENIED")) }, want: 403, wantHas: "PERMISSION_DENIED"},
		{name: "token rotated in SSM", fn: "webhook", event: healthOp, sign: true,
			before: func(s *Stack) {
				s.Token = "devstack_rotated_" + randomHex(8)
				s.SSM.PutSecure(TokenParameter, s.Token)
				s.Galxe.SetTokens(s.Token)
			}, want: 200, wantHas: `"credential"`},
	}
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
