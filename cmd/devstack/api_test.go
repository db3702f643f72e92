package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The front door serves the webhook's routes as the deployed HTTP API does;
// callers sign their own requests, with the secret a user reads from SSM.

// apiStack is `make up`'s stack: the API URL, the state file's folder, and
// the webhook secret as a user fetches it (the SDK's SSM client, as the
// CLI's `aws ssm get-parameter --with-decryption` would).
func apiStack(t *testing.T) (s *Stack, api, work, secret string) {
	t.Helper()
	s, work = upStack(t)
	b, err := os.ReadFile(filepath.Join(work, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	status, _ := apiCall(t, http.MethodGet, st.URL+"/devstack/status", nil, nil)
	var addrs Status
	if err := json.Unmarshal(status, &addrs); err != nil || addrs.API == "" {
		t.Fatalf("status %s: no API URL", status)
	}
	s.SSM.Env(t)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(context.Background(),
		&ssm.GetParameterInput{Name: aws.String(SecretParameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if secret = aws.ToString(out.Parameter.Value); !strings.HasPrefix(secret, "whsec_") {
		t.Fatal("the parameter holds no whsec_ secret")
	}
	return s, addrs.API, work, secret
}

// apiCall sends one request and returns the body and the response.
func apiCall(t *testing.T, method, url string, header http.Header, body []byte) ([]byte, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp
}

// signed is the Standard Webhooks headers for body, signed now.
func signed(t *testing.T, secret string, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	id, now := "msg_"+randomHex(8), time.Now()
	sig, err := wh.Sign(id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("Webhook-Signature", sig)
	return h
}

// wrongSecret is a well-formed secret the stack does not hold.
const wrongSecret = "whsec_YSB3cm9uZyBzZWNyZXQsIDI0IGJ5dGVz"

func errorCode(body []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

func TestAPIFrontDoor(t *testing.T) {
	_, api, _, secret := apiStack(t)
	credential := []byte(`{"variables":{"id":"380512468497932288"}}`)

	body, resp := apiCall(t, "GET", api+"/health", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"ok"`) ||
		resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Apigw-Requestid") == "" {
		t.Errorf("GET /health: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	body, resp = apiCall(t, "POST", api+"/operations/credential", signed(t, secret, credential), credential)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"credential"`) {
		t.Errorf("signed read: %d %s", resp.StatusCode, body)
	}
	// The request id the function reports is the one API Gateway sent back.
	body, resp = apiCall(t, "POST", api+"/operations/credential", http.Header{"Content-Type": {"application/json"}}, credential)
	if resp.StatusCode != 401 || errorCode(body) != "UNAUTHENTICATED" || !strings.Contains(string(body), resp.Header.Get("Apigw-Requestid")) {
		t.Errorf("unsigned: %d %s", resp.StatusCode, body)
	}
	body, resp = apiCall(t, "POST", api+"/nope", signed(t, secret, credential), credential)
	if resp.StatusCode != 404 || errorCode(body) != "ROUTE_NOT_FOUND" {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
	// A body that is not UTF-8 travels base64-encoded and is verified as
	// sent: the signature holds, and the function refuses the JSON.
	binary := []byte{'{', 0xff, 0xfe, '}'}
	body, resp = apiCall(t, "POST", api+"/operations/credential", signed(t, secret, binary), binary)
	if resp.StatusCode != 400 || errorCode(body) != "INVALID_REQUEST" {
		t.Errorf("binary body: %d %s", resp.StatusCode, body)
	}
	big := bytes.Repeat([]byte("x"), maxAPIBodyBytes+1)
	body, resp = apiCall(t, "POST", api+"/operations/credential", nil, big)
	if resp.StatusCode != 413 || string(body) != "{\"message\":\"Request Entity Too Large\"}\n" {
		t.Errorf("over 10 MB: %d %s", resp.StatusCode, body)
	}
	// Lambda's and the stack's own paths are not API routes.
	for _, p := range []string{"/2015-03-31/functions/webhook/invocations", "/devstack/nope"} {
		if _, resp := apiCall(t, "GET", api+p, nil, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

// A function that fails is API Gateway's 502, whatever it said.
func TestAPIAnswerOfAFailedFunction(t *testing.T) {
	for _, c := range []struct {
		name string
		inv  *Invocation
		err  error
		want int
		body string
	}{
		{"function error", &Invocation{Status: 200, FuncErr: true, Body: []byte(`{"errorMessage":"boom"}`)}, nil, 502, `{"message":"Internal Server Error"}`},
		{"emulator error", &Invocation{Status: 500, Body: []byte(`oops`)}, nil, 502, `{"message":"Internal Server Error"}`},
		{"no invocation", nil, errors.New("gone"), 502, `{"message":"Internal Server Error"}`},
		{"not a response", &Invocation{Status: 200, Body: []byte(`{"ok":true}`)}, nil, 502, `{"message":"Internal Server Error"}`},
		{"base64 body", &Invocation{Status: 200, Body: []byte(`{"statusCode":201,"headers":{"X-A":"b"},"cookies":["c=d"],"body":"aGk=","isBase64Encoded":true}`)}, nil, 201, "hi"},
	} {
		rec := &recorder{header: http.Header{}}
		writeAPIAnswer(rec, c.inv, c.err)
		if rec.status != c.want || strings.TrimSpace(rec.body.String()) != c.body {
			t.Errorf("%s: %d %q", c.name, rec.status, rec.body.String())
		}
		if c.want == 201 && (rec.header.Get("X-A") != "b" || rec.header.Get("Set-Cookie") != "c=d") {
			t.Errorf("%s: headers %v", c.name, rec.header)
		}
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// -sign-headers, as the README's curl line uses it: signed by the running
// stack, or with WEBHOOK_SECRET as for a deployed stack; a wrong secret is
// refused, and the secret is never printed.
func TestSignHeadersWithCurl(t *testing.T) {
	_, api, work, secret := apiStack(t)
	read, readBody := api+"/operations/credential", `{"variables":{"id":"380512468497932288"}}`
	push, pushBody := api+"/credentials/380512468497932288/items", `{"operation":"APPEND","items":["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"]}`
	for _, c := range []struct {
		name, secret, url, body string
		want                    int
		wantBody                string
	}{
		{"signed by the stack", "", read, readBody, 200, `"credential"`},
		{"WEBHOOK_SECRET", secret, push, pushBody, 202, `"queued":true`},
		{"a wrong secret", wrongSecret, push, pushBody, 401, "UNAUTHENTICATED"},
	} {
		var out bytes.Buffer
		if err := signHeaders(context.Background(), work, c.body, nil, c.secret, &out); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		printed := out.String()
		if strings.Contains(printed, strings.TrimPrefix(secret, "whsec_")) {
			t.Fatalf("%s: -sign-headers printed the secret", c.name)
		}
		words := strings.Fields(printed)
		if len(words) != 6 || words[0] != "-H" || !strings.HasPrefix(words[1], "webhook-id:msg_") ||
			!strings.HasPrefix(words[3], "webhook-timestamp:") || !strings.HasPrefix(words[5], "webhook-signature:v1,") {
			t.Fatalf("%s: printed %q", c.name, printed)
		}
		status, answer := curl(t, c.url, append(words, "-H", "content-type:application/json", "-d", c.body))
		if status != c.want || !strings.Contains(answer, c.wantBody) {
			t.Errorf("%s: %d %s", c.name, status, answer)
		}
	}
	var out bytes.Buffer
	if err := signHeaders(context.Background(), work, "{}", nil, "whsec_%%secret-value%%", &out); err == nil ||
		strings.Contains(err.Error(), "secret-value") || out.Len() != 0 {
		t.Errorf("a malformed secret: %v, printed %q", err, out.String())
	}
	if err := signHeaders(context.Background(), t.TempDir(), "{}", nil, "", &out); err == nil ||
		!strings.Contains(err.Error(), "WEBHOOK_SECRET") || out.Len() != 0 {
		t.Errorf("no stack, no secret: %v, printed %q", err, out.String())
	}
}

// curl runs curl with args against url where it is installed, else sends
// the same request with net/http; it returns the status and the body.
func curl(t *testing.T, url string, args []string) (int, string) {
	t.Helper()
	if path, err := exec.LookPath("curl"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, append([]string{"-sS", "-w", "\n%{http_code}", url}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		body, code, _ := strings.Cut(string(out), "\n")
		status, _ := strconv.Atoi(code)
		return status, body
	}
	h, body := http.Header{}, ""
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-H":
			k, v, _ := strings.Cut(args[i+1], ":")
			h.Set(k, v)
		case "-d":
			body = args[i+1]
		}
	}
	b, resp := apiCall(t, "POST", url, h, []byte(body))
	return resp.StatusCode, string(b)
}

// runExample runs an example with the stack's API URL and the secret, and
// returns the status and body it printed.
func runExample(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	code, body, _ := strings.Cut(string(out), "\n")
	status, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("%s printed %q", name, out)
	}
	return status, body
}

// testExample runs an example as a user would against the stack: its
// default request (a credential read), an APPEND through the push queue,
// and its default with a wrong secret (and an API URL ending in a slash, as
// the deployed ApiUrl does).
func testExample(t *testing.T, name string, script ...string) {
	_, api, _, secret := apiStack(t)
	env := []string{"API_URL=" + api, "WEBHOOK_SECRET=" + secret}
	if status, body := runExample(t, env, name, script...); status != 200 || !strings.Contains(body, `"credential"`) {
		t.Errorf("credential read: %d %s", status, body)
	}
	items := `{"operation":"APPEND","items":["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"]}`
	args := append(script, "/credentials/380512468497932288/items", items)
	status, body := runExample(t, env, name, args...)
	if status != 202 || !strings.Contains(body, `"queued":true`) || strings.Contains(body, strings.TrimPrefix(secret, "whsec_")) {
		t.Errorf("APPEND: %d %s", status, body)
	}
	wrong := []string{"API_URL=" + api + "/", "WEBHOOK_SECRET=" + wrongSecret}
	if status, body := runExample(t, wrong, name, script...); status != 401 || errorCode([]byte(body)) != "UNAUTHENTICATED" {
		t.Errorf("wrong secret: %d %s", status, body)
	}
}

func TestJavaScriptExample(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on the PATH: examples/node/sign-and-send.mjs is not run")
	}
	dir := filepath.Join("..", "..", "examples", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "npm", "ci", "--prefix", dir).CombinedOutput(); err != nil {
			t.Fatalf("examples/node has no node_modules, and `npm ci --prefix examples/node` failed: %v\n%s", err, out)
		}
	}
	testExample(t, node, filepath.Join(dir, "sign-and-send.mjs"))
}

func TestPythonExample(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on the PATH: examples/python/sign_and_send.py is not run")
	}
	testExample(t, python, filepath.Join("..", "..", "examples", "python", "sign_and_send.py"))
}
