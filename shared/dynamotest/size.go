package dynamotest

import (
	"regexp"
	"strconv"
	"strings"
)

// Item sizes as DynamoDB counts them toward its 400 KB limit: each
// attribute's name (UTF-8 bytes) and value. Strings and binaries count
// their bytes, numbers about one byte per two significant digits plus one,
// booleans and nulls one byte, sets the sum of their elements, and lists and
// maps 3 bytes plus one byte per element plus the elements (a map's keys
// counted like attribute names).

func itemSize(item map[string]*av) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v *av) int {
	switch {
	case v == nil:
		return 0
	case v.S != nil:
		return len(*v.S)
	case v.N != nil:
		return numberSize(*v.N)
	case v.B != nil:
		return len(v.B)
	case v.BOOL != nil, v.NULL != nil:
		return 1
	case v.SS != nil:
		n := 0
		for _, s := range v.SS {
			n += len(*s)
		}
		return n
	case v.NS != nil:
		n := 0
		for _, s := range v.NS {
			n += numberSize(*s)
		}
		return n
	case v.BS != nil:
		n := 0
		for _, b := range v.BS {
			n += len(b)
		}
		return n
	case v.L != nil:
		n := 3
		for _, e := range v.L {
			n += 1 + valueSize(e)
		}
		return n
	case v.M != nil:
		return 3 + len(v.M) + itemSize(v.M)
	}
	return 0
}

// number is a DynamoDB number: significant digits (no leading or trailing
// zeros; "0" for zero) and the decimal exponent of the first, so that the
// value is d.ddd × 10^exp.
type number struct {
	neg    bool
	digits string
	exp    int
}

var numberPattern = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// parseNumber reads a number as DynamoDB does, with its complaint when it
// refuses it.
func parseNumber(s string) (number, string) {
	if !numberPattern.MatchString(s) {
		msg := "The parameter cannot be converted to a numeric value"
		if s != "" {
			msg += ": " + s
		}
		return number{}, msg
	}
	var n number
	if s[0] == '+' || s[0] == '-' {
		n.neg = s[0] == '-'
		s = s[1:]
	}
	mantissa, expPart, _ := strings.Cut(strings.ToLower(s), "e")
	e := 0
	if expPart != "" {
		var err error
		if e, err = strconv.Atoi(expPart); err != nil {
			return number{}, "Number overflow. Attempting to store a number with magnitude larger than supported range"
		}
	}
	intPart, frac, _ := strings.Cut(mantissa, ".")
	digits := intPart + frac
	point := len(intPart)
	trimmed := strings.TrimLeft(digits, "0")
	point -= len(digits) - len(trimmed)
	trimmed = strings.TrimRight(trimmed, "0")
	if trimmed == "" {
		return number{digits: "0"}, ""
	}
	n.digits, n.exp = trimmed, point-1+e
	switch {
	case n.exp > 125:
		return number{}, "Number overflow. Attempting to store a number with magnitude larger than supported range"
	case n.exp < -130:
		return number{}, "Number underflow. Attempting to store a number with magnitude smaller than supported range"
	case len(n.digits) > 38:
		return number{}, "Attempting to store more than 38 significant digits in a Number"
	}
	return n, ""
}

// canonical is one spelling for equal numbers ("1", "1.0", "10E-1").
func (n number) canonical() string {
	sign := ""
	if n.neg {
		sign = "-"
	}
	return sign + n.digits + "e" + strconv.Itoa(n.exp)
}

// plain is the number as DynamoDB answers it: no exponent, no leading or
// trailing zeros ("1E+3" is "1000", "0.50" is "0.5").
func (n number) plain() string {
	d, s := n.digits, ""
	switch {
	case d == "0" || d == "":
		return "0"
	case n.exp < 0:
		s = "0." + strings.Repeat("0", -n.exp-1) + d
	case n.exp+1 >= len(d):
		s = d + strings.Repeat("0", n.exp+1-len(d))
	default:
		s = d[:n.exp+1] + "." + d[n.exp+1:]
	}
	if n.neg {
		s = "-" + s
	}
	return s
}

// numberSize is the bytes a number takes: DynamoDB stores base-100 digit
// pairs aligned on the exponent, a byte for the exponent, one more for a
// negative number's terminator (the rule dynalite measured).
func numberSize(s string) int {
	n, msg := parseNumber(s)
	if msg != "" || n.digits == "0" {
		return 1
	}
	size := 1 + (len(n.digits)+1)/2
	if len(n.digits)%2 == 0 && n.exp%2 == 0 {
		size++
	}
	if n.neg {
		size++
	}
	return size
}

// LargestItems is, for a table, the size of its largest item of each kind
// (the key's text before its first '#'), as DynamoDB counts an item's size:
// what a write or a read of it costs in request units.
func (s *Server) LargestItems(table string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[table]
	if t == nil {
		return nil
	}
	items, err := s.scanAll(t)
	if err != nil {
		return nil
	}
	out := map[string]int{}
	for _, item := range items {
		kind := "other"
		if k := item[KeyAttribute]; k != nil && k.S != nil {
			kind, _, _ = strings.Cut(*k.S, "#")
		}
		out[kind] = max(out[kind], itemSize(item))
	}
	return out
}
