package galxe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
)

const token = "glx_live_5c0ffee5c0ffee5c0ffee5c0ffee5c0ffee"

type fixture struct {
	srv      *galxetest.Server
	client   *galxe.Client
	attempts []galxe.Attempt
	mu       sync.Mutex
}

func newFixture(t *testing.T, opts galxetest.Options, cfg galxe.Config) *fixture {
	t.Helper()
	if opts.Tokens == nil {
		opts.Tokens = []string{token}
	}
	if opts.QPS == 0 {
		opts.QPS = -1
	}
	f := &fixture{srv: galxetest.NewServer(opts)}
	t.Cleanup(f.srv.Close)
	cfg.Endpoint = f.srv.URL
	if cfg.Token == nil {
		cfg.Token = secret.Static("Galxe access token", token)
	}
	if cfg.MaxQPS == 0 {
		cfg.MaxQPS = 1000
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 5 * time.Millisecond
	}
	also := cfg.OnAttempt
	cfg.OnAttempt = func(ctx context.Context, a galxe.Attempt) {
		f.mu.Lock()
		f.attempts = append(f.attempts, a)
		f.mu.Unlock()
		if also != nil {
			also(ctx, a)
		}
	}
	c, err := galxe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

func asError(t *testing.T, err error) *galxe.Error {
	t.Helper()
	var ge *galxe.Error
	if !errors.As(err, &ge) {
		t.Fatalf("want *galxe.Error, got %T %v", err, err)
	}
	return ge
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func TestDocumentedErrorsAreClassified(t *testing.T) {
	for code, doc := range galxetest.Documented {
		for _, under200 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/under200=%v", code, under200), func(t *testing.T) {
				f := newFixture(t, galxetest.Options{ErrorsUnder200: under200}, galxe.Config{})
				fault := galxetest.ErrorFault(code)
				if code == "QUOTA_EXCEEDED" {
					fault = galxetest.QuotaSpent("daily") // the per-second kind is retried: see below
				}
				f.srv.Fail(fault)
				ctx, cancel := withTimeout(2 * time.Second)
				defer cancel()
				_, err := f.client.Do(ctx, "health", nil)
				ge := f.attempts[0].Err // retryable errors are retried: judge the first answer
				if ge == nil {
					t.Fatalf("first attempt succeeded (%v)", err)
				}
				if ge.Code != code || string(ge.Category) != doc.Category {
					t.Fatalf("got %s/%s, want %s/%s", ge.Code, ge.Category, code, doc.Category)
				}
				if ge.RequestID == "" || !strings.HasPrefix(ge.RequestID, "req_") {
					t.Errorf("request_id not kept: %q", ge.RequestID)
				}
				wantStatus := doc.Status
				if under200 {
					wantStatus = 200
				}
				if ge.HTTPStatus != wantStatus {
					t.Errorf("HTTP status %d, want %d", ge.HTTPStatus, wantStatus)
				}
				retryable := doc.Category == "INTERNAL" || doc.Category == "UNAVAILABLE"
				if ge.Retryable() != retryable {
					t.Errorf("Retryable() = %v, want %v", ge.Retryable(), retryable)
				}
				if retryable {
					if err != nil || len(f.attempts) != 2 {
						t.Errorf("want success on the second attempt, got %v after %d", err, len(f.attempts))
					}
				} else if asError(t, err).Attempts != 1 || f.srv.Requests() != 1 {
					t.Errorf("a non-retryable error was retried: %d requests", f.srv.Requests())
				}
			})
		}
	}
}

func TestRetriedErrorsThenSuccess(t *testing.T) {
	faults := map[string]galxetest.Fault{
		"per-second 429":          galxetest.ErrorFault("QUOTA_EXCEEDED"),
		"INTERNAL_ERROR":          galxetest.ErrorFault("INTERNAL_ERROR"),
		"UNAVAILABLE":             galxetest.ErrorFault("UNAVAILABLE"),
		"no healthy upstream 200": galxetest.NoHealthyUpstream(),
		"HTML 502":                galxetest.HTMLPage(502),
		"HTML 503":                galxetest.HTMLPage(503),
		"empty 504":               galxetest.Empty(504),
		"empty 500":               galxetest.Empty(500),
		"connection reset":        {Reset: true},
		"slow past attempt limit": {Delay: 2 * time.Second},
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, galxetest.Options{}, galxe.Config{AttemptTimeout: 200 * time.Millisecond})
			f.srv.Fail(fault)
			ctx, cancel := withTimeout(3 * time.Second)
			defer cancel()
			res, err := f.client.Do(ctx, "health", nil)
			if err != nil {
				t.Fatalf("want success after one retry, got %v", err)
			}
			if res.Attempts != 2 || string(res.Data) != `{"__typename":"Query"}` {
				t.Fatalf("attempts %d, data %s", res.Attempts, res.Data)
			}
			if f.attempts[0].Err == nil || !f.attempts[0].Err.Retryable() {
				t.Fatalf("first attempt should have failed retryably: %+v", f.attempts[0])
			}
		})
	}
}

