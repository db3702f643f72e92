package galxe

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// FuzzClassify: any answer is either data (JSON) or one complete *Error.
func FuzzClassify(f *testing.F) {
	f.Add(200, "", []byte(`{"data":{"__typename":"Query"}}`))
	f.Add(429, "3", []byte(`{"errors":[{"message":"API quota exceeded: daily limit reached","extensions":{"code":"QUOTA_EXCEEDED","category":"RATE_LIMIT","http_status":429,"request_id":"req_1","details":["quota_type: daily"]}}]}`))
	f.Add(200, "", []byte(`{"errors":[{"message":"no healthy upstream","extensions":{"code":"Unavailable"}}],"data":{"x":null}}`))
	f.Add(502, "Wed, 21 Oct 2015 07:28:00 GMT", []byte("<html>502 Bad Gateway</html>"))
	f.Add(503, "", []byte{})
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		data, gerr := classify(status, h, body, time.Unix(1_700_000_000, 0))
		if gerr == nil {
			if !json.Valid(data) {
				t.Fatalf("data that is not JSON: %q", data)
			}
			return
		}
		if data != nil {
			t.Fatal("both data and an error")
		}
		if gerr.Code == "" || gerr.Category == "" || gerr.Message == "" {
			t.Fatalf("incomplete error %+v", gerr)
		}
		if gerr.RetryAfter < 0 || gerr.RetryAfter > maxRetryAfter {
			t.Fatalf("Retry-After %v", gerr.RetryAfter)
		}
		if gerr.QuotaSpent && gerr.Retryable() {
			t.Fatal("a spent quota marked retryable")
		}
		_ = gerr.Error()
	})
}

// FuzzParseRetryAfter: any header value gives a wait within bounds.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.5", "-1", "NaN", "Inf", "1e400", "Fri, 27 Nov 2026 12:00:07 GMT", "Sunday, 06-Nov-94 08:49:37 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, time.Unix(1_700_000_000, 0))
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("%q -> %v", v, d)
		}
	})
}
