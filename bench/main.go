// Command bench measures galxe-lambda side by side with two floors and
// writes BENCHMARKS.md (make bench):
//
//   - binary size as deployed (arm64, the SAM build flags);
//   - cold start: process start to its first GET .../invocation/next, the
//     token read from the SSM stand-in included, over many starts;
//   - warm overhead: an invocation handed to the function until its
//     response arrives, over hundreds of invocations;
//   - the handler path without a runtime (go test -bench);
//   - a bulk push of 100,000 addresses to a Galxe stand-in that allows 10
//     requests a second and answers in 150 ms;
//   - the queued path (queue.go): a burst over eight webhook instances and a
//     100,000-message backlog drained by two pushers;
//   - the shared-state table (state.go): every function with STATE_TABLE
//     set as the template sets it, against a DynamoDB stand-in; the
//     webhook's items route without and with the table; the DynamoDB
//     requests of a delivery and of a pushed item, and their monthly cost.
//
// The floors: "hello", the smallest aws-lambda-go function, and "library
// floor", an empty handler linking the same libraries that loads the AWS
// configuration, reads one SecureString and makes the DynamoDB client at
// init.
//
// BENCH_TRACE=1 logs each queued invocation's timing; BENCH_TRACE_LOGS=FILE
// keeps the functions' own log lines.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	tokenParam  = "/galxe-lambda/access-token"
	secretParam = "/galxe-lambda/webhook-secret"
	benchToken  = "bench-token-0123456789abcdef"
	benchSecret = "whsec_QmVuY2htYXJrU2VjcmV0S2V5Rm9yR2FseGU="
	bulkCredID  = "900000000000000001"
)

type binary struct {
	name, pkg string
	host      string // built for this machine, to run
	arm64     int64  // size as deployed
}

