package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The stack's front door on loopback. It speaks the part of Lambda's Invoke
// API that a client needs (so `aws lambda invoke --endpoint-url` and curl
// both work), routes each invocation to a free instance of the function,
// signs events with the stack's own webhook secret for `-send`, so the
// secret never leaves the running stack, and serves every other path as
// the deployed HTTP API does (its ApiUrl): the webhook's routes, signed by
// the caller.
//
//	POST /2015-03-31/functions/{name}/invocations   Lambda's Invoke (RequestResponse; X-Amz-Log-Type: Tail)
//	POST /devstack/sign                              an API Gateway event back, signed now
//	GET  /devstack/status                            the stack's addresses
//	any other path                                   API Gateway HTTP API: a payload 2.0 event for the webhook function

// maxEventBytes is Lambda's limit on a synchronous invocation's payload.
const maxEventBytes = 6 << 20

// maxAPIBodyBytes is API Gateway's limit on a request's payload.
const maxAPIBodyBytes = 10 << 20

// tailBytes is how much of an invocation's log Lambda returns with Tail.
const tailBytes = 4 << 10

// Serve starts the front door on a free loopback port and returns its URL.
func (s *Stack) Serve() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.serveInvoke)
	mux.HandleFunc("POST /devstack/sign", s.serveSign)
	mux.HandleFunc("GET /devstack/status", s.serveStatus)
	mux.HandleFunc("/", s.serveAPI)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.front = srv
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// lambdaError answers as Lambda's API does: the error type in a header and
// in the body.
func lambdaError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

func (s *Stack) serveInvoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f := s.Functions[name]
	if f == nil {
		lambdaError(w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("Function not found: %s (this stack has %s)", name, strings.Join(Functions, ", ")))
		return
	}
	if t := r.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
		lambdaError(w, http.StatusBadRequest, "InvalidParameterValueException", "the local stack runs RequestResponse invocations only")
		return
	}
	event, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes+1))
	if err != nil || len(event) > maxEventBytes {
		lambdaError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
		return
	}
	if len(event) == 0 {
		event = []byte("{}")
	}
	if !json.Valid(event) {
		lambdaError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	inv, err := f.Invoke(ctx, event)
	if err != nil {
		lambdaError(w, http.StatusBadGateway, "ServiceException", err.Error())
		return
	}
	if r.Header.Get("X-Amz-Log-Type") == "Tail" {
		tail := inv.Logs
		if len(tail) > tailBytes {
			tail = tail[len(tail)-tailBytes:]
		}
		w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte(tail)))
	}
	if inv.FuncErr || inv.Status != http.StatusOK {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(inv.Body)
}

func (s *Stack) serveSign(w http.ResponseWriter, r *http.Request) {
	event, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
	if err != nil {
		http.Error(w, "the event is larger than Lambda's 6 MB", http.StatusRequestEntityTooLarge)
		return
	}
	signed, err := s.Sign(event)
	if err != nil {
		http.Error(w, "cannot sign the event: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(signed)
}

// serveAPI does what API Gateway's HTTP API does for a request: a payload
// 2.0 event to the webhook function, and its answer as the HTTP response.
// Routing is the function's (the deployed API routes first: an unknown
// route is 404 there too, with API Gateway's body).
func (s *Stack) serveAPI(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/2015-03-31/") || strings.HasPrefix(r.URL.Path, "/devstack/") {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBodyBytes+1))
	if err != nil {
		apiMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > maxAPIBodyBytes {
		// Read what was sent (up to a bound), so the client reads the answer.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4*maxAPIBodyBytes))
		apiMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	header := map[string]string{"host": r.Host}
	for k, v := range r.Header {
		header[strings.ToLower(k)] = strings.Join(v, ",")
	}
	path := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	requestID := "devstack-" + randomHex(8)
	event, err := buildEvent(sendRequest{Method: r.Method, Path: path, Header: header, Body: body}, requestID, time.Now())
	if err != nil {
		apiMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(event) > maxEventBytes { // Lambda refuses it (the function's own limit, 5 MiB, is a 413 too)
		apiMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	inv, err := s.Functions["webhook"].Invoke(ctx, event)
	w.Header().Set("Apigw-Requestid", requestID)
	writeAPIAnswer(w, inv, err)
}

// writeAPIAnswer writes a function's payload 2.0 response; a function that
// failed, or answered something else, is API Gateway's 502.
func writeAPIAnswer(w http.ResponseWriter, inv *Invocation, err error) {
	var out struct {
		StatusCode      int               `json:"statusCode"`
		Headers         map[string]string `json:"headers"`
		Cookies         []string          `json:"cookies"`
		Body            string            `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
	}
	if err != nil || inv.FuncErr || inv.Status != http.StatusOK || json.Unmarshal(inv.Body, &out) != nil ||
		out.StatusCode < 100 || out.StatusCode > 599 {
		apiMessage(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	body := []byte(out.Body)
	if out.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(out.Body); err != nil {
			apiMessage(w, http.StatusBadGateway, "Internal Server Error")
			return
		}
	}
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range out.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(out.StatusCode)
	_, _ = w.Write(body)
}

// apiMessage answers as API Gateway does on its own account.
func apiMessage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// Status is what GET /devstack/status answers.
type Status struct {
	URL       string            `json:"url"`
	API       string            `json:"api"` // the webhook's routes, as the deployed ApiUrl serves them
	Galxe     string            `json:"galxe"`
	SSM       string            `json:"ssm"`
	SQS       string            `json:"sqs,omitempty"`
	DynamoDB  string            `json:"dynamodb,omitempty"`
	Functions map[string]string `json:"functions"`
}

func (s *Stack) status(front string) Status {
	st := Status{URL: front, API: front, Galxe: s.Endpoint, SSM: s.SSM.URL, Functions: map[string]string{}}
	if s.Events != nil {
		st.SQS = s.SQS.URL
	}
	if s.SharedState {
		st.DynamoDB = s.DynamoDB.URL
	}
	for _, fn := range Functions {
		st.Functions[fn] = front + "/2015-03-31/functions/" + fn + "/invocations"
	}
	return st
}

func (s *Stack) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.status("http://" + r.Host))
}
