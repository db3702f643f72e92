package pusher

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeRecords reads an SQS event's records: the four fields the pusher
// uses. An event of 10,000 records is 6 MB, and encoding/json reads it
// twice (a validation pass, then reflection); on a Lambda's fraction of a
// CPU that is the pusher's largest fixed cost. scanRecords reads the shape
// Lambda sends in one pass; anything it does not expect (a key in another
// case, invalid UTF-8, a malformed value) goes to encoding/json, whose
// answer stands. FuzzDecodeRecords holds the two to the same answers.
func decodeRecords(payload []byte) ([]record, error) {
	if recs, ok := scanRecords(payload); ok {
		return recs, nil
	}
	var ev struct {
		Records []record `json:"Records"`
	}
	err := json.Unmarshal(payload, &ev)
	return ev.Records, err
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, taking it.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// raw reads a JSON string without decoding it: its contents, and whether
// it holds escapes. It declines (false) what encoding/json would change or
// refuse: raw control characters and invalid UTF-8 (escapes are checked
// when decoded).
func (s *scanner) raw() (raw []byte, plain, ok bool) {
	if !s.next('"') {
		return nil, false, false
	}
	start := s.i
	plain = true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, plain, true
		case c == '\\':
			plain = false
			s.i += 2
		case c < 0x20:
			return nil, false, false
		case c >= 0x80:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, false, false
			}
			s.i += n
		default:
			s.i++
		}
	}
	return nil, false, false
}

// str reads and decodes a JSON string.
func (s *scanner) str() (string, bool) {
	raw, plain, ok := s.raw()
	switch {
	case !ok:
		return "", false
	case plain:
		return string(raw), true
	}
	return unescape(raw)
}

// key reads an object's key without a copy (compared as string(key), which
// Go does without one); a key with escapes declines.
func (s *scanner) key() ([]byte, bool) {
	raw, plain, ok := s.raw()
	if !ok || !plain || !s.next(':') {
		return nil, false
	}
	return raw, true
}

// unescape decodes a JSON string's escapes as encoding/json does, a lone
// surrogate becoming U+FFFD.
func unescape(raw []byte) (string, bool) {
	var out strings.Builder // one allocation, and String() does not copy
	out.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			out.WriteByte(raw[i+1])
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r, ok := hex4(raw, i+2)
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if lo, ok := hex4(raw, i+2); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
						out.WriteRune(dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out.WriteRune(r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return out.String(), true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// object reads an object, calling member with each key and the scanner at
// its value; member reads the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		key, ok := s.key()
		if !ok || !member(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// array reads an array, calling elem with the scanner at each element.
func (s *scanner) array(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// skip passes over any JSON value, checking its form.
func (s *scanner) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		raw, plain, ok := s.raw()
		if ok && !plain {
			_, ok = unescape(raw) // the escapes must be valid
		}
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

// nullable reads a string into *v, or null, which leaves *v as it was (as
// encoding/json does).
func (s *scanner) nullable(v *string) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	str, ok := s.str()
	*v = str
	return ok
}

func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// number checks JSON's number grammar.
func (s *scanner) number() bool {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	first := s.i
	if n := digits(); n == 0 || n > 1 && s.b[first] == '0' {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return s.i > start
}

// scanRecords is the one-pass reader; ok is false whenever encoding/json
// should decide.
func scanRecords(b []byte) (recs []record, ok bool) {
	s := &scanner{b: b}
	seen := false
	ok = s.object(func(key []byte) bool {
		switch {
		case string(key) == "Records":
			if seen {
				return false // a repeated key: let encoding/json's rule decide
			}
			seen = true
			var ok bool
			recs, ok = s.records()
			return ok
		case foldEqual(key, "Records"):
			return false
		}
		return s.skip(0)
	})
	s.ws()
	return recs, ok && s.i == len(b)
}

func (s *scanner) records() ([]record, bool) {
	if s.peek() == 'n' {
		return nil, s.lit("null")
	}
	recs := make([]record, 0, bytes.Count(s.b[s.i:], []byte(`"messageId"`))) // sized once
	ok := s.array(func() bool {
		var r record
		if !s.record(&r) {
			return false
		}
		recs = append(recs, r)
		return true
	})
	return recs, ok
}

// recordFields are the record's keys the pusher reads.
var recordFields = [...]string{"messageId", "body", "eventSource", "attributes"}

// record reads one record object; a field set twice keeps the last, as
// encoding/json does.
func (s *scanner) record(r *record) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "messageId":
			return s.nullable(&r.MessageID)
		case "body":
			return s.nullable(&r.Body)
		case "eventSource":
			return s.nullable(&r.EventSource)
		case "attributes":
			return s.attributes(r)
		}
		for _, k := range recordFields {
			if foldEqual(key, k) {
				return false
			}
		}
		return s.skip(0)
	})
}

func (s *scanner) attributes(r *record) bool {
	if s.peek() == 'n' {
		return s.lit("null")
	}
	return s.object(func(key []byte) bool {
		switch {
		case string(key) == "SentTimestamp":
			return s.nullable(&r.Attributes.SentTimestamp)
		case foldEqual(key, "SentTimestamp"):
			return false
		}
		return s.skip(1)
	})
}

// foldEqual is ASCII case-insensitive equality, as encoding/json matches keys
// (for these ASCII names).
func foldEqual(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