func main() {
	starts := flag.Int("starts", 100, "cold starts per binary")
	warm := flag.Int("warm", 500, "warm invocations per case")
	bulk := flag.Int("bulk", 100000, "addresses in the bulk push (0 skips it)")
	backlogN := flag.Int("backlog", 100000, "one-address messages in the queue backlog (0 skips it)")
	mixedN := flag.Int("mixed", 50000, "one-address messages drained in the mixed load (0 skips it)")
	out := flag.String("out", "-", "report file (- prints it only; make bench-update writes BENCHMARKS.md)")
	flag.Parse()
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "galxe-bench")
	check(err)
	defer os.RemoveAll(work)

	bins := []*binary{
		{name: "webhook", pkg: "./functions/webhook"},
		{name: "scheduled", pkg: "./functions/scheduled"},
		{name: "pusher", pkg: "./functions/pusher"},
		{name: "hello (floor)", pkg: "./bench/hello"},
		{name: "library floor", pkg: "./bench/libfloor"},
	}
	log.Print("building (arm64 as deployed, and for this machine) ...")
	for i, b := range bins {
		arm := filepath.Join(work, fmt.Sprintf("arm64-%d", i))
		run("", []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}, "go", "build", "-tags", "lambda.norpc", "-trimpath", `-ldflags=-s -w`, "-o", arm, b.pkg)
		st, err := os.Stat(arm)
		check(err)
		b.arm64 = st.Size()
		b.host = filepath.Join(work, fmt.Sprintf("host-%d", i))
		run("", []string{"CGO_ENABLED=0"}, "go", "build", "-tags", "lambda.norpc", "-trimpath", `-ldflags=-s -w`, "-o", b.host, b.pkg)
	}

	ssm := ssmtest.NewServer()
	defer ssm.Close()
	ssm.PutSecure(tokenParam, benchToken)
	ssm.PutSecure(secretParam, benchSecret)
	fast := galxetest.NewServer(galxetest.Options{Tokens: []string{benchToken}, QPS: -1})
	defer fast.Close()
	// The shared-state table, as the template gives it to every function.
	ddb := newStateServer()
	defer ddb.Close()
	deployed := stateEnv(ddb)
	env := func(galxeURL string, extra ...string) []string {
		return append([]string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
			"AWS_LAMBDA_FUNCTION_NAME=bench", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
			"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_ENDPOINT_URL_SSM=" + ssm.URL,
			"GALXE_ACCESS_TOKEN_PARAMETER=" + tokenParam, "WEBHOOK_SECRET_PARAMETER=" + secretParam,
			"GALXE_ENDPOINT=" + galxeURL,
		}, extra...)
	}
	fastEnv := func(extra ...string) []string {
		return env(fast.URL, append(append([]string{}, deployed...), extra...)...)
	}

	// Cold starts, round-robin so drift on the machine touches every binary alike.
	log.Printf("cold starts: %d per binary ...", *starts)
	cold := map[string][]time.Duration{}
	for i := 0; i < *starts; i++ {
		for _, b := range bins {
			d, err := coldStart(b.host, fastEnv())
			check(err)
			cold[b.name] = append(cold[b.name], d)
		}
	}

	log.Printf("warm overhead: %d invocations per case ...", *warm)
	healthEv := apiEvent("GET", "/health", "")
	opEvent := func() []byte { return signed(apiEvent("POST", "/operations/health", `{}`)) }
	warmCases := []struct {
		name, bin string
		event     func() []byte
		noTable   bool
	}{
		{"hello (floor)", bins[3].host, func() []byte { return []byte(`{}`) }, false},
		{"webhook GET /health", bins[0].host, func() []byte { return healthEv }, false},
		{"webhook POST /operations/health", bins[0].host, opEvent, false},
		{"webhook POST /operations/health, without STATE_TABLE", bins[0].host, opEvent, true},
	}
	warmRes := map[string][]time.Duration{}
	for _, c := range warmCases {
		e := fastEnv(unpaced...)
		if c.noTable {
			e = env(fast.URL, unpaced...)
		}
		d, err := warmInvocations(c.bin, e, c.event, *warm)
		check(err)
		warmRes[c.name] = d
	}

	log.Print("webhook memory under hostile headers ...")
	mem, err := webhookMemory(bins[0].host, fastEnv(unpaced...))
	check(err)

	log.Printf("webhook items route: %d deliveries each, without and with the shared-state table ...", *warm)
	items, err := itemsRoute(bins[0].host, env, *warm)
	check(err)

	var bulkRes *bulkResult
	if *bulk > 0 {
		log.Printf("bulk push: %d addresses at 10 requests a second, 150 ms a request ...", *bulk)
		bulkRes, err = bulkPush(bins[1].host, env, *bulk)
		check(err)
	}

	log.Printf("queued burst: %d one-address pushes over %d webhook instances ...", burstPushes, burstInstances)
	burst, err := queueBurst(bins[0].host, bins[2].host, env)
	check(err)
	var drain *backlogResult
	if *backlogN > 0 {
		log.Printf("backlog: %d one-address messages, %d pushers at 5 requests a second ...", *backlogN, pushers)
		drain, err = backlog(bins[2].host, env, *backlogN)
		check(err)
	}

	var mixed *mixedResult
	if *mixedN > 0 {
		log.Printf("mixed load: %d messages drained, %d reads on %d webhook instances, a paged job, one account ...", *mixedN, mixedReads, mixedInstances)
		mixed, err = mixedLoad(bins[0].host, bins[1].host, bins[2].host, env, *mixedN)
		check(err)
	}

	log.Print("go test -bench ...")
	goBench := run("", nil, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1",
		"./shared/webhook", "./shared/credentials")

	report := render(bins, cold, warmCases[0].name, warmRes, mem, bulkRes, goBench)
	report = strings.Replace(report, queueMarker, renderQueue(burst, drain)+renderState(items, burst, drain)+renderMixed(mixed), 1)
	fmt.Print(report)
	if *out != "-" {
		check(os.WriteFile(*out, []byte(report), 0o644))
		log.Printf("wrote %s", *out)
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func run(dir string, env []string, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, buf.String())
	}
	return buf.String()
}

