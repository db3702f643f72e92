// Package pushqueue is the queued path of credential pushes (DESIGN.md
// §10): the message a push becomes, and the sender that puts messages on
// an SQS queue within an invocation's budget.
package pushqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/strictjson"
)

// MaxMessageBytes is the most a message (its body and attributes) and a
// batch of them hold: 256 KiB, a limit every SQS queue accepts.
const MaxMessageBytes = 256 << 10

// AttributeRoom is kept free in every body Encode makes for the String
// attributes the pusher adds when it dead-letters a body (error_code,
// original_message_id, original_sent_timestamp): SQS counts attributes'
// names, types and values toward MaxMessageBytes.
const AttributeRoom = 1024

// MaxBodyBytes is the most a body from Encode holds, as SQS receives it.
const MaxBodyBytes = MaxMessageBytes - AttributeRoom

// Message is one queued push, its body exactly
// {"credId":"…","operation":"APPEND"|"REMOVE","items":["…",…],"at":<ms>},
// items normalised. At is when the webhook accepted the request (ms since
// the epoch); 0 for a body without it (queued before it existed), which the
// pusher orders by its SentTimestamp.
type Message struct {
	CredID    string           `json:"credId"`
	Operation string           `json:"operation"`
	Items     credentials.List `json:"items"`
	At        int64            `json:"at,omitempty"`
}

// wireMessage is a body as Decode reads it: "at", when present, must be a
// positive integer.
type wireMessage struct {
	CredID    string           `json:"credId"`
	Operation string           `json:"operation"`
	Items     credentials.List `json:"items"`
	At        millis           `json:"at"`
}

// millis is a body's "at": a JSON integer above zero, nothing else (no
// fraction, exponent, string or null).
type millis int64

var errBadAt = errors.New("at must be a positive integer (ms since the epoch)")

func (m *millis) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n <= 0 {
		return errBadAt
	}
	*m = millis(n)
	return nil
}

// ErrInvalid is a message body that is not a valid push.
var ErrInvalid = errors.New("invalid push message")

// Queueable reports whether an operation can go through the queue: APPEND
// and REMOVE can be coalesced; REPLACE cannot.
func Queueable(op string) bool { return op == credentials.Append || op == credentials.Remove }

// Encode cuts a push of normalised, distinct items, accepted at `at` (ms
// since the epoch; 0 or less: a body without "at"), into message bodies of
// at most MaxBodyBytes each, in order. A body is measured as SQS receives
// it: JSON's escapes (<, >, & and U+2028 take six bytes) are counted, and
// nothing is escaped afterwards (normalised items hold none of the
// characters SQS refuses: controls, U+FFFE, U+FFFF).
func Encode(credID, op string, items []string, at int64) [][]byte {
	head := fmt.Sprintf(`{"credId":%q,"operation":%q,"items":[`, credID, op)
	tail := `]}`
	if at > 0 {
		tail = `],"at":` + strconv.FormatInt(at, 10) + `}`
	}
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
		bodies = append(bodies, bytes.Clone(cur.Bytes()))
	}
	open()
	n := 0
	for _, it := range items {
		enc, _ := json.Marshal(it) // a string always encodes
		extra := len(enc)
		if n > 0 {
			extra++ // the comma
		}
		if n > 0 && cur.Len()+extra+len(tail) > MaxBodyBytes {
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

// Decode reads and validates a message body: a credId of digits, APPEND or
// REMOVE, a non-empty list of valid items, which come back normalised and
// distinct, and an optional "at" above zero. Anything else is ErrInvalid,
// saying why.
func Decode(body []byte) (Message, error) {
	var (
		m Message
		w wireMessage
	)
	if !isObject(body) {
		return m, fmt.Errorf("%w: the body is not a JSON object", ErrInvalid)
	}
	err := strictjson.Unmarshal(body, &w)
	m = Message{CredID: w.CredID, Operation: w.Operation, Items: w.Items, At: int64(w.At)}
	if err != nil {
		var (
			te *json.UnmarshalTypeError
			ue *strictjson.UnknownFieldError
		)
		switch {
		case errors.Is(err, errBadAt):
			return m, fmt.Errorf("%w: %v", ErrInvalid, errBadAt)
		case errors.As(err, &te) && fieldShapes[te.Field] != "":
			return m, fmt.Errorf("%w: %s must be %s (found a JSON %s)", ErrInvalid, te.Field, fieldShapes[te.Field], te.Value)
		case errors.As(err, &ue):
			return m, fmt.Errorf("%w: unknown field %q", ErrInvalid, galxe.Clip(ue.Field))
		}
		return m, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
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

// fieldShapes says what each of a message's fields holds.
var fieldShapes = map[string]string{"credId": "a string of digits", "operation": "APPEND or REMOVE", "items": "an array of strings"}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}
