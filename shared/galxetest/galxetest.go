// Package galxetest is an in-memory stand-in for the Galxe Server API, in the
// manner of net/http/httptest: tests and the local stack start one on a
// loopback port and point GALXE_ENDPOINT at it. It checks the access-token
// header, validates and executes every query against a schema written from
// the documented types (schema.graphql), keeps credentials, quests and
// spaces in memory, enforces a per-second rate limit with 429
// QUOTA_EXCEEDED, and can be told to fail in each documented way (Fail).
package galxetest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	"golang.org/x/time/rate"
)

//go:embed schema.graphql
var schemaSDL string

// Options configures a Server.
type Options struct {
	// Tokens are the accepted access tokens (SetTokens changes them).
	Tokens []string
	// QPS is the per-second rate limit; 0 means Galxe's free tier (10), a
	// negative value none.
	QPS float64
	// Latency is added to every answer.
	Latency time.Duration
	// ErrorsUnder200 sends every error with HTTP 200, as older pages describe.
	ErrorsUnder200 bool
	// Empty starts with no credentials, quests or spaces instead of the demo data.
	Empty bool
}

// Server is the stand-in.
type Server struct {
	// URL is the GraphQL endpoint, for GALXE_ENDPOINT.
	URL string

	srv     *httptest.Server
	schema  *graphql.Schema
	opts    Options
	limiter *rate.Limiter
	closing chan struct{}
	once    sync.Once

	requests    atomic.Int64
	rateLimited atomic.Int64
	nextID      atomic.Int64

	mu          sync.Mutex
	tokens      map[string]bool
	faults      []Fault
	credFaults  map[string][]Fault // by credId
	refused     map[string]bool    // items every credentialItems call carrying them is refused for (RefuseItems)
	calls       map[string]int
	credentials map[string]*credential
	quests      map[string]*quest
	spaces      map[int32]*Space
}

// NewServer starts a stand-in on a loopback port.
func NewServer(opts Options) *Server {
	s := &Server{
		opts:        opts,
		closing:     make(chan struct{}),
		calls:       map[string]int{},
		credentials: map[string]*credential{},
		quests:      map[string]*quest{},
		spaces:      map[int32]*Space{},
	}
	s.SetTokens(opts.Tokens...)
	qps := opts.QPS
	if qps == 0 {
		qps = 10
	}
	if qps > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(qps), max(1, int(qps)))
	}
	s.schema = graphql.MustParseSchema(schemaSDL, &rootResolver{s: s}, graphql.UseFieldResolvers(), graphql.MaxDepth(10))
	if !opts.Empty {
		s.seed()
	}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/query"
	return s
}

// Close releases hung requests and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetTokens replaces the accepted tokens (a rotation, or a revocation).
func (s *Server) SetTokens(tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
	for _, t := range tokens {
		s.tokens[t] = true
	}
}

// Fail queues faults: each of the next requests gets the next fault
// instead of its normal answer.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// FailCredential makes the next len(faults) requests whose credId variable
// is credID fail, in order (a fault on one credential among several).
func (s *Server) FailCredential(credID string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.credFaults == nil {
		s.credFaults = map[string][]Fault{}
	}
	s.credFaults[credID] = append(s.credFaults[credID], faults...)
}

// RefuseItems makes every later credentialItems call that carries one of
// items fail as Galxe refuses an address it does not accept: the whole
// call, with INVALID_ADDRESS (VALIDATION, HTTP 400). Galxe's checks may be
// stricter than the functions' own (a checksum, a blocked address), so an
// item the functions accept can still be refused.
func (s *Server) RefuseItems(items ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	for _, it := range items {
		s.refused[it] = true
	}
}

// Requests reports how many requests reached the server.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// RateLimited reports how many requests were refused by the rate limit.
func (s *Server) RateLimited() int { return int(s.rateLimited.Load()) }

// Calls reports how many requests named the operation and were executed.
func (s *Server) Calls(operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[operation]
}

// Validate checks a GraphQL document, with variables, against the
// stand-in's schema.
func (s *Server) Validate(document string, variables map[string]any) error {
	if errs := s.schema.ValidateWithVariables(document, variables); len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// maxRequestBytes bounds a request body.
const maxRequestBytes = 4 << 20

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	reqID := fmt.Sprintf("req_%09d", s.nextID.Add(1))
	if s.opts.Latency > 0 && !s.sleep(r.Context(), s.opts.Latency) {
		return
	}
	s.mu.Lock()
	var fault *Fault
	if len(s.faults) > 0 {
		fault, s.faults = &s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	if fault != nil {
		s.serveFault(w, r, fault, reqID)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, http.StatusMethodNotAllowed, reqID, Fault{Code: "INVALID_ARGUMENT", Category: "VALIDATION",
			Message: "only POST is supported"})
		return
	}
	token := r.Header.Get("access-token")
	s.mu.Lock()
	known := s.tokens[token]
	s.mu.Unlock()
	switch {
	case token == "":
		s.writeError(w, 401, reqID, ErrorFault("TOKEN_REQUIRED"))
		return
	case !known:
		s.writeError(w, 401, reqID, ErrorFault("INVALID_TOKEN"))
		return
	}
	if s.limiter != nil && !s.limiter.Allow() {
		s.rateLimited.Add(1)
		w.Header().Set("Retry-After", "1")
		s.writeError(w, 429, reqID, Fault{Code: "QUOTA_EXCEEDED", Category: "RATE_LIMIT",
			Message: fmt.Sprintf("Rate limit exceeded: %g requests per second", s.limiter.Limit()),
			Details: []string{"quota_type: per_second", fmt.Sprintf("limit: %g", s.limiter.Limit())}})
		return
	}
	var req gqlRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil || req.Query == "" {
		s.writeError(w, 400, reqID, Fault{Code: "INVALID_ARGUMENT", Category: "VALIDATION",
			Message: "the body must be JSON with a query"})
		return
	}
	s.mu.Lock()
	s.calls[req.OperationName]++
	credID, _ := req.Variables["credId"].(string)
	var credFault *Fault
	if q := s.credFaults[credID]; credID != "" && len(q) > 0 {
		credFault, s.credFaults[credID] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if credFault != nil {
		s.serveFault(w, r, credFault, reqID)
		return
	}

	resp := s.schema.Exec(r.Context(), req.Query, req.OperationName, req.Variables)
	status := 200
	for _, e := range resp.Errors {
		if e.Extensions == nil {
			// Parse and validation errors carry no extensions in graphql-go.
			e.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED", "category": "VALIDATION", "http_status": 400}
		}
		e.Extensions["request_id"] = reqID
		e.Extensions["timestamp"] = time.Now().UTC().Format(time.RFC3339)
		if st, ok := e.Extensions["http_status"].(int); ok && status == 200 {
			status = st
		}
	}
	if s.opts.ErrorsUnder200 {
		status = 200
	}
	writeJSON(w, status, resp)
}

// sleep waits d unless the request or the server ends first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
