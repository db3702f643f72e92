package galxetest

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is what the server answers instead of executing a request.
// With Code or Message set it answers Galxe's error envelope; with Raw set,
// those bytes as they are.
type Fault struct {
	Status     int // HTTP status; 0: Galxe's documented status for Code (200 for Raw)
	Code       string
	Category   string
	ExtStatus  int // extensions.http_status; 0: none
	Message    string
	Details    []string
	Raw        []byte // a body of any shape: HTML, empty, truncated JSON
	RawSet     bool   // send Raw even when empty
	RetryAfter string // the Retry-After header, seconds or an HTTP date
	Delay      time.Duration
	Hang       bool // never answer; the client must give up
	Reset      bool // drop the connection without an answer
	Oversize   int  // a body of this many bytes (a JSON string that never ends), its length declared
	Chunked    bool // with Oversize: the length not declared, as a stream sends it
}

// Documented is galxe-api.md's error table: code, category, HTTP status
// and a message in Galxe's words.
var Documented = map[string]Fault{
	"TOKEN_REQUIRED":            {Category: "AUTHENTICATION", Status: 401, Message: "Access token is required"},
	"INVALID_TOKEN":             {Category: "AUTHENTICATION", Status: 401, Message: "Invalid access token: invalid token"},
	"QUOTA_EXCEEDED":            {Category: "RATE_LIMIT", Status: 429, Message: "Rate limit exceeded", Details: []string{"quota_type: per_second"}},
	"PERMISSION_DENIED":         {Category: "AUTHORIZATION", Status: 403, Message: "Permission denied: the wallet is not an admin of the space"},
	"NOT_FOUND":                 {Category: "NOT_FOUND", Status: 404, Message: "Resource not found"},
	"INVALID_ARGUMENT":          {Category: "VALIDATION", Status: 400, Message: "Invalid argument"},
	"INVALID_ADDRESS":           {Category: "VALIDATION", Status: 400, Message: "Invalid address"},
	"COMPLEXITY_LIMIT_EXCEEDED": {Category: "VALIDATION", Status: 400, Message: "Query complexity limit exceeded: 1500 > 1000"},
	"DEPTH_LIMIT_EXCEEDED":      {Category: "VALIDATION", Status: 400, Message: "Query depth limit exceeded"},
	"SPACE_NOT_FOUND":           {Category: "NOT_FOUND", Status: 404, Message: "Space not found: 1"},
	"QUEST_NOT_FOUND":           {Category: "NOT_FOUND", Status: 404, Message: "Quest not found: GC1"},
	"CREDENTIAL_NOT_FOUND":      {Category: "NOT_FOUND", Status: 404, Message: "Credential not found: 1"},
	"USER_NOT_FOUND":            {Category: "NOT_FOUND", Status: 404, Message: "User not found"},
	"INTERNAL_ERROR":            {Category: "INTERNAL", Status: 500, Message: "Internal server error"},
	"UNAVAILABLE":               {Category: "UNAVAILABLE", Status: 503, Message: "Service unavailable"},
}

// ErrorFault is Galxe's documented answer for code.
func ErrorFault(code string) Fault {
	f := Documented[code]
	f.Code = code
	f.ExtStatus = f.Status
	return f
}

// QuotaSpent is the answer for a spent daily or monthly quota.
func QuotaSpent(period string) Fault {
	return Fault{Code: "QUOTA_EXCEEDED", Category: "RATE_LIMIT", Status: 429, ExtStatus: 429,
		Message: "API quota exceeded: " + period + " limit reached", Details: []string{"quota_type: " + period, "limit: 1000"}}
}

// NoHealthyUpstream is the outage seen in the wild: HTTP 200, a mixed-case
// code, no category, and data with nulls.
func NoHealthyUpstream() Fault {
	return Fault{Status: 200, RawSet: true, Raw: []byte(`{"errors":[{"message":"no healthy upstream","extensions":{"code":"Unavailable"}}],"data":{"credential":null}}`)}
}

