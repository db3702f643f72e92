package sqstest

import "time"

// RecordSize exposes recordSize to the tests.
var RecordSize = recordSize

// SetClock replaces the server's clock (for rules counted in hours).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	s.now = now
	s.mu.Unlock()
}
