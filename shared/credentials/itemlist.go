package credentials

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// List is a JSON array of items that decodes into a slice sized once: a
// request of 100,000 items otherwise grows its slice step by step and
// leaves megabytes of discarded arrays behind.
type List []string

// UnmarshalJSON counts the array's elements, then decodes into a slice of
// that capacity (encoding/json appends into the capacity it is given).
func (l *List) UnmarshalJSON(b []byte) error {
	items := make([]string, 0, countElements(b))
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	// encoding/json replaces invalid UTF-8 and lone surrogate escapes with
	// U+FFFD, which would then pass as a real character: an item whose raw
	// bytes are not valid text is marked so that validation refuses it.
	if !utf8.Valid(b) || bytes.Contains(b, []byte(`\u`)) { // the common case costs two fast passes
		for _, i := range corruptElements(b) {
			if i < len(items) {
				items[i] = invalidUTF8
			}
		}
	}
	*l = items
	return nil
}

// invalidUTF8 stands in for an item whose raw bytes were not valid text:
// it is itself invalid UTF-8, so check reports it as such.
const invalidUTF8 = "\xff"

// corruptElements lists the indexes of the top-level string elements of a
// JSON array whose raw bytes are not valid UTF-8 or that hold a \u escape
// of half a surrogate pair. It costs one pass over the bytes.
func corruptElements(b []byte) []int {
	var bad []int
	depth, index, start := 0, 0, -1
	for i := 0; i < len(b); i++ {
		c := b[i]
		if start >= 0 { // inside a top-level string
			switch c {
			case '\\':
				i++
			case '"':
				if !validText(b[start:i]) {
					bad = append(bad, index)
				}
				start = -1
			}
			continue
		}
		switch c {
		case '"':
			if depth == 1 {
				start = i + 1
			} else {
				i = skipString(b, i)
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				index++
			}
		}
	}
	return bad
}

// skipString returns the index of the quote closing the string opened at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

// validText reports whether a JSON string's raw contents are valid UTF-8
// whose \u escapes pair their surrogates.
func validText(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i < len(raw)-1; i++ { // json.Unmarshal has checked the escapes' form
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			return false
		}
		if utf16.IsSurrogate(rune(r)) {
			low, ok := hex4(raw, i+8)
			if r >= 0xDC00 || !ok || raw[i+6] != '\\' || raw[i+7] != 'u' ||
				utf16.DecodeRune(rune(r), rune(low)) == utf8.RuneError {
				return false
			}
			i += 6
		}
		i += 5
	}
	return true
}

// hex4 reads the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (uint64, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[i:i+4]), 16, 32)
	return v, err == nil
}

// countElements counts the top-level elements of a JSON array (an upper
// bound for anything that is not a well-formed array, which json.Unmarshal
// then rejects).
func countElements(b []byte) int {
	depth, n, inString, escaped, empty := 0, 0, false, false, true
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 1:
			n++
		}
		if depth >= 1 && c != '[' && c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n + 1
}
