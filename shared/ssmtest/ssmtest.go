// Package ssmtest is an in-memory stand-in for AWS Systems Manager Parameter
// Store. It speaks the AWS JSON 1.1 protocol that the SDK's SSM client uses
// (X-Amz-Target: AmazonSSM.GetParameter, GetParameters, PutParameter), so
// tests and the local stack exercise the real SDK against it through
// BaseEndpoint or AWS_ENDPOINT_URL_SSM, and a person can read the local
// stack's parameters with the AWS CLI. Signatures are not checked.
package ssmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/awstest"
)

// Fault is a failure the server gives instead of an answer.
type Fault struct {
	// Code is the AWS error type, such as "ThrottlingException",
	// "ParameterNotFound", "AccessDeniedException" or "InvalidKeyId".
	// Empty with a Delay: the answer is only late.
	Code string
	// Status is the HTTP status; 0 means 400 (500 for InternalServerError).
	Status int
	// Delay holds the answer back, to simulate a timeout.
	Delay time.Duration
	// Message is AWS's text; empty: a short one naming the code.
	Message string
}

// AccessDenied is SSM's answer to a role without ssm:GetParameter, in AWS's
// words: they name the role's ARN, the account and the parameter's ARN.
func AccessDenied(name string) Fault {
	return Fault{Code: "AccessDeniedException", Message: "User: arn:aws:sts::123456789012:assumed-role/galxe-lambda-WebhookFunctionRole-1A2B3C/galxe-lambda-WebhookFunction-4D5E6F " +
		"is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:us-east-1:123456789012:parameter" + name +
		" because no identity-based policy allows the ssm:GetParameter action"}
}

type parameter struct {
	value    string
	typ      string
	version  int64
	modified time.Time
}

// Server is the stand-in. Its zero value is not usable; call NewServer.
type Server struct {
	// URL is the base URL to give the SDK as its SSM endpoint.
	URL string

	srv *httptest.Server

	mu     sync.Mutex
	params map[string]*parameter
	reads  map[string]int
	faults map[string][]Fault // per parameter name, consumed in order
}

// NewServer starts a stand-in on a loopback port.
func NewServer() *Server {
	s := &Server{params: map[string]*parameter{}, reads: map[string]int{}, faults: map[string][]Fault{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// PutSecure stores (or rotates) a SecureString and returns its new version.
// It panics on a name SSM refuses, so a test cannot rely on a name that a
// deployment could never create.
func (s *Server) PutSecure(name, value string) int64 {
	if msg := invalidName(name, true); msg != "" {
		panic("ssmtest: SSM refuses the name " + strconv.Quote(name) + ": " + msg)
	}
	return s.put(name, value, "SecureString")
}

func (s *Server) put(name, value, typ string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.params[name]
	if p == nil {
		p = &parameter{}
		s.params[name] = p
	}
	p.value, p.typ, p.modified = value, typ, time.Now()
	p.version++
	return p.version
}

// Fail makes the next len(faults) reads of name fail, in order.
func (s *Server) Fail(name string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[name] = append(s.faults[name], faults...)
}

// Reads reports how many GetParameter and GetParameters calls named the
// parameter, faults included.
func (s *Server) Reads(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[name]
}

type getParameterInput struct {
	Name           string
	WithDecryption bool
}

type getParametersInput struct {
	Names          []string
	WithDecryption bool
}

type putParameterInput struct {
	Name      string
	Value     string
	Type      string
	Overwrite bool
}

// ServeHTTP implements the three operations; anything else is an
// UnknownOperationException, as AWS answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	switch target {
	case "AmazonSSM.GetParameter":
		var in getParameterInput
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Name == "" {
			writeError(w, 400, "ValidationException", "1 validation error detected: Name must not be null")
			return
		}
		s.mu.Lock()
		s.reads[in.Name]++
		s.mu.Unlock()
		name, _, _ := strings.Cut(strings.TrimSpace(in.Name), ":") // a ":version" or ":label" selector may follow
		if msg := invalidName(name, false); msg != "" {
			writeError(w, 400, "ValidationException", msg)
			return
		}
		in.Name = name
		s.getParameter(w, r, in)
	case "AmazonSSM.GetParameters":
		var in getParametersInput
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil {
			writeError(w, 400, "ValidationException", "1 validation error detected: Value null at 'names' failed to satisfy constraint: Member must not be null")
			return
		}
		s.getParameters(w, r, in)
	case "AmazonSSM.PutParameter":
		var in putParameterInput
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Name == "" {
			writeError(w, 400, "ValidationException", "1 validation error detected")
			return
		}
		in.Name = strings.TrimSpace(in.Name)
		if msg := invalidName(in.Name, true); msg != "" {
			writeError(w, 400, "ValidationException", msg)
			return
		}
		if in.Type != "" && in.Type != "String" && in.Type != "StringList" && in.Type != "SecureString" {
			writeError(w, 400, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type))
			return
		}
		if len(in.Value) > 4096 {
			writeError(w, 400, "ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.")
			return
		}
		s.mu.Lock()
		_, exists := s.params[in.Name]
		s.mu.Unlock()
		if exists && !in.Overwrite {
			writeError(w, 400, "ParameterAlreadyExists", "The parameter already exists.")
			return
		}
		typ := in.Type
		if typ == "" {
			typ = "String"
		}
		v := s.put(in.Name, in.Value, typ)
		writeJSON(w, 200, map[string]any{"Version": v, "Tier": "Standard"})
	default:
		writeError(w, 400, "UnknownOperationException", fmt.Sprintf("unknown operation %q", target))
	}
}