// startFunction starts a bootstrap against a fresh Runtime API and returns
// when the process has asked for its first invocation.
func startFunction(bin string, env []string) (*runtimeAPI, *exec.Cmd, time.Duration, error) {
	api, err := newRuntimeAPI()
	if err != nil {
		return nil, nil, 0, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if f := os.Getenv("BENCH_TRACE_LOGS"); f != "" {
		if out, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			cmd.Stdout, cmd.Stderr = out, out
		}
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		api.close()
		return nil, nil, 0, err
	}
	select {
	case t := <-api.nextArrived:
		return api, cmd, t.Sub(start), nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		api.close()
		return nil, nil, 0, fmt.Errorf("%s never asked for an invocation", bin)
	}
}

func stop(api *runtimeAPI, cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	api.close()
}

func coldStart(bin string, env []string) (time.Duration, error) {
	api, cmd, d, err := startFunction(bin, env)
	if err != nil {
		return 0, err
	}
	stop(api, cmd)
	return d, nil
}

func warmInvocations(bin string, env []string, event func() []byte, n int) ([]time.Duration, error) {
	api, cmd, _, err := startFunction(bin, env)
	if err != nil {
		return nil, err
	}
	defer stop(api, cmd)
	var out []time.Duration
	for i := 0; i < n+50; i++ { // the first 50 warm the process up
		inv, err := api.invoke(event(), 10*time.Second)
		if err != nil {
			return nil, err
		}
		if inv.isError || bytes.Contains(inv.body, []byte(`"statusCode":5`)) {
			return nil, fmt.Errorf("invocation failed: %s", inv.body)
		}
		if i >= 50 {
			out = append(out, inv.answered.Sub(inv.handed))
		}
	}
	return out, nil
}

// memoryResult is the webhook's peak memory (VmHWM) after what an attacker
// or a busy sender can make it hold.
type memoryResult struct {
	baseline, afterIDs, afterSignature int64 // bytes
	signatureBytes                     int
	idStatus, sigStatus                string
}

// webhookMemory starts the webhook twice: once for 100 signed requests with
// 256-byte ids (each remembered against replays), once for one event whose
// webhook-signature header fills Lambda's 6 MB event (refused unparsed).
func webhookMemory(bin string, env []string) (*memoryResult, error) {
	r := &memoryResult{}
	api, cmd, _, err := startFunction(bin, env)
	if err != nil {
		return nil, err
	}
	if _, err := api.invoke(apiEvent("GET", "/health", ""), 10*time.Second); err != nil {
		stop(api, cmd)
		return nil, err
	}
	r.baseline = peakRSS(cmd.Process.Pid)
	ok := 0
	for i := range 100 {
		id := fmt.Sprintf("msg_%0252d", i) // 256 bytes
		inv, err := api.invoke(signedAs(apiEvent("POST", "/operations/health", `{}`), id), 10*time.Second)
		if err != nil {
			stop(api, cmd)
			return nil, err
		}
		if bytes.Contains(inv.body, []byte(`"statusCode":200`)) {
			ok++
		}
	}
	r.afterIDs, r.idStatus = peakRSS(cmd.Process.Pid), fmt.Sprintf("%d of 100 answered 200", ok)
	stop(api, cmd)

	api, cmd, _, err = startFunction(bin, env)
	if err != nil {
		return nil, err
	}
	defer stop(api, cmd)
	ev := signedAs(apiEvent("POST", "/operations/health", `{}`), "msg_big")
	var m map[string]any
	_ = json.Unmarshal(ev, &m)
	r.signatureBytes = 6_000_000 - len(ev)
	m["headers"].(map[string]any)["webhook-signature"] = "v1,x" + strings.Repeat(" ", r.signatureBytes-4)
	big, _ := json.Marshal(m)
	inv, err := api.invoke(big, 10*time.Second)
	if err != nil {
		return nil, err
	}
	r.afterSignature = peakRSS(cmd.Process.Pid)
	r.sigStatus = "answered " + statusOf(inv.body)
	return r, nil
}

func statusOf(body []byte) string {
	var resp struct {
		StatusCode int `json:"statusCode"`
	}
	_ = json.Unmarshal(body, &resp)
	return strconv.Itoa(resp.StatusCode)
}

type bulkResult struct {
	items, batches, rateLimited, requests, received, held int
	wall, ideal                                           time.Duration
	peakRSS                                               int64 // bytes
	eventBytes                                            int
	summary                                               string
	calls                                                 ddbCalls // the shared-state table's requests
}

