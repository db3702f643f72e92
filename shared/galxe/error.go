package galxe

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
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
