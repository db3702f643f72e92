package apigw

import (
	"encoding/json"
	"testing"
)

// FuzzParse: no event, however malformed, panics; a parsed one is complete.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"version":"2.0","rawPath":"/health","requestContext":{"stage":"$default","http":{"method":"GET"}}}`))
	f.Add([]byte(`{"httpMethod":"POST","path":"/x","body":"e30=","isBase64Encoded":true,"multiValueHeaders":{"A":["1","2"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			return
		}
		if r.Version != V1 && r.Version != V2 {
			t.Fatalf("version %d", r.Version)
		}
		if r.Header == nil {
			t.Fatal("nil header")
		}
		// A response for it always renders as JSON.
		if _, err := json.Marshal(JSON(200, map[string]string{"path": r.Path}).For(r.Version)); err != nil {
			t.Fatal(err)
		}
	})
}
