package sqstest

import (
	"net/http"
	"time"
)

// Fault is a failure the server gives instead of an answer.
type Fault struct {
	// Code is the error's name ("RequestThrottled", "InternalError",
	// "ServiceUnavailable"); Status its HTTP status (0: SQS's for that
	// code: 403 for RequestThrottled, 500 and 503 for the other two, else 400).
	Code   string
	Status int
	Delay  time.Duration
}

// faultStatus is the HTTP status SQS answers a code with.
var faultStatus = map[string]int{"RequestThrottled": 403, "InternalError": 500, "ServiceUnavailable": 503}

// Fail makes the next len(faults) calls of action fail, in order.
func (s *Server) Fail(action string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[action] = append(s.faults[action], faults...)
}

// FailEntries makes the next n entries of SendMessageBatch calls fail
// (SQS's partial failure: the call succeeds, those entries do not).
func (s *Server) FailEntries(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failEntries += n
}

// SetDown makes every call answer 503 until set back.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// injectFault counts the call and answers it with the outage or the
// action's next fault, if any; true when it answered.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, action string) bool {
	s.mu.Lock()
	s.calls[action]++
	down := s.down
	var fault *Fault
	if q := s.faults[action]; len(q) > 0 {
		fault, s.faults[action] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if down {
		writeError(w, &apiError{status: 503, shape: "ServiceUnavailable", message: "Service is unavailable. Try again later."})
		return true
	}
	if fault == nil {
		return false
	}
	if fault.Delay > 0 {
		select {
		case <-time.After(fault.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	if fault.Code == "" {
		return false
	}
	status := fault.Status
	if status == 0 {
		status = faultStatus[fault.Code]
	}
	if status == 0 {
		status = 400
	}
	writeError(w, &apiError{status: status, shape: fault.Code, senderSide: fault.Code == "RequestThrottled", message: "injected fault: " + fault.Code})
	return true
}