func TestUnreadableAnswers(t *testing.T) {
	cases := []struct {
		name     string
		fault    galxetest.Fault
		code     string
		category galxe.Category
	}{
		{"HTML 502 category", galxetest.HTMLPage(502), galxe.CodeUpstreamError, galxe.CategoryUnavailable},
		{"truncated JSON under 200", galxetest.Fault{RawSet: true, Raw: []byte(`{"data":{"credential":{"id":"1"`)}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"plain text under 200", galxetest.Fault{RawSet: true, Raw: []byte("OK")}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"JSON null", galxetest.Fault{RawSet: true, Raw: []byte("null")}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"no data no errors", galxetest.Fault{RawSet: true, Raw: []byte(`{}`)}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"body over the cap", galxetest.Fault{Oversize: galxe.MaxResponseBytes + 1}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"body over the cap, length not declared", galxetest.Fault{Oversize: galxe.MaxResponseBytes + 1, Chunked: true}, galxe.CodeUpstreamError, galxe.CategoryUpstream},
		{"mixed-case code", galxetest.NoHealthyUpstream(), "UNAVAILABLE", galxe.CategoryUnavailable},
		{"category only", galxetest.Fault{Status: 403, Category: "authorization", Message: "no"}, galxe.CodeUpstreamError, galxe.CategoryAuthorization},
		{"http_status only", galxetest.Fault{Status: 200, ExtStatus: 404, Message: "gone"}, galxe.CodeUpstreamError, galxe.CategoryNotFound},
		{"HTTP status only", galxetest.Fault{Status: 422, Message: "semantic"}, galxe.CodeUpstreamError, galxe.CategoryValidation},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The first answer's classification is what is asserted, under a
			// deadline no machine misses (an oversized answer streams 10 MiB,
			// which takes over a second under -race on a busy machine); the
			// call then stops, so retried kinds do not run out the clock.
			ctx, cancel := withTimeout(time.Minute)
			defer cancel()
			var first *galxe.Error
			f := newFixture(t, galxetest.Options{}, galxe.Config{OnAttempt: func(_ context.Context, a galxe.Attempt) {
				if a.Number == 1 {
					first = a.Err
				}
				cancel()
			}})
			for range 3 {
				f.srv.Fail(c.fault)
			}
			if _, err := f.client.Do(ctx, "health", nil); err == nil {
				t.Fatal("no error")
			}
			if first == nil {
				t.Fatal("the first attempt succeeded")
			}
			if first.Code != c.code || first.Category != c.category {
				t.Fatalf("got %s/%s, want %s/%s (%v)", first.Code, first.Category, c.code, c.category, first)
			}
		})
	}
}

func TestRetryAfterIsAFloor(t *testing.T) {
	for name, header := range map[string]func() string{
		"seconds":   func() string { return "1" },
		"HTTP date": func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, galxetest.Options{}, galxe.Config{})
			fault := galxetest.ErrorFault("QUOTA_EXCEEDED")
			fault.RetryAfter = header()
			f.srv.Fail(fault)
			ctx, cancel := withTimeout(5 * time.Second)
			defer cancel()
			start := time.Now()
			if _, err := f.client.Do(ctx, "health", nil); err != nil {
				t.Fatal(err)
			}
			// HTTP dates have one-second resolution: the floor is at least 1 s
			// in both forms, while the backoff alone would wait under 5 ms.
			if waited := time.Since(start); waited < 900*time.Millisecond {
				t.Fatalf("retried after %v, before Retry-After", waited)
			}
		})
	}
}

func TestRateLimitThatCannotFitTheBudgetReturnsAtOnce(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{Reserve: 100 * time.Millisecond})
	fault := galxetest.ErrorFault("QUOTA_EXCEEDED")
	fault.RetryAfter = "30"
	f.srv.Fail(fault)
	ctx, cancel := withTimeout(2 * time.Second)
	defer cancel()
	start := time.Now()
	_, err := f.client.Do(ctx, "health", nil)
	ge := asError(t, err)
	if ge.Code != "QUOTA_EXCEEDED" || ge.RetryAfter != 30*time.Second || ge.Attempts != 1 {
		t.Fatalf("got %v (retry after %v, %d attempts)", ge, ge.RetryAfter, ge.Attempts)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v: should answer at once when the wait cannot fit", d)
	}
}

