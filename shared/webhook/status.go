package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

// The function's own codes and categories (DESIGN.md §6).
const (
	CodeInvalidRequest     = "INVALID_REQUEST"
	CodeUnknownOperation   = "UNKNOWN_OPERATION"
	CodeUnauthenticated    = "UNAUTHENTICATED"
	CodeRouteNotFound      = "ROUTE_NOT_FOUND"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	CodePayloadTooLarge    = "PAYLOAD_TOO_LARGE"
	CodeTokenUnavailable   = "TOKEN_UNAVAILABLE"
	CodeConfigurationError = "CONFIGURATION_ERROR"
	CodeQueueUnavailable   = "QUEUE_UNAVAILABLE"
	CodeRequestInProgress  = "REQUEST_IN_PROGRESS"
	CodeKeyReused          = "IDEMPOTENCY_KEY_REUSED"
	CodeStateUnavailable   = "STATE_UNAVAILABLE"

	CategoryRequest       = "REQUEST"
	CategoryUpstream      = "UPSTREAM"
	CategoryConfiguration = "CONFIGURATION"
)

// RequestError is a problem with the caller's request: 400, 401, 404, 405,
// 409, 413 or 422, said in words the caller can act on.
type RequestError struct {
	Status     int
	Code       string
	Message    string
	Details    any
	RetryAfter time.Duration // when the same request may be sent again; 0: not
}

func (e *RequestError) Error() string { return e.Message }

func badRequest(msg string, details any) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg, Details: details}
}

// errorBody is the contract's error body.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code              string                `json:"code"`
	Category          string                `json:"category"`
	Message           string                `json:"message"`
	RequestID         string                `json:"request_id"`
	GalxeRequestID    string                `json:"galxe_request_id,omitempty"`
	RetryAfterSeconds int                   `json:"retry_after_seconds,omitempty"`
	Details           any                   `json:"details,omitempty"`
	Progress          *credentials.Progress `json:"progress,omitempty"`
}

// Default Retry-After values where the upstream gave none.
const (
	defaultRetryAfter     = time.Second     // throttling, outages
	tokenUnavailableAfter = 5 * time.Second // SSM should recover by then
)

// statusFor is the mapping of DESIGN.md §6 from Galxe's categories.
var statusFor = map[galxe.Category]int{
	galxe.CategoryValidation:     http.StatusBadRequest,
	galxe.CategoryNotFound:       http.StatusNotFound,
	galxe.CategoryAuthorization:  http.StatusForbidden,
	galxe.CategoryRateLimit:      http.StatusTooManyRequests,
	galxe.CategoryAuthentication: http.StatusBadGateway, // our token is bad: the caller cannot fix it
	galxe.CategoryInternal:       http.StatusBadGateway,
	galxe.CategoryUnavailable:    http.StatusServiceUnavailable,
	galxe.CategoryUpstream:       http.StatusBadGateway,
}

// problem is a failure mapped to the contract: its status and the fields of
// its body (the Retry-After header is derived from them).
type problem struct {
	status    int
	fields    errorFields
	internal  string // for the log only: what the caller is not told
	fromState bool   // the shared-state table failed
}

// ErrorResponse maps any failure to its status and body.
func ErrorResponse(err error, requestID string) apigw.Response {
	return problemFor(err, requestID).response()
}

func (p problem) response() apigw.Response {
	resp := apigw.JSON(p.status, errorBody{Error: p.fields})
	if s := p.fields.RetryAfterSeconds; s > 0 {
		resp.Header = map[string]string{"Retry-After": strconv.Itoa(s)}
	}
	return resp
}

