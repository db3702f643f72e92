// Package pushqueue is the queued path of credential pushes (DESIGN.md
// §10): the message a push becomes, and the sender that puts messages on
// an SQS queue within an invocation's budget.
package pushqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
)

// MaxMessageBytes is the most a message body (and a batch of them) holds:
// 256 KiB, a limit every SQS queue accepts.
const MaxMessageBytes = 256 << 10

// Message is one queued push, its body exactly
// {"credId":"…","operation":"APPEND"|"REMOVE","items":["…",…]}, items normalised.
type Message struct {
	CredID    string           `json:"credId"`
	Operation string           `json:"operation"`
	Items     credentials.List `json:"items"`
}

// ErrInvalid is a message body that is not a valid push.
var ErrInvalid = errors.New("invalid push message")

// Queueable reports whether an operation can go through the queue: APPEND
// and REMOVE can be coalesced; REPLACE cannot.
func Queueable(op string) bool { return op == credentials.Append || op == credentials.Remove }

// Encode cuts a push of normalised, distinct items into message bodies of
// at most MaxMessageBytes each, in order.
func Encode(credID, op string, items []string) [][]byte {
	head := fmt.Sprintf(`{"credId":%q,"operation":%q,"items":[`, credID, op)
	const tail = `]}`
	var (
		bodies [][]byte
		cur    bytes.Buffer
	)
	open := func() {
		cur.Reset()
		cur.WriteString(head)
	}
	closeBody := func() {
		cur.WriteString(tail)
		bodies = append(bodies, sqsSafe(bytes.Clone(cur.Bytes())))
	}
	open()
	n := 0
	for _, it := range items {
		enc, _ := json.Marshal(it) // a string always encodes
		extra := len(enc)
		if n > 0 {
			extra++ // the comma
		}
		if n > 0 && cur.Len()+extra+len(tail) > MaxMessageBytes {
			closeBody()
			open()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(',')
		}
		cur.Write(enc)
		n++
	}
	if n > 0 {
		closeBody()
	}
	return bodies
}

// sqsSafe escapes U+FFFE and U+FFFF, which SQS refuses in a body (it takes
// #x20 to #xFFFD and beyond #xFFFF), and JSON carries as \u escapes.
func sqsSafe(b []byte) []byte {
	if !bytes.Contains(b, []byte("\xef\xbf\xbe")) && !bytes.Contains(b, []byte("\xef\xbf\xbf")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\xef\xbf\xbe"), []byte(`\ufffe`))
	return bytes.ReplaceAll(b, []byte("\xef\xbf\xbf"), []byte(`\uffff`))
}

// Decode reads and validates a message body: a credId of digits, APPEND or
// REMOVE, and a non-empty list of valid items, which come back normalised
// and distinct. Anything else is ErrInvalid, saying why.
func Decode(body []byte) (Message, error) {
	var m Message
	if !isObject(body) {
		return m, fmt.Errorf("%w: the body is not a JSON object", ErrInvalid)
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	// Unknown fields refused by a scan of the keys, not a second decode: a
	// pusher reads ten thousand messages an invocation.
	if k, ok := unknownKey(body); ok {
		return m, fmt.Errorf("%w: unknown field %q", ErrInvalid, k)
	}
	switch {
	case !credentials.ValidCredID(m.CredID):
		return m, fmt.Errorf("%w: credId must be a string of digits", ErrInvalid)
	case !Queueable(m.Operation):
		return m, fmt.Errorf("%w: operation must be APPEND or REMOVE", ErrInvalid)
	case len(m.Items) == 0:
		return m, fmt.Errorf("%w: items must be a non-empty array", ErrInvalid)
	}
	items, invalid := credentials.Normalize(m.Items)
	if len(invalid) > 0 {
		return m, fmt.Errorf("%w: %d invalid items, the first at index %d: %s", ErrInvalid, len(invalid), invalid[0].Index, invalid[0].Reason)
	}
	m.Items = items
	return m, nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// knownKeys are a message's keys, as written.
var knownKeys = [...]string{`"credId"`, `"operation"`, `"items"`}

// unknownKey finds a top-level key of a valid JSON object other than the
// message's three (compared as written: an escaped key is unknown).
func unknownKey(b []byte) (string, bool) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			start := i
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth != 1 {
				continue
			}
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n') {
				j++
			}
			if j < len(b) && b[j] == ':' {
				known := false
				for _, k := range knownKeys {
					known = known || string(b[start:i+1]) == k // compared without a copy
				}
				if !known {
					return string(b[start+1 : i]), true
				}
			}
		}
	}
	return "", false
}