func TestRateLimitStormAnsweredBeforeDeadline(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{Reserve: 200 * time.Millisecond})
	for range 1000 {
		f.srv.Fail(galxetest.ErrorFault("QUOTA_EXCEEDED"))
	}
	ctx, cancel := withTimeout(time.Second)
	defer cancel()
	_, err := f.client.Do(ctx, "health", nil)
	ge := asError(t, err)
	if ge.Code != "QUOTA_EXCEEDED" || ge.Attempts < 2 {
		t.Fatalf("want the last 429 after several attempts, got %v after %d", ge, ge.Attempts)
	}
	if ctx.Err() != nil {
		t.Fatal("answered after the deadline")
	}
}

func TestSpentQuotaIsNotRetried(t *testing.T) {
	for _, period := range []string{"daily", "monthly"} {
		f := newFixture(t, galxetest.Options{}, galxe.Config{})
		f.srv.Fail(galxetest.QuotaSpent(period), galxetest.QuotaSpent(period))
		_, err := f.client.Do(context.Background(), "health", nil)
		ge := asError(t, err)
		if !ge.QuotaSpent || ge.Retryable() || ge.Attempts != 1 || ge.RetryAfter != time.Hour {
			t.Fatalf("%s: %v spent=%v attempts=%d retryAfter=%v", period, ge, ge.QuotaSpent, ge.Attempts, ge.RetryAfter)
		}
	}
}

func TestHungUpstreamAnsweredAsTimeoutBeforeDeadline(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{Reserve: 100 * time.Millisecond})
	for range 10 {
		f.srv.Fail(galxetest.Fault{Hang: true})
	}
	ctx, cancel := withTimeout(800 * time.Millisecond)
	defer cancel()
	_, err := f.client.Do(ctx, "health", nil)
	ge := asError(t, err)
	if ge.Code != galxe.CodeUpstreamTimeout {
		t.Fatalf("got %v", ge)
	}
	if ctx.Err() != nil {
		t.Fatal("answered after the deadline")
	}
	if errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("bare context error text: %v", err)
	}
}

