// Package secret keeps secret values (the Galxe token, the webhook signing
// secret) in memory and loads them from SSM Parameter Store or the
// environment. A Value never prints, logs or marshals its contents.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Value shows wherever it is printed, logged or marshalled.
const Redacted = "[REDACTED]"

// Value is a secret string. Only Reveal returns its contents; every
// formatting path (fmt verbs, slog, JSON, text) shows Redacted instead.
type Value struct {
	s string
}

// New wraps s as a secret.
func New(s string) Value { return Value{s: s} }

// Reveal returns the secret itself, for the one place that must send it.
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.s == "" }

// Equal compares two secrets without revealing either.
func (v Value) Equal(o Value) bool { return v.s == o.s }

func (v Value) String() string   { return Redacted }
func (v Value) GoString() string { return Redacted }

// Format covers every fmt verb, including %x and %q, which would otherwise
// bypass String.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue keeps the secret out of slog output.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText covers encoding/json and other text encoders.
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