// HTMLPage is a load balancer's answer: an HTML page with a 5xx status.
func HTMLPage(status int) Fault {
	return Fault{Status: status, RawSet: true, Raw: []byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n")}
}

// Empty is a status with an empty body.
func Empty(status int) Fault { return Fault{Status: status, RawSet: true} }

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *Fault, reqID string) {
	if f.Delay > 0 && !s.sleep(r.Context(), f.Delay) {
		return
	}
	if f.Hang {
		<-mergeDone(r, s.closing)
		return
	}
	if f.Reset {
		resetConnection(w)
		return
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.Oversize > 0:
		w.Header().Set("Content-Type", "application/json")
		head := []byte(`{"data":{"x":"`)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		chunks := (f.Oversize + len(chunk) - 1) / len(chunk)
		if !f.Chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(head)+chunks*len(chunk)))
		}
		w.WriteHeader(statusOr(f.Status, 200))
		_, _ = w.Write(head)
		for range chunks {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case f.RawSet || f.Raw != nil:
		if bytes.HasPrefix(bytes.TrimSpace(f.Raw), []byte("<")) {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(statusOr(f.Status, 200))
		_, _ = w.Write(f.Raw)
	default:
		s.writeError(w, statusOr(f.Status, 200), reqID, *f)
	}
}

func statusOr(s, def int) int {
	if s == 0 {
		return def
	}
	return s
}

// writeError answers Galxe's error envelope.
func (s *Server) writeError(w http.ResponseWriter, status int, reqID string, f Fault) {
	ext := map[string]any{"request_id": reqID, "timestamp": time.Now().UTC().Format(time.RFC3339)}
	if f.Code != "" {
		ext["code"] = f.Code
	}
	if f.Category != "" {
		ext["category"] = f.Category
	}
	if f.ExtStatus != 0 {
		ext["http_status"] = f.ExtStatus
	} else if f.Code != "" && status != 200 {
		ext["http_status"] = status
	}
	if len(f.Details) > 0 {
		ext["details"] = f.Details
	}
	if s.opts.ErrorsUnder200 {
		status = 200
	}
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"message": f.Message, "extensions": ext}}, "data": nil})
}

func mergeDone(r *http.Request, closing <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		select {
		case <-r.Context().Done():
		case <-closing:
		}
		close(done)
	}()
	return done
}

// resetConnection closes the TCP connection with a reset, so the client sees
// "connection reset by peer" and no answer.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// Demo data, seeded unless Options.Empty: ids that events and tests share.
const (
	DemoCredentialID = "380512468497932288"
	DemoQuestID      = "GCdemo1xq1"
	DemoSpaceID      = 42
	DemoHolder       = "0x00000000000000000000000000000000000000a1"
)

func (s *Server) seed() {
	s.AddCredential(Credential{ID: DemoCredentialID, Name: "Early supporters", Description: "Wallets that joined in the first month",
		CredType: "EVM_ADDRESS", CredSource: "CSV", Chain: "ETHEREUM",
		Items: []string{DemoHolder, "0x00000000000000000000000000000000000000a2", "alice@example.com"}})
	s.AddSpace(Space{ID: DemoSpaceID, Name: "Demo space", Leaderboard: demoLeaderboard(120)})
	for i, st := range []string{"Active", "Active", "Expired"} {
		s.AddQuest(Quest{ID: DemoQuestID[:len(DemoQuestID)-1] + string(rune('1'+i)), Name: "Demo quest " + string(rune('A'+i)),
			Type: "Oat", Status: st, SpaceID: DemoSpaceID, Cap: 1000, Participants: int32(10 * (i + 1)),
			Credentials: []string{DemoCredentialID}})
	}
}

func demoLeaderboard(n int) []Rank {
	rows := make([]Rank, n)
	for i := range rows {
		hex := strings.Repeat("0", 38) + string("0123456789abcdef"[i/16%16]) + string("0123456789abcdef"[i%16])
		rows[i] = Rank{Points: int32(10000 - 50*i), Address: "0x" + hex, Username: "user" + string(rune('a'+i%26))}
	}
	return rows
}
