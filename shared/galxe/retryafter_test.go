package galxe

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 2 ":                           2 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"0":                             0,
		"-5":                            0,
		"NaN":                           0,
		"soon":                          0,
		"99999999999999999999":          maxRetryAfter,
		"1e308":                         maxRetryAfter,
		"Fri, 27 Nov 2026 12:00:07 GMT": 7 * time.Second,
		"Fri, 27 Nov 2026 11:59:00 GMT": 0,             // in the past
		"Sat, 27 Nov 2100 12:00:00 GMT": maxRetryAfter, // absurdly far
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