// invalidName is SSM's ValidationException message for a name it refuses,
// or "" (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html):
// only a-zA-Z0-9_.- and "/"; a hierarchical name must be fully qualified
// (begin with "/"; a read of one that does not gets SSM's message about
// the characters, as AWS answers it); at most 15 levels; at most 1011
// characters; and a new name may not begin with "aws" or "ssm".
func invalidName(name string, creating bool) string {
	const charset = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_"
	if name == "" {
		return "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
	}
	if len(name) > 1011 {
		return "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to 1011"
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.-/", c)) {
			return charset
		}
	}
	if strings.Contains(name, "/") {
		if name[0] != '/' && creating {
			return "Parameter name must be a fully qualified name."
		}
		if name[0] != '/' {
			return charset // what a read is told
		}
		levels := strings.Split(name[1:], "/")
		if len(levels) > 15 {
			return "The parameter hierarchy depth is greater than the maximum allowed depth of 15."
		}
		for _, l := range levels {
			if l == "" {
				return charset
			}
		}
	}
	if creating {
		first := strings.ToLower(strings.TrimPrefix(name, "/"))
		if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
			return "No access to reserved parameter name: " + name + "."
		}
	}
	return ""
}

func (s *Server) getParameter(w http.ResponseWriter, r *http.Request, in getParameterInput) {
	s.mu.Lock()
	fault := s.takeFault(in.Name)
	var p parameter
	stored := s.params[in.Name]
	if stored != nil {
		p = *stored
	}
	s.mu.Unlock()
	if answerFault(w, r, fault) {
		return
	}
	if stored == nil {
		writeError(w, 400, "ParameterNotFound", "")
		return
	}
	writeJSON(w, 200, map[string]any{"Parameter": p.answer(in.Name, in.WithDecryption)})
}

// maxNames is how many names GetParameters takes.
const maxNames = 10

// getParameters answers up to ten parameters at once: those that exist in
// Parameters, the names of those that do not in InvalidParameters. A name
// GetParameter refuses is refused here too; a fault pending for any of the
// names answers the call.
func (s *Server) getParameters(w http.ResponseWriter, r *http.Request, in getParametersInput) {
	if len(in.Names) == 0 || len(in.Names) > maxNames {
		constraint := "greater than or equal to 1"
		if len(in.Names) > 0 {
			constraint = fmt.Sprintf("less than or equal to %d", maxNames)
		}
		writeError(w, 400, "ValidationException", fmt.Sprintf("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length %s",
			strings.Join(in.Names, ", "), constraint))
		return
	}
	s.mu.Lock()
	var fault *Fault
	params, invalid := []map[string]any{}, []string{}
	seen := map[string]bool{}
	for _, requested := range in.Names {
		s.reads[requested]++
		name, _, _ := strings.Cut(strings.TrimSpace(requested), ":") // a ":version" or ":label" selector may follow
		if msg := invalidName(name, false); msg != "" {
			s.mu.Unlock()
			writeError(w, 400, "ValidationException", msg)
			return
		}
		if fault == nil {
			fault = s.takeFault(name)
		}
		if seen[requested] {
			continue
		}
		seen[requested] = true
		if p := s.params[name]; p != nil {
			params = append(params, p.answer(name, in.WithDecryption))
		} else {
			invalid = append(invalid, requested)
		}
	}
	s.mu.Unlock()
	if answerFault(w, r, fault) {
		return
	}
	writeJSON(w, 200, map[string]any{"Parameters": params, "InvalidParameters": invalid})
}

// takeFault takes the next fault pending for name, or nil; s.mu is held.
func (s *Server) takeFault(name string) *Fault {
	q := s.faults[name]
	if len(q) == 0 {
		return nil
	}
	s.faults[name] = q[1:]
	return &q[0]
}

// answerFault holds the answer for the fault's delay, then answers its
// error, if it has one; true when the request is answered (or gone).
func answerFault(w http.ResponseWriter, r *http.Request, fault *Fault) bool {
	if fault == nil {
		return false
	}
	if fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	if fault.Code == "" {
		return false
	}
	status := fault.Status
	if status == 0 {
		status = 400
		if fault.Code == "InternalServerError" {
			status = 500
		}
	}
	msg := fault.Message
	if msg == "" {
		msg = "injected fault: " + fault.Code
	}
	writeError(w, status, fault.Code, msg)
	return true
}

// answer is the parameter as GetParameter and GetParameters answer it.
func (p parameter) answer(name string, decrypt bool) map[string]any {
	value := p.value
	if p.typ == "SecureString" && !decrypt {
		value = "AQICAHencrypted" // what a SecureString looks like undecrypted
	}
	return map[string]any{
		"Name":             name,
		"Type":             p.typ,
		"Value":            value,
		"Version":          p.version,
		"DataType":         "text",
		"LastModifiedDate": float64(p.modified.UnixMilli()) / 1000,
		"ARN":              "arn:aws:ssm:us-east-1:123456789012:parameter/" + trimSlash(name),
	}
}

func trimSlash(name string) string {
	if len(name) > 0 && name[0] == '/' {
		return name[1:]
	}
	return name
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Amzn-ErrorType", code)
	writeJSON(w, status, map[string]string{"__type": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", fmt.Sprintf("%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Env sets, for the calling test, the variables that point the AWS SDK's
// default configuration at this server with dummy credentials.
func (s *Server) Env(t interface{ Setenv(k, v string) }) {
	awstest.Env(t, "AWS_ENDPOINT_URL_SSM", s.URL)
}