// problemFor is the one place an outcome becomes an HTTP status.
func problemFor(err error, requestID string) problem {
	f := errorFields{RequestID: requestID}
	internal := ""
	var (
		status     int
		retryAfter time.Duration
		reqErr     *RequestError
		gerr       *galxe.Error
		serr       *secret.Error
		perr       *credentials.PushError
		cerr       *config.Error
		qerr       *pushqueue.Error
		sterr      *state.Error
		lost       *answerNotKept
	)
	if errors.As(err, &perr) {
		f.Progress = &perr.Progress
	}
	switch {
	case errors.As(err, &reqErr):
		status, f.Code, f.Category, f.Message, f.Details = reqErr.Status, reqErr.Code, CategoryRequest, reqErr.Message, reqErr.Details
		retryAfter = reqErr.RetryAfter
	case errors.Is(err, galxe.ErrUnknownOperation):
		status, f.Code, f.Category, f.Message = http.StatusBadRequest, CodeUnknownOperation, CategoryRequest, err.Error()
		f.Details = map[string]any{"operations": galxe.OperationNames()}
	case errors.Is(err, credentials.ErrReplaceTooLarge):
		status, f.Code, f.Category, f.Message = http.StatusBadRequest, CodeInvalidRequest, CategoryRequest, err.Error()
	case errors.As(err, &gerr):
		status = statusFor[gerr.Category]
		f.Code, f.Category, f.Message, f.GalxeRequestID = gerr.Code, string(gerr.Category), gerr.Message, gerr.RequestID
		if len(gerr.Details) > 0 && json.Valid(gerr.Details) {
			f.Details = json.RawMessage(gerr.Details)
		}
		switch {
		case gerr.Code == galxe.CodeUpstreamTimeout:
			status = http.StatusGatewayTimeout
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
			retryAfter = max(gerr.RetryAfter, defaultRetryAfter)
		}
	case errors.As(err, &qerr) && qerr.Permanent:
		// No such queue, access denied, an entry refused for good: no retry
		// can change it. AWS's text names the account: the log has it.
		status, f.Code, f.Category = http.StatusInternalServerError, CodeConfigurationError, CategoryConfiguration
		f.Message = "the push queue (PUSH_QUEUE_URL) refused the push for good: the queue is missing or not allowed, or it refused a message; the function's log says why"
		internal = qerr.Error()
	case errors.As(err, &qerr):
		// Nothing is answered 202 that was not queued; what was queued is
		// harmless to queue again (APPEND and REMOVE are idempotent).
		status, f.Code, f.Category = http.StatusServiceUnavailable, CodeQueueUnavailable, CategoryUpstream
		f.Message = fmt.Sprintf("the push queue took %d of %d messages within the time budget; send the whole request again", qerr.Queued, qerr.Total)
		retryAfter, internal = max(qerr.RetryAfter, defaultRetryAfter), qerr.Error()
	case errors.As(err, &sterr) && sterr.Permanent:
		// No such table, access denied: no retry can change it. AWS's text
		// names the account: the log has it.
		status, f.Code, f.Category = http.StatusInternalServerError, CodeConfigurationError, CategoryConfiguration
		f.Message = "the shared-state table (STATE_TABLE) is missing or may not be used; the function's log says why"
		internal = state.Detail(sterr)
	case errors.As(err, &sterr):
		// Nothing ran: the sender keeps the delivery and sends it again.
		status, f.Code, f.Category = http.StatusServiceUnavailable, CodeStateUnavailable, CategoryUpstream
		f.Message = "the shared-state table could not be reached; nothing was done: send the request again"
		retryAfter, internal = defaultRetryAfter, state.Detail(sterr)
	case errors.As(err, &lost):
		// A delivery answered for good whose answer was too large to keep
		// whole: its status and code, said so.
		status, f.Code, f.Category = lost.Status, lost.Code, lost.category()
		f.Message = "this delivery was answered before; the original answer was too large to keep, so this is only its status and code"
	case errors.As(err, &cerr):
		status, f.Code, f.Category, f.Message = http.StatusInternalServerError, CodeConfigurationError, CategoryConfiguration, cerr.Error()
	case errors.As(err, &serr):
		// AWS's text names the role's ARN, the account and its request id:
		// the caller gets the parameter and SSM's code, the log the rest.
		f.Message, internal = serr.Public(), serr.Error()
		if serr.Permanent {
			status, f.Code, f.Category = http.StatusInternalServerError, CodeConfigurationError, CategoryConfiguration
		} else {
			status, f.Code, f.Category = http.StatusServiceUnavailable, CodeTokenUnavailable, CategoryUpstream
			retryAfter = tokenUnavailableAfter
		}
	default:
		// Nothing should reach here; if something does, it is still an
		// answer from the table, not an opaque Lambda error.
		status, f.Code, f.Category, f.Message = http.StatusBadGateway, galxe.CodeUpstreamError, CategoryUpstream, "unexpected failure"
		internal = err.Error()
	}
	if f.Message == "" {
		f.Message = http.StatusText(status)
	}
	if retryAfter > 0 {
		f.RetryAfterSeconds = int(math.Ceil(retryAfter.Seconds()))
	}
	return problem{status: status, fields: f, internal: internal, fromState: sterr != nil}
}
