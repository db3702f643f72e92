package dynamotest

import (
	"net"
	"net/http"
	"time"
)

// Fault is a failure the server gives instead of an answer.
type Fault struct {
	// Code is the error's name ("ProvisionedThroughputExceededException",
	// "ThrottlingException", "InternalServerError", "RequestLimitExceeded",
	// ...). Empty with a Delay: the answer is only late.
	Code string
	// Status is the HTTP status; 0: DynamoDB's for the code (500 for
	// InternalServerError, 503 for ServiceUnavailable, else 400).
	Status int
	// Message is the error's text; empty: a short one naming the code.
	Message string
	// Delay holds the answer (or the error) back.
	Delay time.Duration
	// Hang gives no answer at all: the request waits until the client gives
	// up or the server closes.
	Hang bool
}

// The faults DynamoDB gives under load or in trouble.
var (
	// ThroughputExceeded is the throttle of a table or partition past its
	// capacity (on-demand tables too, past twice their previous peak).
	ThroughputExceeded = Fault{Code: "ProvisionedThroughputExceededException",
		Message: "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}
	// Throttled is the newer throttle of an on-demand table.
	Throttled = Fault{Code: "ThrottlingException",
		Message: "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly."}
	// InternalError is DynamoDB's 500.
	InternalError = Fault{Code: "InternalServerError", Message: "Internal server error"}
	// Hang is a request never answered.
	Hang = Fault{Hang: true}
)

// Slow is an answer held back by d, then given as usual.
func Slow(d time.Duration) Fault { return Fault{Delay: d} }

// Fail makes the next len(faults) calls of action ("PutItem", ...) fail, in
// order.
func (s *Server) Fail(action string, faults ...Fault) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults[action] = append(s.faults[action], faults...)
}

// Calls reports how many calls of action reached the server, faults
// included (none reach it while it is down).
func (s *Server) Calls(action string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.calls[action]
}

// SetDown takes the server off the network until set back: every open
// connection is reset, and so is each new one as soon as it is accepted
// (the client sees "connection reset by peer").
func (s *Server) SetDown(down bool) {
	s.down.Store(down)
	if !down {
		return
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	for c := range s.conns {
		reset(c)
	}
}

// injectFault counts the call and answers it with the action's next
// fault, if any; true when it answered.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, action string) bool {
	s.fmu.Lock()
	s.calls[action]++
	var f *Fault
	if q := s.faults[action]; len(q) > 0 {
		f, s.faults[action] = &q[0], q[1:]
	}
	s.fmu.Unlock()
	if f == nil {
		return false
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		panic(http.ErrAbortHandler)
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-s.closed:
			panic(http.ErrAbortHandler)
		}
	}
	if f.Code == "" {
		return false
	}
	status := f.Status
	if status == 0 {
		status = map[string]int{"InternalServerError": 500, "ServiceUnavailable": 503}[f.Code]
	}
	if status == 0 {
		status = 400
	}
	msg := f.Message
	if msg == "" {
		msg = "dynamotest: injected " + f.Code
	}
	writeError(w, &apiError{status: status, code: f.Code, message: msg})
	return true
}

// gateListener resets the connections it accepts while the server is down.
type gateListener struct {
	net.Listener
	s *Server
}

func (l gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.s.down.Load() {
			return c, err
		}
		reset(c)
	}
}

// track keeps the open connections, for SetDown.
func (s *Server) track(c net.Conn, state http.ConnState) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	switch state {
	case http.StateNew:
		s.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// reset closes c with a TCP reset rather than an orderly close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// resetRequest resets the connection a request came on (the server went
// down while it was on its way).
func resetRequest(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			reset(c)
			return
		}
	}
	panic(http.ErrAbortHandler)
}
