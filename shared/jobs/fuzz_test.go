package jobs

import "testing"

// FuzzParse: any input is a known job or ErrBadInput, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"job":"canary","credId":"1"}`))
	f.Add([]byte(`{"detail-type":"Scheduled Event","detail":{}}`))
	f.Add([]byte(`{"job":"operation","operation":"credentialHolders","variables":{"id":"1"},"allPages":true}`))
	f.Add([]byte(`{"detail-type":"x","detail":{"job":"credential-items","credId":"1","operation":"APPEND","items":["a"]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		j, err := Parse(raw)
		if err != nil {
			return
		}
		switch j.Job {
		case Canary, Operation, CredentialItems:
		default:
			t.Fatalf("accepted job %q", j.Job)
		}
	})
}
