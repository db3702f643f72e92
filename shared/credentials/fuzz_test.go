package credentials

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalize: the distinct items are valid, unique, and a fixed point.
func FuzzNormalize(f *testing.F) {
	f.Add("0xABCDEFabcdef0123456789abcdef0123456789AB\n alice@example.com \n0x12\n\n")
	f.Add("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq\x00\nx")
	f.Fuzz(func(t *testing.T, joined string) {
		items := strings.Split(joined, "\n")
		distinct, invalid := Normalize(items)
		if len(distinct)+len(invalid) > len(items) {
			t.Fatalf("%d distinct + %d invalid > %d items", len(distinct), len(invalid), len(items))
		}
		seen := map[string]bool{}
		for _, it := range distinct {
			if seen[it] {
				t.Fatalf("duplicate %q", it)
			}
			seen[it] = true
			if check(it) != "" {
				t.Fatalf("kept an invalid item %q", it)
			}
		}
		again, bad := Normalize(distinct)
		if len(bad) != 0 || len(again) != len(distinct) {
			t.Fatalf("not a fixed point: %q -> %q", distinct, again)
		}
		for i, iv := range invalid {
			if iv.Index < 0 || iv.Index >= len(items) || (i > 0 && iv.Index <= invalid[i-1].Index) || iv.Reason == "" {
				t.Fatalf("bad invalid entry %+v", iv)
			}
		}
	})
}

// FuzzItemList: items decoded from any JSON array are kept only when they
// are valid text (checked on the raw bytes: the decoder's replacement
// characters never pass), free of control and format characters,
// noncharacters and U+FFFD, and
// addresses are 0x lower-case.
func FuzzItemList(f *testing.F) {
	f.Add([]byte(`["0XABCDEFabcdef0123456789abcdef0123456789AB","a@b.c"]`))
	f.Add([]byte("[\"bad\xff\",\"ok\"]"))
	f.Add([]byte(`["a\ud800b","\ud83d\ude00","x\u200by","\u00ad"]`))
	f.Add([]byte(`[ "a" , ["nested"], {"o":1} ]`))
	f.Add([]byte(`["a\ufffeb","\udbff\udfff","\ufdd0","\ufffd"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l List
		if json.Unmarshal(data, &l) != nil {
			return
		}
		distinct, invalid := Normalize(l)
		for _, it := range distinct {
			if !utf8.ValidString(it) || strings.ContainsRune(it, utf8.RuneError) {
				t.Fatalf("kept %q, not valid text or marked as damaged", it)
			}
			if strings.IndexFunc(it, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || isNoncharacter(r) }) >= 0 {
				t.Fatalf("kept %q with a control, format or noncharacter", it)
			}
			if len(it) >= 2 && it[0] == '0' && (it[1] == 'x' || it[1] == 'X') && it != strings.ToLower(it) {
				t.Fatalf("kept the address %q not lower-cased", it)
			}
		}
		if !utf8.Valid(data) && len(invalid) == 0 {
			t.Fatalf("raw bytes that are not UTF-8 passed: %q", data)
		}
	})
}
