package sqstest

import "time"

// What a test or a benchmark reads and puts directly, without the wire.

// Message is a message as a test inspects it.
type Message struct {
	ID   string
	Body string
	// Attributes are the message attributes' values: a StringValue, or a
	// BinaryValue's bytes.
	Attributes map[string]string
	// AttributeTypes are their data types: String, Number, Binary, or one
	// of these with a custom label ("Number.float").
	AttributeTypes map[string]string
	Sent           time.Time
	ReceiveCount   int
}

// Calls reports how many calls of an action arrived.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Messages lists a queue's messages (visible or in flight), oldest first.
func (s *Server) Messages(name string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueByName(name)
	if q == nil {
		return nil
	}
	all := q.msgs.all()
	out := make([]Message, 0, len(all))
	for _, m := range all {
		c := Message{ID: m.id, Body: m.body, Sent: m.sent, ReceiveCount: m.receiveCount,
			Attributes: map[string]string{}, AttributeTypes: map[string]string{}}
		for k, v := range m.attrs {
			c.Attributes[k], c.AttributeTypes[k] = v.StringValue, v.DataType
			if baseType(v.DataType) == "Binary" {
				c.Attributes[k] = string(v.BinaryValue)
			}
		}
		out = append(out, c)
	}
	return out
}

// Put enqueues bodies directly, as if sent one by one now (a backlog for a
// benchmark or a test, without a hundred thousand calls).
func (s *Server) Put(name string, bodies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queueByName(name)
	if q == nil {
		panic("sqstest: no queue " + name)
	}
	for _, b := range bodies {
		s.enqueue(q, sendEntry{MessageBody: &b})
	}
}

// Sent reports how many messages have been sent to a queue in all.
func (s *Server) Sent(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queueByName(name); q != nil {
		return q.sent
	}
	return 0
}
