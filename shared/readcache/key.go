package readcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of variables the cache reads: no persisted
// operation's variables nest beyond an input object of lists, and a body
// of millions of '[' must not become as many stack frames.
const maxDepth = 32

// errNotCanonical is variables the cache does not key (they are still sent
// to Galxe as they are): invalid UTF-8, a key given twice, deep nesting.
var errNotCanonical = errors.New("readcache: variables without a canonical form")

// Canonical is the variables' canonical JSON: object keys sorted, no
// white space, strings re-encoded (so "\u0061" and "a" are one), EVM
// addresses (0x and 40 hex digits, either case) lower-cased, and numbers
// exactly as written. Numbers are never read as float64, which would merge
// two 18-digit ids; the price is that 1 and 1.0 (or 1e2 and 100) are
// different keys, asked of Galxe separately, which is safe. Absent and
// null variables are {}. Variables with invalid UTF-8 (which decoding
// would turn into U+FFFD, merging different questions), a key given twice
// (which Galxe may read otherwise than Go), or deeper than maxDepth have
// none.
func Canonical(vars json.RawMessage) ([]byte, error) {
	v, err := parse(vars)
	if err != nil {
		return nil, err
	}
	return canonicalOf(v)
}

func canonicalOf(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Key is the entry's key for an operation and its variables: a SHA-256 of
// the name and the canonical variables, so any question fits DynamoDB's key.
func Key(op string, vars json.RawMessage) (string, error) {
	c, err := Canonical(vars)
	if err != nil {
		return "", err
	}
	return keyOf(op, c), nil
}

func keyOf(op string, canonical []byte) string {
	h := sha256.New()
	io.WriteString(h, op)
	h.Write([]byte{0})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// parse reads variables into maps, slices, strings, json.Number, bools
// and nil.
func parse(vars json.RawMessage) (any, error) {
	vars = bytes.TrimSpace(vars)
	if len(vars) == 0 || bytes.Equal(vars, []byte("null")) {
		return map[string]any{}, nil
	}
	if !utf8.Valid(vars) {
		return nil, errNotCanonical
	}
	dec := json.NewDecoder(bytes.NewReader(vars))
	dec.UseNumber()
	v, err := value(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotCanonical // trailing data
	}
	return v, nil
}

func value(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errNotCanonical
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, errNotCanonical
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			list := []any{}
			for dec.More() {
				v, err := value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ]
			return list, err
		}
		obj := map[string]any{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, errNotCanonical
			}
			key, _ := k.(string)
			if _, twice := obj[key]; twice {
				return nil, errNotCanonical
			}
			if obj[key], err = value(dec, depth+1); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token() // }
		return obj, err
	case string:
		return address(t), nil
	}
	return tok, nil // json.Number, bool or nil
}

// address lower-cases an EVM address (Galxe reads them in any case); any
// other string is kept as it is.
func address(s string) string {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return s
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return s
		}
	}
	return strings.ToLower(s)
}

func encode(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encode(buf, t[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case json.Number:
		buf.WriteString(t.String()) // the literal, as the caller wrote it
		return nil
	}
	b, err := json.Marshal(v) // strings, bools and null
	if err != nil {
		return errNotCanonical
	}
	buf.Write(b)
	return nil
}