func bulkPush(bin string, env func(string, ...string) []string, n int) (*bulkResult, error) {
	slow := galxetest.NewServer(galxetest.Options{Tokens: []string{benchToken}, QPS: 10, Latency: 150 * time.Millisecond, Empty: true})
	defer slow.Close()
	slow.AddCredential(galxetest.Credential{ID: bulkCredID, Name: "bulk"})
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("0x%040x", i+1)
	}
	ev, _ := json.Marshal(map[string]any{"job": "credential-items", "credId": bulkCredID, "operation": "APPEND", "items": items})

	ddb := newStateServer()
	defer ddb.Close()
	api, cmd, _, err := startFunction(bin, env(slow.URL, append([]string{"GOGC=50"}, stateEnv(ddb)...)...)) // as the template sets it
	if err != nil {
		return nil, err
	}
	defer stop(api, cmd)
	inv, err := api.invoke(ev, 15*time.Minute)
	if err != nil {
		return nil, err
	}
	if inv.isError {
		return nil, fmt.Errorf("the push failed: %s", inv.body)
	}
	batches := (n + 499) / 500
	r := &bulkResult{items: n, batches: batches, rateLimited: slow.RateLimited(), requests: slow.Requests(),
		received: slow.Received(bulkCredID), held: len(slow.Items(bulkCredID)), wall: inv.answered.Sub(inv.handed),
		ideal: time.Duration(float64(batches) / backgroundQPS * float64(time.Second)), peakRSS: peakRSS(cmd.Process.Pid), eventBytes: len(ev), summary: string(inv.body),
		calls: callsOf(ddb)}
	return r, nil
}

// peakRSS reads the process's high-water resident set (VmHWM).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

func apiEvent(method, path, body string) []byte {
	ev, _ := json.Marshal(map[string]any{"version": "2.0", "routeKey": "$default", "rawPath": path, "body": body,
		"headers":         map[string]string{"content-type": "application/json"},
		"isBase64Encoded": false,
		"requestContext":  map[string]any{"requestId": "bench", "stage": "$default", "http": map[string]any{"method": method, "path": path}}})
	return ev
}

// signSeq numbers the deliveries: each a new webhook-id, also when
// several goroutines sign at once (a repeated id would be a duplicate
// delivery to the shared-state table).
var signSeq atomic.Int64

func signed(event []byte) []byte {
	return signedAs(event, fmt.Sprintf("msg_%d", signSeq.Add(1)))
}

func signedAs(event []byte, id string) []byte {
	var ev map[string]any
	_ = json.Unmarshal(event, &ev)
	wh, _ := standardwebhooks.NewWebhook(benchSecret)
	now := time.Now()
	body, _ := ev["body"].(string)
	sig, _ := wh.Sign(id, now, []byte(body))
	h := ev["headers"].(map[string]any)
	h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"] = id, strconv.FormatInt(now.Unix(), 10), sig
	out, _ := json.Marshal(ev)
	return out
}

// queueMarker is where the queued path's sections go in the report.
const queueMarker = "<!-- queue -->\n"

