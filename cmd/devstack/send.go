package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// stateFile is where a running `make up` says where it is; it holds no
// secret (signing is done by the stack), and is removed when the stack stops.
const stateFile = "stack.json"

// state is the running stack's address, as `make up` wrote it.
type state struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

func writeState(work, url string) error {
	b, _ := json.Marshal(state{URL: url, PID: os.Getpid()})
	return os.WriteFile(filepath.Join(work, stateFile), b, 0o644)
}

// runningStack finds the stack `make up` runs and checks that it answers,
// so nothing is ever sent to (or signed for) a stack that is gone.
func runningStack(ctx context.Context, work string) (string, error) {
	b, err := os.ReadFile(filepath.Join(work, stateFile))
	if err != nil {
		return "", errors.New("no running stack: start one with `make up` (in another terminal)")
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil || st.URL == "" {
		return "", fmt.Errorf("%s is unreadable: restart `make up`", filepath.Join(work, stateFile))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.URL+"/devstack/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("the stack at %s does not answer (stopped?): start one with `make up`", st.URL)
	}
	resp.Body.Close()
	return st.URL, nil
}

// sendRequest is what -send was asked to send, or what the API front door
// was sent.
type sendRequest struct {
	Method, Path string
	// Header has lower-case names, a header sent twice joined with commas
	// (as payload 2.0 has them); nil: the content type and user agent -send sends.
	Header map[string]string
	Body   []byte
	V1     bool
}

// parseSend reads `METHOD PATH [-d BODY | -d @file | -d @-] [-v1]`.
func parseSend(args []string, stdin io.Reader) (sendRequest, error) {
	usage := errors.New("usage: devstack -send METHOD PATH [-d BODY | -d @file | -d @-] [-v1]")
	if len(args) < 2 {
		return sendRequest{}, usage
	}
	r := sendRequest{Method: strings.ToUpper(args[0]), Path: args[1]}
	if !strings.HasPrefix(r.Path, "/") {
		return r, fmt.Errorf("the path %q must begin with /", r.Path)
	}
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("d", "", "the body, @file or @- for standard input")
	fs.BoolVar(&r.V1, "v1", false, "a REST API event (payload 1.0) instead of an HTTP API one (2.0)")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() > 0 {
		return r, usage
	}
	var err error
	r.Body, err = readBody(*data, stdin)
	return r, err
}

// readBody reads -d's argument: the body, @file, or @- for standard input.
func readBody(d string, stdin io.Reader) ([]byte, error) {
	switch {
	case d == "@-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading the body from standard input: %w", err)
		}
		return b, nil
	case strings.HasPrefix(d, "@"):
		b, err := os.ReadFile(d[1:])
		if err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		return b, nil
	}
	return []byte(d), nil
}

// buildEvent makes the event API Gateway would send for the request, in
// the shape `sam local generate-event` makes; a body that is not UTF-8
// travels base64-encoded, as API Gateway sends binary bodies.
func buildEvent(r sendRequest, requestID string, now time.Time) ([]byte, error) {
	path, query, _ := strings.Cut(r.Path, "?")
	headers := r.Header
	if headers == nil {
		headers = map[string]string{"content-type": "application/json", "user-agent": "devstack"}
	}
	body, b64 := string(r.Body), false
	if !utf8.Valid(r.Body) {
		body, b64 = base64.StdEncoding.EncodeToString(r.Body), true
	}
	when := now.UTC().Format("02/Jan/2006:15:04:05 -0700")
	if r.V1 {
		multi := map[string][]string{}
		for k, v := range headers {
			multi[k] = []string{v}
		}
		return json.Marshal(map[string]any{
			"resource": path, "path": path, "httpMethod": r.Method,
			"headers": headers, "multiValueHeaders": multi,
			"requestContext": map[string]any{"requestId": requestID, "stage": "prod", "httpMethod": r.Method, "path": "/prod" + path,
				"resourcePath": path, "requestTime": when, "requestTimeEpoch": now.UnixMilli()},
			"body": body, "isBase64Encoded": b64,
		})
	}
	return json.Marshal(map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
		"headers": headers,
		"requestContext": map[string]any{"requestId": requestID, "stage": "$default", "routeKey": "$default",
			"http":      map[string]any{"method": r.Method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": headers["user-agent"]},
			"time":      when,
			"timeEpoch": now.UnixMilli()},
		"body": body, "isBase64Encoded": b64,
	})
}

