package galxe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// codeCategories holds the documented codes and the category each belongs
// to. Codes are compared upper-cased: an outage has been seen as "Unavailable".
var codeCategories = map[string]Category{
	"TOKEN_REQUIRED":            CategoryAuthentication,
	"INVALID_TOKEN":             CategoryAuthentication,
	"UNAUTHENTICATED":           CategoryAuthentication,
	"QUOTA_EXCEEDED":            CategoryRateLimit,
	"RATE_LIMITED":              CategoryRateLimit,
	"PERMISSION_DENIED":         CategoryAuthorization,
	"FORBIDDEN":                 CategoryAuthorization,
	"NOT_FOUND":                 CategoryNotFound,
	"SPACE_NOT_FOUND":           CategoryNotFound,
	"QUEST_NOT_FOUND":           CategoryNotFound,
	"CREDENTIAL_NOT_FOUND":      CategoryNotFound,
	"USER_NOT_FOUND":            CategoryNotFound,
	"INVALID_ARGUMENT":          CategoryValidation,
	"INVALID_ADDRESS":           CategoryValidation,
	"COMPLEXITY_LIMIT_EXCEEDED": CategoryValidation,
	"DEPTH_LIMIT_EXCEEDED":      CategoryValidation,
	"GRAPHQL_VALIDATION_FAILED": CategoryValidation,
	"GRAPHQL_PARSE_FAILED":      CategoryValidation,
	"BAD_USER_INPUT":            CategoryValidation,
	"INTERNAL_ERROR":            CategoryInternal,
	"INTERNAL":                  CategoryInternal,
	"INTERNAL_SERVER_ERROR":     CategoryInternal,
	"UNAVAILABLE":               CategoryUnavailable,
}

var knownCategories = map[Category]bool{
	CategoryAuthentication: true, CategoryAuthorization: true, CategoryValidation: true,
	CategoryNotFound: true, CategoryRateLimit: true, CategoryInternal: true, CategoryUnavailable: true,
}

// categoryForStatus is the last resort: what an HTTP status says when the
// body does not. 422 appears in older pages for semantic validation.
func categoryForStatus(status int) (Category, bool) {
	switch {
	case status == 400 || status == 422:
		return CategoryValidation, true
	case status == 401:
		return CategoryAuthentication, true
	case status == 403:
		return CategoryAuthorization, true
	case status == 404:
		return CategoryNotFound, true
	case status == 429:
		return CategoryRateLimit, true
	case status == 500:
		return CategoryInternal, true
	case status == 502 || status == 503 || status == 504:
		return CategoryUnavailable, true
	}
	return "", false
}

// quotaAfter is the Retry-After given for a spent quota when Galxe gave none.
const quotaAfter = time.Hour

// graphQLError is the first error of an answer, each field read on its own:
// one field of an unexpected type (a numeric code, say) leaves the others
// readable.
type graphQLError struct {
	Message    string
	Extensions struct {
		Code, Category        string
		HTTPStatus, RequestID string
		Details               json.RawMessage
	}
}

type envelope struct {
	Data   json.RawMessage `json:"data"`
	Errors json.RawMessage `json:"errors"`
}

// firstError reads the errors member: (the first error, true) when there is
// one, however oddly typed; (zero, false) when it is absent, null or [].
func firstError(raw json.RawMessage) (graphQLError, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return graphQLError{}, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		if len(list) == 0 {
			return graphQLError{}, false
		}
		raw = list[0]
	}
	var g graphQLError
	var fields struct {
		Message    json.RawMessage `json:"message"`
		Extensions json.RawMessage `json:"extensions"`
	}
	if json.Unmarshal(raw, &fields) != nil {
		g.Message = jsonScalar(raw) // "errors":["text"] or "errors":"text"
		return g, true
	}
	g.Message = jsonScalar(fields.Message)
	var x struct {
		Code       json.RawMessage `json:"code"`
		Category   json.RawMessage `json:"category"`
		HTTPStatus json.RawMessage `json:"http_status"`
		RequestID  json.RawMessage `json:"request_id"`
		Details    json.RawMessage `json:"details"`
	}
	if json.Unmarshal(fields.Extensions, &x) == nil {
		g.Extensions.Code, g.Extensions.Category = jsonScalar(x.Code), jsonScalar(x.Category)
		g.Extensions.HTTPStatus, g.Extensions.RequestID = jsonScalar(x.HTTPStatus), jsonScalar(x.RequestID)
		g.Extensions.Details = x.Details
	}
	return g, true
}

