package dynamotest

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// minidyn computes numbers as float64 and, on UpdateItem, writes back every
// attribute of the item through float64 (an untouched
// "12345678901234567891" comes back "12345678901234567000"). The stand-in
// keeps the attributes an update does not name exactly as they were, and
// refuses numbers float64 cannot hold exactly (over 15 significant digits)
// where the engine would compute with them: in expression values and in the
// attributes an update writes.

// maxEngineDigits is the most significant digits a number may have to
// survive a trip through float64.
const maxEngineDigits = 15

var updateKeyword = regexp.MustCompile(`(?i)\b(SET|REMOVE|ADD|DELETE)\b`)

// target is a document path an update expression writes: its top-level
// attribute name, its elements (names resolved, indexes as "[n]"), and
// whether the update removes the attribute whole (REMOVE name).
type target struct {
	name    string
	path    []string
	removed bool
}

// clause is one action of an update expression: its section's keyword
// (SET, REMOVE, ADD, DELETE) and its text ("a = :v", "used :n").
type clause struct{ keyword, text string }

// clauses splits an update expression into its actions. Sections start at
// a keyword outside parentheses (SET, REMOVE, ADD and DELETE are reserved
// words: no bare attribute name is one).
func clauses(expr string) []clause {
	var starts [][2]int // keyword start, body start
	for _, m := range updateKeyword.FindAllStringIndex(expr, -1) {
		if m[0] > 0 && strings.ContainsRune("#:.", rune(expr[m[0]-1])) || depth(expr[:m[0]]) != 0 {
			continue
		}
		starts = append(starts, [2]int{m[0], m[1]})
	}
	var out []clause
	for i, st := range starts {
		end := len(expr)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		keyword := strings.ToUpper(expr[st[0]:st[1]])
		for _, text := range splitTop(expr[st[1]:end]) {
			out = append(out, clause{keyword, strings.TrimSpace(text)})
		}
	}
	return out
}

// updateTargets are the document paths an update expression writes.
func updateTargets(expr string, names map[string]string) []target {
	var targets []target
	for _, c := range clauses(expr) {
		path := c.text
		if c.keyword == "SET" {
			path, _, _ = strings.Cut(c.text, "=")
		} else if f := strings.Fields(c.text); len(f) > 0 {
			path = f[0]
		}
		if p := parsePath(path, names); p[0] != "" {
			targets = append(targets, target{name: p[0], path: p, removed: c.keyword == "REMOVE" && len(p) == 1})
		}
	}
	return targets
}

// operandTypes are DynamoDB's names for the types ADD and DELETE refuse.
var operandTypes = map[string]string{"S": "STRING", "N": "NUMBER", "B": "BINARY", "NULL": "NULL", "BOOL": "BOOLEAN", "L": "LIST", "M": "MAP"}

// checkOperands refuses ADD and DELETE of what they do not take: ADD takes
// a number or a set, DELETE a set.
func checkOperands(expr string, values map[string]*av) *apiError {
	for _, c := range clauses(expr) {
		f := strings.Fields(c.text)
		if c.keyword != "ADD" && c.keyword != "DELETE" || len(f) < 2 {
			continue
		}
		typ := typeOf(values[f[1]])
		if name, ok := operandTypes[typ]; ok && (c.keyword != "ADD" || typ != "N") {
			return validation("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: " + c.keyword + ", operand type: " + name)
		}
	}
	return nil
}

// parsePath splits a document path ("#m.k[2]") into its elements ("m",
// "k", "[2]").
func parsePath(p string, names map[string]string) []string {
	var out []string
	for part := range strings.SplitSeq(p, ".") {
		name, indexes, _ := strings.Cut(part, "[")
		name = strings.TrimSpace(name)
		if strings.HasPrefix(name, "#") {
			name = names[name]
		}
		out = append(out, name)
		if indexes != "" {
			for idx := range strings.SplitSeq(indexes, "[") {
				out = append(out, "["+strings.TrimSpace(strings.Trim(strings.TrimSpace(idx), "]"))+"]")
			}
		}
	}
	return out
}

// checkOverlap refuses an update that writes a path twice, or a path and
// a part of it.
func checkOverlap(targets []target) *apiError {
	for i, a := range targets {
		for _, b := range targets[i+1:] {
			n := min(len(a.path), len(b.path))
			if slices.Equal(a.path[:n], b.path[:n]) {
				return validation("Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [" +
					strings.Join(a.path, ", ") + "], path two: [" + strings.Join(b.path, ", ") + "]")
			}
		}
	}
	return nil
}

// depth is the parenthesis depth at the end of s.
func depth(s string) int {
	return strings.Count(s, "(") - strings.Count(s, ")")
}

// splitTop splits s at the commas outside parentheses.
func splitTop(s string) []string {
	var parts []string
	d, from := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			d++
		case ')':
			d--
		case ',':
			if d == 0 {
				parts = append(parts, s[from:i])
				from = i + 1
			}
		}
	}
	return append(parts, s[from:])
}

// merged is the item after an update: the engine's values for the
// attributes the update names, the old ones, exactly, for the rest. (The
// engine also leaves an attribute that REMOVE names whole: minidyn v0.8.2
// drops it from its variables, not from the item.)
func merged(old, key, updated map[string]*av, targets []target) map[string]*av {
	out := copyItem(old)
	if out == nil {
		out = copyItem(key)
	}
	for _, t := range targets {
		if v, ok := updated[t.name]; ok && !t.removed {
			out[t.name] = v
		} else {
			delete(out, t.name)
		}
	}
	return out
}

// returnValues is what UpdateItem answers for ReturnValues. UPDATED_OLD and
// UPDATED_NEW hold the top-level attributes the update names (DynamoDB
// returns only the nested part a path such as a.b names).
func returnValues(rv string, old, updated map[string]*av, targets []target) map[string]*av {
	switch rv {
	case "ALL_OLD":
		return old
	case "ALL_NEW":
		return updated
	case "UPDATED_OLD", "UPDATED_NEW":
		from := old
		if rv == "UPDATED_NEW" {
			from = updated
		}
		out := map[string]*av{}
		for _, t := range targets {
			if v, ok := from[t.name]; ok {
				out[t.name] = v
			}
		}
		return out
	}
	return nil
}

// sameItem reports whether two items are equal as stored.
func sameItem(a, b map[string]*av) bool { return reflect.DeepEqual(a, b) }

// engineNumbers refuses numbers the engine would compute with inexactly.
func engineNumbers(where string, m map[string]*av) *apiError {
	for _, k := range sortedKeys(m) {
		if n := longNumber(m[k]); n != "" {
			return validation("dynamotest: the number " + n + " in " + where + " " + k + " has more than 15 significant digits, which minidyn computes with inexactly (float64)")
		}
	}
	return nil
}

// longNumber is the first number in v with more than maxEngineDigits
// significant digits, or "".
func longNumber(v *av) string {
	if v == nil {
		return ""
	}
	nums := v.NS
	if v.N != nil {
		nums = []*string{v.N}
	}
	for _, p := range nums {
		if n, msg := parseNumber(*p); msg == "" && len(n.digits) > maxEngineDigits {
			return *p
		}
	}
	for _, e := range v.L {
		if n := longNumber(e); n != "" {
			return n
		}
	}
	for _, k := range sortedKeys(v.M) {
		if n := longNumber(v.M[k]); n != "" {
			return n
		}
	}
	return ""
}
