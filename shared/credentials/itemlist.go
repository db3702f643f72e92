package credentials

import "encoding/json"

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
	*l = items
	return nil
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