// classify turns one HTTP answer into Galxe's data or one *Error. A failure
// is a non-2xx status, a non-empty errors array (also under 200), or a body
// that is not a JSON object. This is the one place answers are judged.
func classify(status int, header http.Header, body []byte, now time.Time) (json.RawMessage, *Error) {
	retryAfter := parseRetryAfter(header.Get("Retry-After"), now)
	ok := status >= 200 && status < 300

	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || !isObject(body) {
		e := &Error{Code: CodeUpstreamError, Category: CategoryUpstream, HTTPStatus: status, RetryAfter: retryAfter}
		if ok {
			e.Message = "Galxe answered with a body that is not a JSON object"
		} else {
			if c, known := categoryForStatus(status); known {
				e.Category = c
			}
			e.Message = fmt.Sprintf("Galxe answered HTTP %d with %s", status, describeBody(body))
		}
		return nil, finish(e)
	}
	if g, ok := firstError(env.Errors); ok {
		return nil, finish(fromGraphQLError(g, status, retryAfter))
	}
	if !ok {
		e := &Error{Code: CodeUpstreamError, Category: CategoryUpstream, HTTPStatus: status, RetryAfter: retryAfter,
			Message: fmt.Sprintf("Galxe answered HTTP %d without errors", status)}
		if c, known := categoryForStatus(status); known {
			e.Category = c
		}
		return nil, finish(e)
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return nil, finish(&Error{Code: CodeUpstreamError, Category: CategoryUpstream, HTTPStatus: status,
			Message: "Galxe answered without data or errors"})
	}
	return env.Data, nil
}

// fromGraphQLError classifies by extensions.code, then extensions.category,
// then extensions.http_status, then the HTTP status.
func fromGraphQLError(g graphQLError, status int, retryAfter time.Duration) *Error {
	x := g.Extensions
	e := &Error{
		Code:       strings.ToUpper(strings.TrimSpace(x.Code)),
		HTTPStatus: status,
		RequestID:  x.RequestID,
		Message:    g.Message,
		RetryAfter: retryAfter,
	}
	if len(x.Details) > 0 && !bytes.Equal(x.Details, []byte("null")) {
		e.Details = x.Details
	}
	if c, ok := codeCategories[e.Code]; ok {
		e.Category = c
	} else if c := Category(strings.ToUpper(strings.TrimSpace(x.Category))); knownCategories[c] {
		e.Category = c
	} else if c, ok := categoryForStatus(atoi(x.HTTPStatus)); ok {
		e.Category = c
	} else if c, ok := categoryForStatus(status); ok {
		e.Category = c
	} else {
		e.Category = CategoryUpstream
	}
	if e.Code == "" {
		e.Code = CodeUpstreamError
	}
	if strings.TrimSpace(e.Message) == "" {
		e.Message = "Galxe answered an error without a message"
	}
	if e.Category == CategoryRateLimit && quotaSpent(g.Message, x.Details) {
		e.QuotaSpent = true
		if e.RetryAfter == 0 {
			e.RetryAfter = quotaAfter
		}
	}
	// Classified on the whole text; what travels on (to the caller, the
	// logs, a dead letter's error_code) is cut, as Galxe may quote the
	// caller's input.
	e.Code, e.RequestID, e.Message, e.Details = Clip(e.Code), Clip(e.RequestID), Clip(e.Message), clipDetails(e.Details)
	return e
}

// quotaSpent tells a daily or monthly quota from per-second throttling, by
// the details ("quota_type: daily") or the message ("daily limit reached").
func quotaSpent(message string, details json.RawMessage) bool {
	s := strings.ToLower(message + " " + string(details))
	return strings.Contains(s, "daily") || strings.Contains(s, "monthly")
}

// finish decides whether the error is worth retrying.
func finish(e *Error) *Error {
	switch e.Category {
	case CategoryRateLimit:
		e.retryable = !e.QuotaSpent
	case CategoryInternal, CategoryUnavailable:
		e.retryable = true
	case CategoryUpstream:
		e.retryable = e.Code == CodeUpstreamTimeout || (e.Err != nil && !errors.Is(e.Err, errBodyTooLarge)) || retryableStatus(e.HTTPStatus)
	}
	return e
}

func retryableStatus(s int) bool {
	return s == 429 || s == 500 || s == 502 || s == 503 || s == 504
}

// transportError classifies a failure to get an answer at all. A name
// that does not exist is not retried (only a temporary DNS failure is).
func transportError(err error, timedOut bool) *Error {
	e := &Error{Code: CodeUpstreamError, Category: CategoryUpstream, Err: err,
		Message: "could not reach Galxe: " + err.Error()}
	if timedOut {
		e.Code, e.Message = CodeUpstreamTimeout, "Galxe did not answer in time"
	}
	finish(e)
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		e.retryable = false
		e.Message = fmt.Sprintf("Galxe's host %q does not exist (check GALXE_ENDPOINT)", dns.Name)
	}
	return e
}

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// describeBody names what came back without echoing an arbitrary page.
func describeBody(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "an empty body"
	case bytes.HasPrefix(b, []byte("<")):
		return "an HTML page"
	}
	return fmt.Sprintf("%d bytes that are not JSON", len(b))
}

// jsonScalar renders a JSON string or number as text ("req_1", 429).
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// maxRetryAfter bounds a server's advice; an absurd value is not an instruction
// to wait for years.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date. Anything else, or a
// date in the past, is no advice.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs { // negative, zero or NaN
			return 0
		}
		if secs >= maxRetryAfter.Seconds() {
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfter)
	}
	return 0
}

var errBodyTooLarge = errors.New("response body over the limit")