// post sends body to the stack and returns the answer, or why not.
func post(ctx context.Context, url string, header map[string]string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// signWith asks the running stack to sign an event with its own secret.
func signWith(ctx context.Context, stackURL string, event []byte) ([]byte, error) {
	resp, b, err := post(ctx, stackURL+"/devstack/sign", nil, event)
	if err != nil {
		return nil, fmt.Errorf("asking the stack to sign: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the stack could not sign the event: %s", strings.TrimSpace(string(b)))
	}
	return b, nil
}

// send builds, signs and sends one webhook request to the running stack,
// and prints the status, the decoded body and the invocation's log lines.
func send(ctx context.Context, work string, args []string, stdin io.Reader, w io.Writer) error {
	r, err := parseSend(args, stdin)
	if err != nil {
		return err
	}
	stackURL, err := runningStack(ctx, work)
	if err != nil {
		return err
	}
	event, err := buildEvent(r, "devstack-"+randomHex(8), time.Now())
	if err != nil {
		return err
	}
	if event, err = signWith(ctx, stackURL, event); err != nil {
		return err
	}
	start := time.Now()
	resp, out, err := post(ctx, stackURL+"/2015-03-31/functions/webhook/invocations", map[string]string{"X-Amz-Log-Type": "Tail"}, event)
	if err != nil {
		return fmt.Errorf("invoking the webhook function: %w", err)
	}
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the stack refused the invocation: %d %s", resp.StatusCode, strings.TrimSpace(string(out)))
	}
	logs, _ := base64.StdEncoding.DecodeString(resp.Header.Get("X-Amz-Log-Result"))
	if resp.Header.Get("X-Amz-Function-Error") != "" {
		fmt.Fprintf(w, "%s %s -> the function failed (%v): %s\n", r.Method, r.Path, took.Round(time.Millisecond), out)
		printLogs(w, string(logs))
		return errors.New("the function failed")
	}
	var answer struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || answer.StatusCode == 0 {
		return fmt.Errorf("the function's answer is not an API Gateway response: %s", clip(string(out), 400))
	}
	fmt.Fprintf(w, "%s %s -> %d %s (%v)\n", r.Method, r.Path, answer.StatusCode, http.StatusText(answer.StatusCode), took.Round(time.Millisecond))
	names := make([]string, 0, len(answer.Headers))
	for k := range answer.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "%s: %s\n", k, answer.Headers[k])
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, []byte(answer.Body), "", "  ") == nil {
		fmt.Fprintf(w, "\n%s\n", pretty.String())
	} else {
		fmt.Fprintf(w, "\n%s\n", answer.Body)
	}
	printLogs(w, string(logs))
	return nil
}

func printLogs(w io.Writer, logs string) {
	if logs == "" {
		return
	}
	fmt.Fprintln(w, "\nlogs (the last 4 KB, as Lambda's Invoke API tails them):")
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			fmt.Fprintf(w, "  log | %s\n", line)
		}
	}
}

// signToStdout prints an event file signed by the running stack; on any
// failure it prints nothing on stdout, so a pipe never sends half a request.
func signToStdout(ctx context.Context, work, path string, w io.Writer) error {
	event, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	stackURL, err := runningStack(ctx, work)
	if err != nil {
		return err
	}
	signed, err := signWith(ctx, stackURL, event)
	if err != nil {
		return err
	}
	_, err = w.Write(signed)
	return err
}

// signHeaders prints Standard Webhooks headers for a body (-d's argument)
// as curl arguments, one shell word each. It signs with secret when given
// (a deployed stack's), else has the running stack sign, so its secret
// stays in it. It never prints the secret, nor anything on a failure.
func signHeaders(ctx context.Context, work, data string, stdin io.Reader, secret string, w io.Writer) error {
	body, err := readBody(data, stdin)
	if err != nil {
		return err
	}
	event, err := buildEvent(sendRequest{Method: "POST", Path: "/", Body: body}, "devstack-sign", time.Now())
	if err != nil {
		return err
	}
	if secret = strings.TrimSpace(secret); secret != "" {
		if event, err = SignEvent(event, secret, "msg_"+randomHex(8), time.Now()); err != nil {
			return errors.New("WEBHOOK_SECRET is not a Standard Webhooks secret (whsec_ and base64)")
		}
	} else {
		stackURL, err := runningStack(ctx, work)
		if err != nil {
			return fmt.Errorf("%w, or set WEBHOOK_SECRET to sign for a deployed stack", err)
		}
		if event, err = signWith(ctx, stackURL, event); err != nil {
			return err
		}
	}
	var signed struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(event, &signed); err != nil {
		return err
	}
	h := signed.Headers
	_, err = fmt.Fprintf(w, "-H webhook-id:%s -H webhook-timestamp:%s -H webhook-signature:%s\n",
		h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"])
	return err
}
