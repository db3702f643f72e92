package credentials

import (
	"strings"
	"testing"
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
