package functions_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/coldstart"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
	"github.com/galxe-lambda/galxe-lambda/shared/pusher"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The fault matrix: every failure the Galxe stand-in can produce, crossed
// with both functions as main wires them (coldstart.Init with the token and
// the webhook secret in SSM, through the real SDK), checking the mapped
// outcome, the number of requests Galxe saw, that the answer came before
// the deadline, and that no secret reached any output.

const (
	matrixToken  = "glx_MATRIX_TOKEN_7c1e4b9a2f6d8e0c3a5b"
	matrixSecret = "whsec_TWF0cml4U2VjcmV0S2V5Rm9yVGhlRmF1bHRz"
)

// secretsSeen collects every response, error and output line of the matrix.
var secretsSeen struct {
	sync.Mutex
	bytes.Buffer
}

func record(parts ...any) {
	secretsSeen.Lock()
	defer secretsSeen.Unlock()
	fmt.Fprintln(&secretsSeen.Buffer, parts...)
}

// One SSM stand-in for the package: the SDK reads its endpoint and
// credentials from the process environment, which parallel tests share.
// Each system uses parameter names of its own.
var (
	ssmServer *ssmtest.Server
	systemSeq atomic.Int64
)

func TestMain(m *testing.M) {
	ssmServer = ssmtest.NewServer()
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_SSM": ssmServer.URL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDMATRIX", "AWS_SECRET_ACCESS_KEY": "matrix", "AWS_CONFIG_FILE": "/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": ""} {
		os.Setenv(k, v)
	}
	code := m.Run()
	ssmServer.Close()
	os.Exit(code)
}

