package credentials

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	in := []string{
		" 0xABCDEFabcdef0123456789abcdef0123456789AB ", // trimmed, lower-cased
		"0xabcdefabcdef0123456789abcdef0123456789ab",   // duplicate after normalising
		"Alice@Example.com",                            // kept as it is
		"alice@example.com",                            // a different item
		"",                                             // empty
		"0x12",                                         // short address
		"0x" + strings.Repeat("g", 40),                 // not hex
		strings.Repeat("a", 257),                       // too long
		"new\nline",                                    // control character
		"\xff\xfe",                                     // not UTF-8
		"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", // another chain: kept
	}
	got, invalid := Normalize(in)
	want := []string{"0xabcdefabcdef0123456789abcdef0123456789ab", "Alice@Example.com", "alice@example.com",
		"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}
	if !slices.Equal(got, want) {
		t.Errorf("distinct = %q", got)
	}
	var idx []int
	for _, iv := range invalid {
		idx = append(idx, iv.Index)
		if iv.Reason == "" {
			t.Errorf("item %d without a reason", iv.Index)
		}
	}
	if fmt.Sprint(idx) != "[4 5 6 7 8 9]" {
		t.Errorf("invalid indexes %v", idx)
	}
}

func TestSplitKeepsEveryItemOnce(t *testing.T) {
	for _, n := range []int{0, 1, 499, 500, 501, 1234, 100000} {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprint(i)
		}
		batches := split(items)
		seen := 0
		for _, b := range batches {
			if len(b) == 0 || len(b) > BatchSize {
				t.Fatalf("n=%d: batch of %d", n, len(b))
			}
			for _, it := range b {
				if it != fmt.Sprint(seen) {
					t.Fatalf("n=%d: item %s out of place", n, it)
				}
				seen++
			}
		}
		if seen != n || len(batches) != (n+BatchSize-1)/BatchSize {
			t.Fatalf("n=%d: %d items in %d batches", n, seen, len(batches))
		}
	}
}

// Noncharacters and U+FFFD are refused like format characters, naming the
// code point, whether they came as raw bytes or as JSON escapes.
func TestNoncharactersAndReplacementCharacterRefused(t *testing.T) {
	cases := map[string]string{
		`"a\ufdd0b"`:               "U+FDD0",
		"\"a\uFDEFb\"":             "U+FDEF",
		`"a\ufffeb"`:               "U+FFFE",
		"\"a\uFFFFb\"":             "U+FFFF",
		`"a\ud83f\udffeb"`:         "U+1FFFE",
		"\"a\U0010FFFFb\"":         "U+10FFFF",
		`"a\ufffdb"`:               "U+FFFD",
		"\"a\uFFFDb\"":             "U+FFFD",
		"\"a\xffb\"":               "not valid UTF-8",
		`"a\ud800b"`:               "not valid UTF-8",
		"\"a\uFDCF\uFDF0\uFFFCb\"": "", // neighbours of the noncharacters are ordinary
		"\"a\U0001FFFDb\"":         "", // and so is the plane's last character
	}
	for raw, want := range cases {
		var l List
		if err := json.Unmarshal([]byte("["+raw+"]"), &l); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		_, invalid := Normalize(l)
		switch {
		case want == "" && len(invalid) != 0:
			t.Errorf("%s refused: %s", raw, invalid[0].Reason)
		case want != "" && (len(invalid) != 1 || !strings.Contains(invalid[0].Reason, want)):
			t.Errorf("%s: %+v, want a reason naming %s", raw, invalid, want)
		}
	}
}
