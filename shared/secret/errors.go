package secret

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// ErrNotConfigured means neither a parameter name nor a local value was set.
var ErrNotConfigured error = publicError("not configured")

// Error is a failure to obtain a secret. It names the parameter, never the
// value. Permanent failures (not configured, parameter not found, access
// denied, undecryptable) are configuration errors; the others are transient
// and the next invocation tries again.
type Error struct {
	// What the secret is for, such as "Galxe access token".
	What string
	// Parameter is the SSM parameter name, empty for local values.
	Parameter string
	// Permanent is true when retrying cannot help until someone fixes the
	// configuration.
	Permanent bool
	Err       error
}

func (e *Error) Error() string { return e.describe(fmt.Sprint(e.Err)) }

func (e *Error) Unwrap() error { return e.Err }

// Public is the error as a caller may read it: the secret, the parameter
// and SSM's error code, never AWS's own text (which names the role's ARN,
// the account and the request); the log has that.
func (e *Error) Public() string { return e.describe(publicReason(e.Err)) }

// describe says which secret, from where, and whether it is for good.
func (e *Error) describe(reason string) string {
	where := "environment"
	if e.Parameter != "" {
		where = fmt.Sprintf("SSM parameter %q", e.Parameter)
	}
	kind := "temporarily unavailable"
	if e.Permanent {
		kind = "misconfigured"
	}
	return fmt.Sprintf("%s from %s %s: %s", e.What, where, kind, reason)
}

// Invalid is a permanent error about a secret's value, in the project's
// own words (which never repeat the value).
func Invalid(what, reason string) *Error {
	return &Error{What: what, Permanent: true, Err: publicError(reason)}
}

// PublicError is an error whose whole text is the project's own words,
// safe to show a caller.
type PublicError interface{ PublicMessage() string }

type publicError string

func (e publicError) Error() string         { return string(e) }
func (e publicError) PublicMessage() string { return string(e) }

func publicReason(err error) string {
	var (
		own    PublicError
		apiErr smithy.APIError
	)
	switch {
	case errors.As(err, &own):
		return own.PublicMessage()
	case errors.As(err, &apiErr):
		return "SSM answered " + apiErr.ErrorCode()
	case errors.Is(err, ErrNotConfigured):
		return "not configured"
	case errors.Is(err, context.DeadlineExceeded):
		return "the read timed out"
	}
	return "the read failed (the function's log says why)"
}