func TestClientRateLimitSpacesRequests(t *testing.T) {
	f := newFixture(t, galxetest.Options{QPS: 10}, galxe.Config{MaxQPS: 10})
	var wg sync.WaitGroup
	start := time.Now()
	for range 12 {
		wg.Go(func() {
			if _, err := f.client.Do(context.Background(), "health", nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.srv.RateLimited() != 0 {
		t.Fatalf("%d requests refused by a 10 QPS server", f.srv.RateLimited())
	}
	// 12 requests at 10 a second, burst 1: the last leaves after 1.1 s.
	if d := time.Since(start); d < time.Second {
		t.Fatalf("12 requests took %v: the limiter let them through faster than 10/s", d)
	}
}

func TestUnknownOperationAndBadEndpoint(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{})
	if _, err := f.client.Do(context.Background(), "mutation { evil }", nil); !errors.Is(err, galxe.ErrUnknownOperation) {
		t.Fatalf("got %v", err)
	}
	if f.srv.Requests() != 0 {
		t.Fatal("an unknown operation reached Galxe")
	}
	for _, ep := range []string{"http://galxe.example/query", "ftp://x", "not a url"} {
		if err := galxe.CheckEndpoint(ep); err == nil {
			t.Errorf("%q accepted", ep)
		}
	}
	for _, ep := range []string{"https://graphigo-business.prd.galaxy.eco/query", "http://127.0.0.1:9/q", "http://[::1]:9/q", "http://localhost:1/q"} {
		if err := galxe.CheckEndpoint(ep); err != nil {
			t.Errorf("%q refused: %v", ep, err)
		}
	}
}

func TestRotatedTokenPickedUpWithOneSSMRead(t *testing.T) {
	ssmSrv := ssmtest.NewServer()
	defer ssmSrv.Close()
	ssmSrv.Env(t)
	ssmSrv.PutSecure("/galxe/token", "old-token")
	ssmClient, err := secret.NewSSMClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src := secret.FromSSM("Galxe access token", ssmClient, "/galxe/token")
	f := newFixture(t, galxetest.Options{Tokens: []string{"old-token"}}, galxe.Config{Token: src})
	if _, err := f.client.Do(context.Background(), "health", nil); err != nil {
		t.Fatal(err)
	}
	// Rotate: Galxe now accepts only the new token, SSM holds it.
	ssmSrv.PutSecure("/galxe/token", "new-token")
	f.srv.SetTokens("new-token")

	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if _, err := f.client.Do(context.Background(), "health", nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := ssmSrv.Reads("/galxe/token"); n != 2 {
		t.Fatalf("SSM reads = %d, want 2 (cold start + one shared re-read)", n)
	}

	// A revoked token: one re-read, the same value, no loop, the auth error.
	f.srv.SetTokens("another")
	_, err = f.client.Do(context.Background(), "health", nil)
	if ge := asError(t, err); ge.Code != "INVALID_TOKEN" || ge.Attempts != 1 {
		t.Fatalf("got %v after %d attempts", ge, ge.Attempts)
	}
	if n := ssmSrv.Reads("/galxe/token"); n != 3 {
		t.Fatalf("SSM reads = %d, want 3", n)
	}
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	f := newFixture(t, galxetest.Options{}, galxe.Config{AttemptTimeout: 100 * time.Millisecond, Reserve: 50 * time.Millisecond})
	echo := galxetest.Fault{Status: 401, Code: "INVALID_TOKEN", Category: "AUTHENTICATION",
		Message: "Invalid access token: " + token, Details: []string{"token: " + token}}
	faults := []galxetest.Fault{echo, galxetest.HTMLPage(502), {Reset: true}, {Hang: true}, galxetest.QuotaSpent("daily")}
	for _, fault := range faults {
		f.srv.Fail(fault, fault, fault)
		ctx, cancel := withTimeout(400 * time.Millisecond)
		_, err := f.client.Do(ctx, "health", nil)
		cancel()
		if err == nil {
			t.Fatalf("fault %+v: no error", fault)
		}
		ge := asError(t, err)
		log.Error("call failed", "err", err, "error", ge, "details", ge.Details, "message", ge.Message)
		fmt.Fprintf(&logs, "%v %+v %#v\n", err, ge, ge)
	}
	for _, a := range f.attempts {
		log.Info("attempt", "attempt", a)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("token leaked:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), secret.Redacted) {
		t.Fatalf("the echoed token should show as %s", secret.Redacted)
	}
}

// A short token must not corrupt answers: only error messages are scrubbed.
func TestShortTokenDoesNotCorruptAnswers(t *testing.T) {
	f := newFixture(t, galxetest.Options{Tokens: []string{"a"}}, galxe.Config{Token: secret.Static("t", "a")})
	res, err := f.client.Do(context.Background(), "health", nil)
	if err != nil || string(res.Data) != `{"__typename":"Query"}` {
		t.Fatalf("%s %v", res.Data, err)
	}
}

// A revoked token: sequential invocations do not each re-read SSM; the
// process re-reads at most once every 10 s however many requests fail.
func TestRevokedTokenRereadsBounded(t *testing.T) {
	ssmSrv := ssmtest.NewServer()
	defer ssmSrv.Close()
	ssmSrv.Env(t)
	ssmSrv.PutSecure("/galxe/token", "revoked-token")
	ssmClient, err := secret.NewSSMClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src := secret.FromSSM("Galxe access token", ssmClient, "/galxe/token").RefreshAtMostEvery(10 * time.Second)
	f := newFixture(t, galxetest.Options{Tokens: []string{"valid-elsewhere"}}, galxe.Config{Token: src})
	for range 10 {
		_, err := f.client.Do(context.Background(), "health", nil)
		if ge := asError(t, err); ge.Code != "INVALID_TOKEN" {
			t.Fatalf("got %v", ge)
		}
	}
	if n := ssmSrv.Reads("/galxe/token"); n != 2 {
		t.Fatalf("SSM reads = %d after 10 refused invocations, want 2 (the first read, one re-read)", n)
	}
}

// One field of an unexpected type leaves the rest readable: an outage
// under HTTP 200 with a numeric code is still UNAVAILABLE, and retried.
func TestEnvelopeFieldsReadOneByOne(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{})
	f.srv.Fail(galxetest.Fault{Status: 200, RawSet: true,
		Raw: []byte(`{"errors":[{"message":"no healthy upstream","extensions":{"code":503,"category":"UNAVAILABLE","request_id":42}}],"data":null}`)})
	res, err := f.client.Do(context.Background(), "health", nil)
	if err != nil || res.Attempts != 2 {
		t.Fatalf("got %v after %v", err, res)
	}
	f.srv.Fail(galxetest.Fault{Status: 200, RawSet: true,
		Raw: []byte(`{"errors":[{"message":["odd"],"extensions":{"code":"PERMISSION_DENIED","details":"x","http_status":"403"}}]}`)})
	_, err = f.client.Do(context.Background(), "health", nil)
	if ge := asError(t, err); ge.Code != "PERMISSION_DENIED" || ge.Category != galxe.CategoryAuthorization || ge.Retryable() {
		t.Fatalf("got %+v", ge)
	}
}

// A name that does not exist is not retried; a temporary DNS failure is.
func TestDNSNotFoundNotRetried(t *testing.T) {
	dial := func(notFound bool) *http.Client {
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "no such host", Name: "graphigo.invalid", IsNotFound: notFound, IsTemporary: !notFound}
		}}}
	}
	c, err := galxe.New(galxe.Config{Endpoint: "https://graphigo.invalid/query", Token: secret.Static("t", token),
		HTTPClient: dial(true), BaseBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Do(ctx, "health", nil)
	if ge := asError(t, err); ge.Retryable() || ge.Attempts != 1 || !strings.Contains(ge.Message, "does not exist") {
		t.Fatalf("got %+v after %d attempts", ge, ge.Attempts)
	}
	c, _ = galxe.New(galxe.Config{Endpoint: "https://graphigo.invalid/query", Token: secret.Static("t", token),
		HTTPClient: dial(false), BaseBackoff: time.Millisecond, Reserve: time.Millisecond})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = c.Do(ctx2, "health", nil)
	if ge := asError(t, err); ge.Attempts < 2 {
		t.Fatalf("a temporary DNS failure was tried %d times", ge.Attempts)
	}
}

// A token no HTTP header can carry is a configuration error before any
// request: not retried as a network error.
func TestUnsendableTokenIsAConfigurationError(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{Token: secret.Static("Galxe access token", "glx_a\x00b")})
	_, err := f.client.Do(context.Background(), "health", nil)
	var serr *secret.Error
	if !errors.As(err, &serr) || !serr.Permanent || f.srv.Requests() != 0 || strings.Contains(err.Error(), "glx_a") {
		t.Fatalf("got %v after %d requests", err, f.srv.Requests())
	}
}

// Galxe's message and each of its details may quote the caller's input:
// they are cut to galxe.MaxEcho bytes, after the error is classified on
// the whole text (a spent quota said past the cut is still a spent quota).
func TestGalxeTextCut(t *testing.T) {
	f := newFixture(t, galxetest.Options{}, galxe.Config{})
	huge := strings.Repeat("Z", 100_000)
	f.srv.Fail(galxetest.Fault{Code: "QUOTA_EXCEEDED", Status: 429, Message: huge + " monthly limit reached",
		Details: []string{"limit: 1000", huge, strings.Repeat("é", 200)}})
	_, err := f.client.Do(context.Background(), "health", nil)
	ge := asError(t, err)
	if !ge.QuotaSpent || len(ge.Message) > galxe.MaxEcho || !strings.HasPrefix(ge.Message, "ZZZ") || len(ge.Error()) > 2*galxe.MaxEcho {
		t.Fatalf("quota spent %v, a message of %d bytes, Error() of %d", ge.QuotaSpent, len(ge.Message), len(ge.Error()))
	}
	var details []string
	if err := json.Unmarshal(ge.Details, &details); err != nil || len(details) != 3 || details[0] != "limit: 1000" {
		t.Fatalf("details %v %.200s", err, ge.Details)
	}
	for _, d := range details {
		if len(d) > galxe.MaxEcho || !utf8.ValidString(d) {
			t.Fatalf("a detail of %d bytes: %.80q", len(d), d)
		}
	}
}

func TestClip(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("a", galxe.MaxEcho), strings.Repeat("a", galxe.MaxEcho+1),
		strings.Repeat("é", 200), strings.Repeat("😀", 100)} {
		got := galxe.Clip(s)
		switch {
		case len(s) <= galxe.MaxEcho && got != s:
			t.Errorf("%d bytes cut: %q", len(s), got)
		case len(got) > galxe.MaxEcho || !utf8.ValidString(got):
			t.Errorf("%d bytes clipped to %d: %q", len(s), len(got), got)
		case len(s) > galxe.MaxEcho && !strings.HasSuffix(got, fmt.Sprintf("(%d bytes)", len(s))):
			t.Errorf("the clip does not say the length: %q", got)
		}
	}
}
