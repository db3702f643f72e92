package secret

import (
	"errors"
	"fmt"
)

// ErrNotConfigured means neither a parameter name nor a local value was set.
var ErrNotConfigured = errors.New("not configured")

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

func (e *Error) Error() string {
	where := "environment"
	if e.Parameter != "" {
		where = fmt.Sprintf("SSM parameter %q", e.Parameter)
	}
	kind := "temporarily unavailable"
	if e.Permanent {
		kind = "misconfigured"
	}
	return fmt.Sprintf("%s from %s %s: %v", e.What, where, kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