type system struct {
	galxe                   *galxetest.Server
	ssm                     *ssmtest.Server
	tokenParam, secretParam string
	webhook                 lambda.Handler
	jobs                    lambda.Handler
	pusher                  lambda.Handler
	out                     *syncBuffer
	deadline                time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSystem wires both functions as their main.go files do, with the
// secrets in the SSM stand-in. prepare may add SSM faults before cold start.
func startSystem(t *testing.T, gopts galxetest.Options, prepare func(s *system), initTimeout time.Duration) *system {
	t.Helper()
	gopts.Tokens = []string{matrixToken}
	if gopts.QPS == 0 {
		gopts.QPS = -1
	}
	n := systemSeq.Add(1)
	s := &system{galxe: galxetest.NewServer(gopts), ssm: ssmServer, out: &syncBuffer{}, deadline: 900 * time.Millisecond,
		tokenParam: fmt.Sprintf("/galxe/%d/token", n), secretParam: fmt.Sprintf("/galxe/%d/webhook", n)}
	t.Cleanup(s.galxe.Close)
	s.ssm.PutSecure(s.tokenParam, matrixToken)
	s.ssm.PutSecure(s.secretParam, matrixSecret)
	if prepare != nil {
		prepare(s)
	}
	vars := map[string]string{
		"GALXE_ACCESS_TOKEN_PARAMETER": s.tokenParam, "WEBHOOK_SECRET_PARAMETER": s.secretParam,
		"GALXE_ENDPOINT": s.galxe.URL, "GALXE_MAX_QPS": "1000",
	}
	getenv := func(k string) string { return vars[k] }
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	wd := coldstart.Init(ctx, getenv, s.out, coldstart.Webhook)
	jd := coldstart.Init(ctx, getenv, s.out, coldstart.Scheduled)
	// The pusher is wired as its main wires it, on the scheduled function's
	// cold start (the same configuration: a token, no webhook secret), so
	// the SSM matrix still counts two cold starts.
	s.pusher = lambda.NewHandler((&pusher.Handler{Galxe: jd.Galxe, GalxeErr: jd.GalxeErr, Log: jd.Log, Metrics: jd.Metrics}).Handle)
	s.webhook = lambda.NewHandler(webhook.New(webhook.Options{Config: wd.Config, Galxe: wd.Galxe, GalxeErr: wd.GalxeErr,
		WebhookSecret: wd.WebhookSecret, Log: wd.Log}))
	s.jobs = lambda.NewHandler(&jobs.Runner{Galxe: jd.Galxe, GalxeErr: jd.GalxeErr, Log: jd.Log})
	t.Cleanup(func() { record(s.out.String()) })
	return s
}

var operationEvent = `{"version":"2.0","rawPath":"/operations/credential","headers":{"content-type":"application/json"},` +
	`"requestContext":{"requestId":"m-1","stage":"$default","http":{"method":"POST"}},"isBase64Encoded":false,"body":%q}`

type webhookAnswer struct {
	status     int
	retryAfter string
	code       string
	category   string
	body       string
}

func (s *system) callWebhook(t *testing.T) (webhookAnswer, time.Duration, bool) {
	t.Helper()
	body := `{"variables":{"id":"` + galxetest.DemoCredentialID + `"}}`
	var ev map[string]any
	_ = json.Unmarshal([]byte(fmt.Sprintf(operationEvent, body)), &ev)
	wh, _ := standardwebhooks.NewWebhook(matrixSecret)
	now := time.Now()
	id := fmt.Sprintf("msg_%d", now.UnixNano())
	sig, _ := wh.Sign(id, now, []byte(body))
	ev["headers"].(map[string]any)["webhook-id"] = id
	ev["headers"].(map[string]any)["webhook-timestamp"] = strconv.FormatInt(now.Unix(), 10)
	ev["headers"].(map[string]any)["webhook-signature"] = sig
	raw, _ := json.Marshal(ev)

	ctx, cancel := context.WithTimeout(context.Background(), s.deadline)
	defer cancel()
	start := time.Now()
	out, err := s.webhook.Invoke(ctx, raw)
	took, inTime := time.Since(start), ctx.Err() == nil
	if err != nil {
		t.Fatalf("the webhook returned an error to Lambda: %v", err)
	}
	record(string(out))
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	var eb struct {
		Error struct{ Code, Category string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &eb)
	return webhookAnswer{resp.StatusCode, resp.Headers["Retry-After"], eb.Error.Code, eb.Error.Category, resp.Body}, took, inTime
}

func (s *system) runCanary(t *testing.T) (time.Duration, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.deadline)
	defer cancel()
	start := time.Now()
	out, err := s.jobs.Invoke(ctx, []byte(`{"job":"canary","credId":"`+galxetest.DemoCredentialID+`"}`))
	record(string(out), err)
	return time.Since(start), ctx.Err() == nil, err
}

// runPusher drains one queued push and returns the messages to deliver again.
func (s *system) runPusher(t *testing.T) ([]events.SQSBatchItemFailure, time.Duration, bool) {
	t.Helper()
	body := `{"credId":"` + galxetest.DemoCredentialID + `","operation":"APPEND","items":["0x00000000000000000000000000000000000000c1"]}`
	ev, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-1", Body: body, EventSource: "aws:sqs",
		Attributes: map[string]string{"SentTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)}}}})
	// The pusher keeps a second of its deadline to settle; give it Lambda's
	// smallest useful timeout on top of the matrix's.
	ctx, cancel := context.WithTimeout(context.Background(), s.deadline+time.Second)
	defer cancel()
	start := time.Now()
	out, err := s.pusher.Invoke(ctx, ev)
	took, inTime := time.Since(start), ctx.Err() == nil
	record(string(out), err)
	if err != nil {
		t.Fatalf("the pusher returned an error: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.BatchItemFailures, took, inTime
}

type galxeFault struct {
	name       string
	fault      galxetest.Fault
	fresh      func() galxetest.Fault // made when queued (a date relative to now)
	once       bool                   // queue it once (then Galxe answers) instead of for good
	status     int                    // the webhook's status
	code       string                 // in the body, and in the job's error
	category   string
	retried    bool   // more than one request
	retryAfter string // the webhook's Retry-After ("" none, "*" any)
}

func galxeFaults() []galxeFault {
	var fs []galxeFault
	mapped := map[string]int{"AUTHENTICATION": 502, "AUTHORIZATION": 403, "VALIDATION": 400, "NOT_FOUND": 404,
		"RATE_LIMIT": 429, "INTERNAL": 502, "UNAVAILABLE": 503}
	for code, doc := range galxetest.Documented {
		retried := doc.Category == "INTERNAL" || doc.Category == "UNAVAILABLE" || code == "QUOTA_EXCEEDED"
		ra := ""
		if mapped[doc.Category] == 429 || mapped[doc.Category] == 503 {
			ra = "*"
		}
		fs = append(fs, galxeFault{name: code, fault: galxetest.ErrorFault(code), status: mapped[doc.Category], code: code,
			category: doc.Category, retried: retried, retryAfter: ra})
	}
	raDate := func() galxetest.Fault {
		f := galxetest.ErrorFault("QUOTA_EXCEEDED")
		f.RetryAfter = time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
		return f
	}
	raSecs := galxetest.ErrorFault("QUOTA_EXCEEDED")
	raSecs.RetryAfter = "30"
	raAbsurd := galxetest.ErrorFault("QUOTA_EXCEEDED")
	raAbsurd.RetryAfter = "99999999999"
	raJunk := galxetest.ErrorFault("QUOTA_EXCEEDED")
	raJunk.RetryAfter = "soon"
	raNegative := galxetest.ErrorFault("UNAVAILABLE")
	raNegative.RetryAfter = "-5"
	raw := func(status int, body string) galxetest.Fault {
		return galxetest.Fault{Status: status, RawSet: true, Raw: []byte(body)}
	}
	return append(fs,
		galxeFault{name: "daily quota", fault: galxetest.QuotaSpent("daily"), status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retryAfter: "3600"},
		galxeFault{name: "monthly quota", fault: galxetest.QuotaSpent("monthly"), status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retryAfter: "3600"},
		galxeFault{name: "no healthy upstream (200, mixed case)", fault: galxetest.NoHealthyUpstream(), status: 503, code: "UNAVAILABLE", category: "UNAVAILABLE", retried: true, retryAfter: "*"},
		galxeFault{name: "HTML 502", fault: galxetest.HTMLPage(502), status: 503, code: "UPSTREAM_ERROR", category: "UNAVAILABLE", retried: true, retryAfter: "*"},
		galxeFault{name: "HTML 503", fault: galxetest.HTMLPage(503), status: 503, code: "UPSTREAM_ERROR", category: "UNAVAILABLE", retried: true, retryAfter: "*"},
		galxeFault{name: "empty 500", fault: galxetest.Empty(500), status: 502, code: "UPSTREAM_ERROR", category: "INTERNAL", retried: true},
		galxeFault{name: "empty 504", fault: galxetest.Empty(504), status: 503, code: "UPSTREAM_ERROR", category: "UNAVAILABLE", retried: true, retryAfter: "*"},
		galxeFault{name: "malformed JSON 200", fault: raw(200, `{"data":{"credential":}`), status: 502, code: "UPSTREAM_ERROR", category: "UPSTREAM"},
		galxeFault{name: "truncated JSON 200", fault: raw(200, `{"data":{"credential":{"id":"1"`), status: 502, code: "UPSTREAM_ERROR", category: "UPSTREAM"},
		galxeFault{name: "JSON array 200", fault: raw(200, `[]`), status: 502, code: "UPSTREAM_ERROR", category: "UPSTREAM"},
		galxeFault{name: "body over the cap", fault: galxetest.Fault{Oversize: 11 << 20}, status: 502, code: "UPSTREAM_ERROR", category: "UPSTREAM"},
		galxeFault{name: "Retry-After seconds past the budget", fault: raSecs, status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retryAfter: "30"},
		galxeFault{name: "Retry-After absurd", fault: raAbsurd, status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retryAfter: "86400"},
		galxeFault{name: "Retry-After HTTP date past the budget", fault: raDate(), fresh: raDate, status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retryAfter: "*"},
		galxeFault{name: "Retry-After junk", fault: raJunk, status: 429, code: "QUOTA_EXCEEDED", category: "RATE_LIMIT", retried: true, retryAfter: "1"},
		galxeFault{name: "Retry-After negative", fault: raNegative, status: 503, code: "UNAVAILABLE", category: "UNAVAILABLE", retried: true, retryAfter: "1"},
		galxeFault{name: "hang", fault: galxetest.Fault{Hang: true}, status: 504, code: "UPSTREAM_TIMEOUT", category: "UPSTREAM"},
		galxeFault{name: "connection reset", fault: galxetest.Fault{Reset: true}, status: 502, code: "UPSTREAM_ERROR", category: "UPSTREAM", retried: true},
		galxeFault{name: "one 429 then success", fault: galxetest.ErrorFault("QUOTA_EXCEEDED"), once: true, status: 200, retried: true},
		galxeFault{name: "one reset then success", fault: galxetest.Fault{Reset: true}, once: true, status: 200, retried: true},
		galxeFault{name: "slow but in time", fault: galxetest.Fault{Delay: 200 * time.Millisecond, Raw: []byte(`{"data":{"credential":null}}`)}, once: true, status: 200},
	)
}

func TestGalxeFaultMatrix(t *testing.T) {
	for _, under200 := range []bool{false, true} {
		for _, f := range galxeFaults() {
			if under200 && f.fault.Code == "" {
				continue // only Galxe's own envelopes change with ErrorsUnder200
			}
			t.Run(fmt.Sprintf("%s/under200=%v", f.name, under200), func(t *testing.T) {
				t.Parallel()
				s := startSystem(t, galxetest.Options{ErrorsUnder200: under200}, nil, 3*time.Second)
				queue := func() {
					n := 500
					if f.once {
						n = 1
					}
					for range n {
						if f.fresh != nil {
							s.galxe.Fail(f.fresh())
						} else {
							s.galxe.Fail(f.fault)
						}
					}
				}

				queue()
				a, took, inTime := s.callWebhook(t)
				if !inTime {
					t.Fatalf("webhook answered after the deadline (%v)", took)
				}
				if a.status != f.status || a.code != f.code || (f.category != "" && a.category != f.category) {
					t.Fatalf("webhook: %d %s", a.status, a.body)
				}
				switch {
				case f.retryAfter == "*" && a.retryAfter == "":
					t.Errorf("webhook: no Retry-After")
				case f.retryAfter != "*" && a.retryAfter != f.retryAfter:
					t.Errorf("webhook: Retry-After %q, want %q", a.retryAfter, f.retryAfter)
				}
				checkAttempts(t, "webhook", s.galxe.Requests(), f.retried)

				// The scheduled function: the same fault fails the canary (or
				// not, for the passing cases) within its deadline.
				before := s.galxe.Requests()
				queue()
				took, inTime, err := s.runCanary(t)
				if !inTime {
					t.Fatalf("job answered after the deadline (%v)", took)
				}
				switch {
				case f.status == 200 && err != nil:
					t.Fatalf("job: %v", err)
				case f.status != 200 && (err == nil || !strings.Contains(err.Error(), f.code)):
					t.Fatalf("job: %v, want %s", err, f.code)
				}
				if jobRequests := s.galxe.Requests() - before; f.status == 200 {
					if jobRequests < 2 { // health, then the credential
						t.Errorf("job: %d requests", jobRequests)
					}
				} else {
					checkAttempts(t, "job", jobRequests, f.retried)
				}

				// The pusher: the same fault keeps the message for another
				// delivery (no dead-letter queue here), within its deadline.
				queue()
				failed, took, inTime := s.runPusher(t)
				if !inTime {
					t.Fatalf("pusher answered after the deadline (%v)", took)
				}
				if (f.status == 200) != (len(failed) == 0) {
					t.Fatalf("pusher: failures %v for a fault the webhook answers %d", failed, f.status)
				}
			})
		}
	}
}

func checkAttempts(t *testing.T, who string, n int, retried bool) {
	t.Helper()
	if retried && n < 2 {
		t.Errorf("%s: %d request, want retries", who, n)
	}
	if !retried && n != 1 {
		t.Errorf("%s: %d requests, want exactly 1", who, n)
	}
}

func TestSSMFaultMatrixAtColdStart(t *testing.T) {
	throttle := ssmtest.Fault{Code: "ThrottlingException"}
	cases := []struct {
		name     string
		faults   []ssmtest.Fault
		rounds   int // how many reads' worth of faults (cold starts: webhook, then job; then invocations)
		missing  bool
		first    int    // the first invocation's status
		code     string // its code
		then     int    // the next invocation's status
		initWait time.Duration
	}{
		// Init's read and the first invocation's read each try three times.
		{name: "throttling survived", faults: []ssmtest.Fault{throttle, throttle, throttle}, rounds: 3, first: 503, code: "TOKEN_UNAVAILABLE", then: 200},
		{name: "throttling once", faults: []ssmtest.Fault{throttle}, first: 200, then: 200},
		{name: "server error", faults: []ssmtest.Fault{{Code: "InternalServerError"}, {Code: "InternalServerError"}, {Code: "InternalServerError"}}, first: 200, then: 200},
		{name: "timeout", faults: []ssmtest.Fault{{Delay: 1500 * time.Millisecond}}, first: 503, code: "TOKEN_UNAVAILABLE", then: 200, initWait: 200 * time.Millisecond},
		{name: "not found", missing: true, first: 500, code: "CONFIGURATION_ERROR", then: 500},
		{name: "access denied", faults: []ssmtest.Fault{{Code: "AccessDeniedException"}}, rounds: 2, first: 500, code: "CONFIGURATION_ERROR", then: 500},
		{name: "KMS decryption failure", faults: []ssmtest.Fault{{Code: "InvalidKeyId"}}, rounds: 2, first: 500, code: "CONFIGURATION_ERROR", then: 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wait := c.initWait
			if wait == 0 {
				wait = 3 * time.Second
			}
			s := startSystem(t, galxetest.Options{}, func(s *system) {
				if c.missing {
					for range 10 { // every read says not found
						s.ssm.Fail(s.tokenParam, ssmtest.Fault{Code: "ParameterNotFound"})
					}
				}
				for range max(c.rounds, 1) {
					s.ssm.Fail(s.tokenParam, c.faults...)
				}
			}, wait)
			s.deadline = 800 * time.Millisecond
			a, _, inTime := s.callWebhook(t)
			if !inTime || a.status != c.first || (c.code != "" && a.code != c.code) {
				t.Fatalf("first: %d %s (in time %v)", a.status, a.body, inTime)
			}
			if c.code == "TOKEN_UNAVAILABLE" && a.retryAfter == "" {
				t.Error("TOKEN_UNAVAILABLE without Retry-After")
			}
			if c.code == "CONFIGURATION_ERROR" && !strings.Contains(a.body, s.tokenParam) {
				t.Errorf("the error should name the parameter: %s", a.body)
			}
			if c.first == 503 {
				// The read the first invocation stopped waiting for goes on,
				// detached, for its own timeout; let it finish.
				time.Sleep(1500 * time.Millisecond)
			}
			a, _, _ = s.callWebhook(t)
			if a.status != c.then {
				t.Fatalf("then: %d %s", a.status, a.body)
			}
			_, inTime, err := s.runCanary(t)
			if !inTime || (c.then == 200) != (err == nil) {
				t.Fatalf("job: %v (in time %v)", err, inTime)
			}
		})
	}
}

func TestSSMValueChangesWhileRunning(t *testing.T) {
	s := startSystem(t, galxetest.Options{}, nil, 3*time.Second)
	if a, _, _ := s.callWebhook(t); a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	s.ssm.PutSecure(s.tokenParam, "glx_MATRIX_ROTATED_0a1b2c3d4e5f")
	s.galxe.SetTokens("glx_MATRIX_ROTATED_0a1b2c3d4e5f")
	if a, _, _ := s.callWebhook(t); a.status != 200 {
		t.Fatalf("after rotation: %d %s", a.status, a.body)
	}
	if _, _, err := s.runCanary(t); err != nil {
		t.Fatalf("job after rotation: %v", err)
	}
	// Cold starts 2 (webhook, job) + one re-read each.
	if n := s.ssm.Reads(s.tokenParam); n != 4 {
		t.Fatalf("token reads %d, want 4", n)
	}
}

// Runs last in this file's order; the matrix's parallel subtests have all
// finished by then because Go runs a test's parallel subtests before the
// test returns.
func TestZZNoSecretInAnyOutput(t *testing.T) {
	secretsSeen.Lock()
	all := secretsSeen.String()
	secretsSeen.Unlock()
	if len(all) < 10000 {
		t.Skipf("run with the matrix: only %d bytes recorded", len(all))
	}
	key := strings.TrimPrefix(matrixSecret, "whsec_")
	raw, _ := base64.StdEncoding.DecodeString(key)
	for _, s := range []string{matrixToken, "glx_MATRIX_ROTATED_0a1b2c3d4e5f", key, string(raw)} {
		if strings.Contains(all, s) {
			t.Fatalf("a secret reached an output")
		}
	}
	for _, want := range []string{`"cold_start":true`, `"GalxeErrors":1`, `"attempts":`} {
		if !strings.Contains(all, want) {
			t.Errorf("outputs lack %s", want)
		}
	}
}
