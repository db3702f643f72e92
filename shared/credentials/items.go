// Package credentials validates credential items and pushes them to Galxe in
// batches: the one path both the webhook route and the scheduled job use.
package credentials

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Operations on a credential's items.
const (
	Append  = "APPEND"
	Remove  = "REMOVE"
	Replace = "REPLACE"
)

// BatchSize is Galxe's documented limit of items per credentialItems call.
const BatchSize = 500

// MaxItemBytes is the longest item accepted.
const MaxItemBytes = 256

// Invalid is one rejected item: its index in the request and why.
type Invalid struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// hasAddressPrefix reports whether s starts with 0x or 0X.
func hasAddressPrefix(s string) bool {
	return len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}

// isEVMAddress reports whether s is 0x (or 0X) and 40 hex digits.
func isEVMAddress(s string) bool {
	if len(s) != 42 || !hasAddressPrefix(s) {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ValidOperation reports whether op is APPEND, REMOVE or REPLACE.
func ValidOperation(op string) bool { return op == Append || op == Remove || op == Replace }

// ValidCredID reports whether id is a credential id: a string of digits.
func ValidCredID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// Normalize trims each item, lower-cases EVM addresses (0x or 0X), drops duplicates
// (after normalising) and lists every invalid item. Items that are not 0x
// addresses (emails, other chains' addresses) are kept as they are. The
// distinct items come back sorted: a credential is a set, and sorting
// de-duplicates in place, where a set of 100,000 strings would cost
// megabytes more. Normalize reuses the items' array: the caller's slice
// holds the distinct items in its first len(distinct) places afterwards.
func Normalize(items []string) (distinct []string, invalid []Invalid) {
	distinct = items[:0]
	for i, raw := range items {
		it := strings.TrimSpace(raw)
		if reason := check(it); reason != "" {
			invalid = append(invalid, Invalid{Index: i, Reason: reason})
			continue
		}
		if hasAddressPrefix(it) {
			it = strings.ToLower(it) // 0X too; no copy when it is lower-case already
		}
		distinct = append(distinct, it)
	}
	slices.Sort(distinct)
	return slices.Compact(distinct), invalid
}

// isFormat matches Unicode's format characters (category Cf): zero-width
// spaces and joiners, direction overrides, soft hyphens. They make two
// items that look the same differ.
func isFormat(r rune) bool { return r >= 0x80 && unicode.Is(unicode.Cf, r) }

// isNoncharacter matches Unicode's noncharacters: U+FDD0 to U+FDEF and
// the last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE, …).
// They are for a program's internal use, never for interchange (SQS
// refuses U+FFFE and U+FFFF in a message body).
func isNoncharacter(r rune) bool { return r >= 0xFDD0 && r <= 0xFDEF || r&0xFFFE == 0xFFFE }

func check(it string) string {
	switch {
	case it == "":
		return "empty"
	case len(it) > MaxItemBytes:
		return fmt.Sprintf("longer than %d bytes", MaxItemBytes)
	case !utf8.ValidString(it):
		return "not valid UTF-8"
	}
	for _, r := range it {
		if why := unwanted(r); why != "" {
			return why
		}
	}
	if hasAddressPrefix(it) && !isEVMAddress(it) {
		return "starts with 0x but is not a 40-hex-digit EVM address"
	}
	return ""
}

// unwanted says why a character has no place in an item, or "".
func unwanted(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "contains a control character"
	case r < utf8.RuneSelf:
		return ""
	case isFormat(r):
		return fmt.Sprintf("contains an invisible format character (U+%04X)", r)
	case isNoncharacter(r):
		return fmt.Sprintf("contains a Unicode noncharacter (U+%04X)", r)
	case r == utf8.RuneError: // valid UTF-8 here: the item arrived holding it
		return "contains U+FFFD, the replacement character (the mark of text that was not valid where it came from)"
	}
	return ""
}