func renderQueue(burst *burstResult, drain *backlogResult) string {
	var b strings.Builder
	if burst != nil {
		warm := summarize(burst.warmAnswers)
		first := summarize(burst.firstAnswers)
		fmt.Fprintf(&b, "\n## Queued burst: %d one-address pushes over %d webhook instances, then the pushers\n\n", burstPushes, burstInstances)
		fmt.Fprintf(&b, "Galxe stand-in at 10 requests/s and 150 ms a request; SQS stand-in; the event source with `MaximumConcurrency: %d` and a %v batching window; pushers at `GALXE_MAX_QPS=5`; webhooks and pushers share one shared-state table on the DynamoDB stand-in.\n\n", pushers, burst.window)
		fmt.Fprintf(&b, "| measure | value | goal |\n| --- | ---: | --- |\n")
		fmt.Fprintf(&b, "| answered 202 | %d of %d | all |\n", burst.accepted, burstPushes)
		fmt.Fprintf(&b, "| webhook answer, warm: median / p99 | %s / %s | p99 < 50 ms: %s |\n", ms(warm.median), ms(warm.p99), verdict(warm.p99 < 50*time.Millisecond))
		fmt.Fprintf(&b, "| webhook answer, each instance's first (opens its SQS connection): median / max | %s / %s | |\n", ms(first.median), ms(first.max))
		fmt.Fprintf(&b, "| pusher invocations | %d | |\n", burst.invocations)
		fmt.Fprintf(&b, "| Galxe requests for the %d addresses | %d | ≤ 2: %s |\n", burstPushes, burst.requests, verdict(burst.requests <= 2))
		fmt.Fprintf(&b, "| answered 429 by Galxe | %d | 0: %s |\n", burst.rateLimited, verdict(burst.rateLimited == 0))
		fmt.Fprintf(&b, "| addresses delivered | %d of %d | all: %s |\n", burst.delivered, burstPushes, verdict(burst.delivered == burstPushes))
	}
	if drain != nil {
		over := float64(drain.wall)/float64(drain.ideal) - 1
		limited := 0.0
		if drain.requests > 0 {
			limited = float64(drain.rateLimited) / float64(drain.requests)
		}
		at := "without `at` (the pusher here refuses the field: it orders them by SentTimestamp)"
		if drain.withAt {
			at = "with `at`, as the webhook writes them"
		}
		fmt.Fprintf(&b, "\n## Queue backlog: %d one-address messages drained by %d pushers at 5 requests/s each, with ordering marks\n\n", drain.messages, pushers)
		fmt.Fprintf(&b, "Invocations as large as Lambda makes them (up to 10,000 records or 6 MB of event; the largest here: %d records, %.1f MB); a %v batching window; Galxe stand-in at 10 requests/s and 150 ms; bodies %s; the pushers share one shared-state table on the DynamoDB stand-in for their ordering marks (%s DynamoDB requests in all).\n\n", drain.largest, float64(drain.largestBytes)/1e6, drain.window, at, thousands(float64(drain.calls.total())))
		fmt.Fprintf(&b, "| measure | value | goal |\n| --- | ---: | --- |\n")
		fmt.Fprintf(&b, "| wall time, until Galxe holds every address | %.2f s (%.2f× ideal) | ≤ 1.15× ideal with ordering marks: %s |\n", drain.wall.Seconds(), float64(drain.wall)/float64(drain.ideal), verdict(float64(drain.wall) <= 1.15*float64(drain.ideal)))
		fmt.Fprintf(&b, "| ideal (each invocation's calls at 5/s, invocations to whichever pusher is free, both together at most the background share, %g/s) | %.2f s | |\n", backgroundQPS, drain.ideal.Seconds())
		fmt.Fprintf(&b, "| over ideal | %+.1f%% | |\n", over*100)
		fmt.Fprintf(&b, "| until the queue is empty too (the last batch's deletes done) | %.2f s | |\n", drain.drained.Seconds())
		fmt.Fprintf(&b, "| pusher invocations | %d | |\n", drain.invocations)
		fmt.Fprintf(&b, "| Galxe requests / answered 429 | %d / %d (%.2f%%) | < 1%%: %s |\n", drain.requests, drain.rateLimited, limited*100, verdict(limited < 0.01))
		fmt.Fprintf(&b, "| addresses held by Galxe / carried | %d / %d | every one, once: %s |\n", drain.delivered, drain.received, verdict(drain.delivered == drain.messages && drain.received == drain.messages))
		fmt.Fprintf(&b, "| pusher peak memory (VmHWM, the larger of the two) | %.1f MB | < 128 MB (the goal set when the pusher had 256 MB; it has 1024 MB now): %s |\n", float64(drain.peakRSS)/1e6, verdict(drain.peakRSS > 0 && drain.peakRSS < 128e6))
		fmt.Fprintf(&b, "| pushers' CPU time (user + system, both) / per item | %.2f s / %.0f µs | |\n", drain.cpu.Seconds(), float64(drain.cpu.Microseconds())/float64(drain.messages))
		fmt.Fprintf(&b, "| this process's CPU time (the stand-ins and the event source) / the machine's %d cores busy | %.2f s / %.0f%% | |\n", runtime.NumCPU(), drain.standIns.Seconds(), drain.busy*100)
		fmt.Fprintf(&b, "| the DynamoDB stand-in alone on this machine: conditional PutItems a second (16 at once, one client) | %s | (the ideal's pace: %s marks/s) |\n", thousands(drain.capacity), thousands(backgroundQPS*itemsPerCall))
	}
	return b.String()
}

