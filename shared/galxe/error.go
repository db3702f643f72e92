package galxe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Category is Galxe's error category, or UPSTREAM for failures of the
// exchange itself (network, timeout, an answer that cannot be read).
type Category string

const (
	CategoryAuthentication Category = "AUTHENTICATION"
	CategoryAuthorization  Category = "AUTHORIZATION"
	CategoryValidation     Category = "VALIDATION"
	CategoryNotFound       Category = "NOT_FOUND"
	CategoryRateLimit      Category = "RATE_LIMIT"
	CategoryInternal       Category = "INTERNAL"
	CategoryUnavailable    Category = "UNAVAILABLE"
	CategoryUpstream       Category = "UPSTREAM"
)

// Codes this client gives when Galxe gave none.
const (
	CodeUpstreamError   = "UPSTREAM_ERROR"   // unreadable answer, network error
	CodeUpstreamTimeout = "UPSTREAM_TIMEOUT" // no answer in time
	CodeRateLimited     = "RATE_LIMITED"     // this process's own rate limit cannot be met within the budget
)

// Error is every failure of a call to Galxe, classified. It carries what
// Galxe said (code, category, request id, message, details) and what the
// exchange showed (HTTP status, Retry-After). It never holds the token.
type Error struct {
	Code       string
	Category   Category
	HTTPStatus int    // the upstream HTTP status; 0 when there was no answer
	RequestID  string // Galxe's request_id, for support
	Message    string
	Details    json.RawMessage // Galxe's extensions.details, as sent
	RetryAfter time.Duration   // the server's Retry-After, or the client's advice; 0 if none
	QuotaSpent bool            // a daily or monthly quota, not per-second throttling
	Attempts   int             // requests made for the call that failed
	Err        error           // the transport error, if any

	retryable bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("galxe: ")
	b.WriteString(e.Code)
	fmt.Fprintf(&b, " (%s", e.Category)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ", HTTP %d", e.HTTPStatus)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request_id %s", e.RequestID)
	}
	b.WriteString(")")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed later: per-second
// throttling, Galxe's internal and availability errors, 429 and 5xx answers,
// network errors and timeouts. Authentication, authorization, validation,
// not-found errors and a spent quota are not.
func (e *Error) Retryable() bool { return e.retryable }

// TokenRejected reports whether Galxe refused the access token, which may
// have been rotated since it was read.
func (e *Error) TokenRejected() bool {
	return e.Code == "INVALID_TOKEN" || e.Code == "TOKEN_REQUIRED"
}

// MaxEcho is the most of someone's input that a message or a log line
// repeats (DESIGN.md §6): the caller's own, and Galxe's message and
// details, which may quote it.
const MaxEcho = 256

// Clip cuts s to at most MaxEcho bytes, on a character boundary, saying
// how long it was.
func Clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	more := fmt.Sprintf("… (%d bytes)", len(s))
	cut := MaxEcho - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// clipDetails cuts every string in Galxe's details (keys too) with Clip;
// details that cannot be read are dropped.
func clipDetails(raw json.RawMessage) json.RawMessage {
	if len(raw) <= MaxEcho { // no string in it is longer
		return raw
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	out, err := json.Marshal(clipStrings(v))
	if err != nil {
		return nil
	}
	return out
}

func clipStrings(v any) any {
	switch v := v.(type) {
	case string:
		return Clip(v)
	case []any:
		for i := range v {
			v[i] = clipStrings(v[i])
		}
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[Clip(k)] = clipStrings(x)
		}
		return out
	}
	return v
}