type stats struct{ median, p10, p90, p99, min, max time.Duration }

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return stats{median: at(0.5), p10: at(0.1), p90: at(0.9), p99: at(0.99), min: s[0], max: s[len(s)-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	uname, _ := exec.Command("uname", "-sr").Output()
	return fmt.Sprintf("%s, %d cores (%s), %s, %s", strings.TrimSpace(string(uname)), runtime.NumCPU(), cpu, runtime.Version(), runtime.GOARCH)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func render(bins []*binary, cold map[string][]time.Duration, floorName string, warm map[string][]time.Duration, mem *memoryResult, bulk *bulkResult, goBench string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nMeasured by `make bench` on %s, %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())

	fmt.Fprintf(&b, "## Binary size (linux/arm64, `CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags=\"-s -w\"`)\n\n")
	fmt.Fprintf(&b, "| binary | bytes | MB | goal |\n| --- | ---: | ---: | --- |\n")
	for _, bin := range bins {
		goal := ""
		switch bin.name {
		case "webhook", "scheduled", "pusher": // each links the DynamoDB client, the webhook and the pusher SQS's too
			goal = "≤ 12 MB: " + verdict(float64(bin.arm64)/1e6 <= 12)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f | %s |\n", bin.name, bin.arm64, float64(bin.arm64)/1e6, goal)
	}

	lib := summarize(cold["library floor"]).median
	fmt.Fprintf(&b, "\n## Cold start: process start to its first `GET /2018-06-01/runtime/invocation/next`\n\n")
	fmt.Fprintf(&b, "%d starts each, interleaved; the functions and the library floor read their SecureString(s) from the SSM stand-in through the SDK and, with `STATE_TABLE` set as the template sets it, make the shared-state table's DynamoDB client.\n\n", len(cold["library floor"]))
	fmt.Fprintf(&b, "| binary | median | p10 | p90 | min | max | vs library floor | goal |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, bin := range bins {
		s := summarize(cold[bin.name])
		ratio := float64(s.median) / float64(lib)
		goal := ""
		if !strings.Contains(bin.name, "floor") {
			goal = "≤ 1.1×: " + verdict(ratio <= 1.1)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.2f× | %s |\n", bin.name, ms(s.median), ms(s.p10), ms(s.p90), ms(s.min), ms(s.max), ratio, goal)
	}

	floor := summarize(warm[floorName])
	fmt.Fprintf(&b, "\n## Warm overhead: invocation handed to the function until its response arrives\n\n")
	fmt.Fprintf(&b, "%d invocations each after 50 to warm up; Galxe stand-in answering at once; `GALXE_MAX_QPS` raised so the client's rate limit does not pace the loop; the operation is signed (Standard Webhooks) as deployed; `STATE_TABLE` set as the template sets it, unless the case says otherwise: `GET /health` reads the month's quota from the table, and each Galxe request takes a slot of the account's budget (one conditional write; the account's rate raised so it does not pace the loop), and every fifth adds the month's count.\n\n", len(warm[floorName]))
	fmt.Fprintf(&b, "| case | median | p99 | median over hello | goal |\n| --- | ---: | ---: | ---: | --- |\n")
	names := make([]string, 0, len(warm))
	for n := range warm {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := summarize(warm[n])
		goal := ""
		if n != floorName {
			goal = "< 1 ms over hello: " + verdict(s.median-floor.median < time.Millisecond)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", n, us(s.median), us(s.p99), us(s.median-floor.median), goal)
	}

	if bulk != nil {
		over := float64(bulk.wall)/float64(bulk.ideal) - 1
		limited := float64(bulk.rateLimited) / float64(bulk.requests)
		exact := bulk.received == bulk.items && bulk.held == bulk.items
		fmt.Fprintf(&b, "\n## Bulk push: %d addresses, scheduled `credential-items` job, Galxe stand-in at 10 requests/s and 150 ms a request\n\n", bulk.items)
		fmt.Fprintf(&b, "| measure | value | goal |\n| --- | ---: | --- |\n")
		fmt.Fprintf(&b, "| wall time | %.2f s | within 5%% of ideal: %s |\n", bulk.wall.Seconds(), verdict(over <= 0.05))
		fmt.Fprintf(&b, "| ideal (%d batches at %g/s: the scheduled function is a background caller, and takes the account's 10 less the webhook's 2) | %.2f s | |\n", bulk.batches, backgroundQPS, bulk.ideal.Seconds())
		fmt.Fprintf(&b, "| over ideal | %+.1f%% | |\n", over*100)
		fmt.Fprintf(&b, "| requests / answered 429 | %d / %d (%.2f%%) | < 1%%: %s |\n", bulk.requests, bulk.rateLimited, limited*100, verdict(limited < 0.01))
		fmt.Fprintf(&b, "| items carried / held by Galxe | %d / %d | each exactly once: %s |\n", bulk.received, bulk.held, verdict(exact))
		fmt.Fprintf(&b, "| peak memory of the process (VmHWM) | %.1f MB | < 40 MB: %s |\n", float64(bulk.peakRSS)/1e6, verdict(bulk.peakRSS > 0 && bulk.peakRSS < 40e6))
		fmt.Fprintf(&b, "| DynamoDB requests per item (`STATE_TABLE` set) | %s | |\n", bulk.calls.per(bulk.items))
	}

	if mem != nil {
		mb := func(v int64) string { return fmt.Sprintf("%.1f MB", float64(v)/1e6) }
		fmt.Fprintf(&b, "\n## Webhook memory under hostile headers (peak resident set, VmHWM; 256 MB function)\n\n")
		fmt.Fprintf(&b, "| case | peak | goal |\n| --- | ---: | --- |\n")
		fmt.Fprintf(&b, "| after cold start and one GET /health | %s | |\n", mb(mem.baseline))
		fmt.Fprintf(&b, "| after 100 signed requests with 256-byte ids (%s) | %s | < 64 MB: %s |\n", mem.idStatus, mb(mem.afterIDs), verdict(mem.afterIDs > 0 && mem.afterIDs < 64e6))
		fmt.Fprintf(&b, "| after one event whose webhook-signature is %d bytes (%s) | %s | < 64 MB: %s |\n", mem.signatureBytes, mem.sigStatus, mb(mem.afterSignature), verdict(mem.afterSignature > 0 && mem.afterSignature < 64e6))
	}

	b.WriteString(queueMarker)

	// What the figures above say, derived from this run.
	webhookCold := summarize(cold["webhook"]).median
	helloCold := summarize(cold["hello (floor)"]).median
	fmt.Fprintf(&b, "\nNotes (from this run):\n")
	fmt.Fprintf(&b, "- The webhook's cold start is %s over the library floor (%.2f×), and the library floor %s over hello: the AWS SDK's package initialisation and `config.LoadDefaultConfig`, the SecureString read, and the DynamoDB client.\n",
		ms(webhookCold-lib), float64(webhookCold)/float64(lib), ms(lib-helloCold))
	if bulk != nil {
		fmt.Fprintf(&b, "- The bulk push held %s at its peak for %d addresses (a %.1f MB event): the runtime's copy of the event, the decoded items, and the collector's headroom (`GOGC=50`, as the template sets it for the scheduled function and the pusher, under the memory limit each function sets from its memory size).\n",
			fmt.Sprintf("%.1f MB", float64(bulk.peakRSS)/1e6), bulk.items, float64(bulk.eventBytes)/1e6)
	}
	fmt.Fprintf(&b, "\n## The handler path without a runtime (`go test -bench . -benchmem`)\n\n```\n")
	for _, line := range strings.Split(goBench, "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "cpu:") {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("```\n")
	return b.String()
}
