package sqstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The calls on messages: send, receive, delete and change visibility.

type message struct {
	id, body     string
	md5          string
	attrs        map[string]attributeValue
	sent         time.Time
	receiveCount int
	receipt      string // the latest, while in flight
	visibleAt    time.Time
	firstRecv    time.Time
	received     time.Time // the latest receive: a visibility ends at most 12 h after it
	index        int       // in the in-flight heap
}

func (s *Server) enqueue(q *queue, e sendEntry) *message {
	now := s.now()
	delay := q.delay
	if e.DelaySeconds != nil {
		delay = time.Duration(*e.DelaySeconds) * time.Second
	}
	m := &message{id: newUUID(), body: *e.MessageBody, md5: bodyMD5(*e.MessageBody), attrs: e.MessageAttributes,
		sent: now, visibleAt: now.Add(delay)}
	q.msgs.push(m, now)
	q.sent++
	s.wake()
	return m
}

// sendResult is a sent message's ids and digests, as SendMessage and a
// SendMessageBatch entry answer them.
func sendResult(m *message) map[string]any {
	out := map[string]any{"MessageId": m.id, "MD5OfMessageBody": m.md5}
	if len(m.attrs) > 0 {
		out["MD5OfMessageAttributes"] = attributesMD5(m.attrs)
	}
	return out
}

func (s *Server) sendMessage(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	var e sendEntry
	e.MessageBody, _ = field[*string](in, "MessageBody")
	e.DelaySeconds, _ = field[*int](in, "DelaySeconds")
	e.MessageAttributes, _ = field[map[string]attributeValue](in, "MessageAttributes")
	if err := checkEntry(e, q.maxBytes); err != nil {
		return nil, err
	}
	return sendResult(s.enqueue(q, e)), nil
}

func (s *Server) sendMessageBatch(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	entries, _ := field[[]sendEntry](in, "Entries")
	ids := make([]string, len(entries))
	total := 0
	for i, e := range entries {
		ids[i] = e.ID
		total += entrySize(e)
	}
	if err := checkBatchIDs("SendMessageBatch", ids); err != nil {
		return nil, err
	}
	if limit := max(MaxMessageBytes, q.maxBytes); total > limit {
		return nil, senderError("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", limit, total))
	}
	ok, fails := []map[string]any{}, []failedEntry{}
	for _, e := range entries {
		if s.failEntries > 0 {
			s.failEntries--
			fails = append(fails, failedEntry{ID: e.ID, Code: "InternalError", Message: "injected entry failure", SenderFault: false})
			continue
		}
		if err := checkEntry(e, q.maxBytes); err != nil {
			fails = append(fails, failed(e.ID, err))
			continue
		}
		r := sendResult(s.enqueue(q, e))
		r["Id"] = e.ID
		ok = append(ok, r)
	}
	return map[string]any{"Successful": ok, "Failed": fails}, nil
}

func (s *Server) receiveMessage(r *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	maxN, set := field[int](in, "MaxNumberOfMessages")
	if !set {
		maxN = 1
	}
	if maxN < 1 || maxN > 10 {
		return nil, senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", maxN))
	}
	wait, waitSet := field[int](in, "WaitTimeSeconds")
	if wait < 0 || wait > 20 {
		return nil, senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", wait))
	}
	vis, visSet := field[int](in, "VisibilityTimeout")
	if visSet && (vis < 0 || vis > 43200) {
		return nil, senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", vis))
	}
	attrNames, _ := field[[]string](in, "MessageSystemAttributeNames")
	if legacy, ok := field[[]string](in, "AttributeNames"); ok {
		attrNames = append(attrNames, legacy...)
	}
	userNames, _ := field[[]string](in, "MessageAttributeNames")
	s.mu.Lock()
	q, err := s.queueOf(in)
	if err == nil && !waitSet {
		wait = q.wait
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		s.mu.Lock()
		timeout := q.opts.VisibilityTimeout
		if visSet {
			timeout = time.Duration(vis) * time.Second
		}
		got := s.take(q, maxN, timeout)
		arrived := s.arrived
		s.mu.Unlock()
		if len(got) > 0 || !time.Now().Before(deadline) {
			return map[string]any{"Messages": render(got, attrNames, userNames)}, nil
		}
		select {
		case <-arrived:
		case <-time.After(time.Until(deadline)):
		case <-r.Context().Done():
			return map[string]any{"Messages": []received{}}, nil
		}
	}
}

// take hands out up to n visible messages, oldest first, moving to the
// dead-letter queue those already received MaxReceiveCount times.
func (s *Server) take(q *queue, n int, timeout time.Duration) []*message {
	now := s.now()
	q.msgs.requeue(now)
	var got []*message
	for len(got) < n {
		m := q.msgs.pop()
		if m == nil {
			break
		}
		if dlq := s.queues[q.opts.DeadLetter]; dlq != nil && m.receiveCount >= q.opts.MaxReceiveCount {
			m.visibleAt = now // keeps its id, body and SentTimestamp, as SQS does
			dlq.msgs.push(m, now)
			dlq.sent++
			continue
		}
		m.receiveCount++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		m.received = now
		q.msgs.hold(m, newReceipt(q.name), now.Add(timeout))
		got = append(got, m)
	}
	return got
}

// render is the messages as ReceiveMessage answers them, with the system
// attributes and the message attributes asked for.
func render(msgs []*message, attrNames, userNames []string) []received {
	wantSys := func(name string) bool {
		for _, a := range attrNames {
			if a == "All" || a == name {
				return true
			}
		}
		return false
	}
	wantUser := func(name string) bool {
		for _, a := range userNames {
			if a == "All" || a == ".*" || a == name || strings.HasSuffix(a, ".*") && strings.HasPrefix(name, strings.TrimSuffix(a, "*")) {
				return true
			}
		}
		return false
	}
	out := make([]received, 0, len(msgs))
	for _, m := range msgs {
		r := received{MessageID: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.body}
		if len(attrNames) > 0 {
			r.Attributes = map[string]string{}
			if wantSys("SentTimestamp") {
				r.Attributes["SentTimestamp"] = strconv.FormatInt(m.sent.UnixMilli(), 10)
			}
			if wantSys("ApproximateReceiveCount") {
				r.Attributes["ApproximateReceiveCount"] = strconv.Itoa(m.receiveCount)
			}
			if wantSys("ApproximateFirstReceiveTimestamp") {
				r.Attributes["ApproximateFirstReceiveTimestamp"] = strconv.FormatInt(m.firstRecv.UnixMilli(), 10)
			}
			if wantSys("SenderId") {
				r.Attributes["SenderId"] = "AIDASTANDIN"
			}
		}
		for k, v := range m.attrs {
			if wantUser(k) {
				if r.MessageAttributes == nil {
					r.MessageAttributes = map[string]attributeValue{}
				}
				r.MessageAttributes[k] = v
			}
		}
		if len(r.MessageAttributes) > 0 {
			r.MD5OfMessageAttributes = attributesMD5(r.MessageAttributes) // of those answered, as SQS's
		}
		out = append(out, r)
	}
	return out
}

// checkReceipt refuses, as SQS does, a receipt handle the stand-in never
// gave out or gave out for another queue. An outdated handle passes.
func checkReceipt(q *queue, handle string) *apiError {
	name, ok := receiptQueue(handle)
	switch {
	case !ok:
		return &apiError{status: 404, shape: "ReceiptHandleIsInvalid", senderSide: true,
			message: "The input receipt handle \"" + handle + "\" is not a valid receipt handle."}
	case name != q.name:
		return &apiError{status: 404, shape: "ReceiptHandleIsInvalid", senderSide: true,
			message: "The receipt handle \"" + handle + "\" is not valid for this queue."}
	}
	return nil
}

// deleteIn deletes the message in flight under a receipt handle; an
// outdated handle deletes nothing, successfully, as SQS documents.
func (s *Server) deleteIn(q *queue, handle string) *apiError {
	if err := checkReceipt(q, handle); err != nil {
		return err
	}
	q.msgs.remove(handle)
	return nil
}

// changeVisibilityIn makes the message in flight under a receipt handle
// visible again after seconds; an outdated handle has expired.
func (s *Server) changeVisibilityIn(q *queue, handle string, seconds int) *apiError {
	if err := checkReceipt(q, handle); err != nil {
		return err
	}
	if seconds < 0 || seconds > 43200 {
		return senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", seconds))
	}
	at := s.now().Add(time.Duration(seconds) * time.Second)
	// SQS counts the 12 hours from the receive, not from this call.
	if m := q.msgs.inFlight(handle); m != nil && at.Sub(m.received) > maxVisibility {
		return senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", seconds))
	}
	if !q.msgs.setVisibility(handle, at) {
		return senderError("InvalidParameterValue", "", "Value "+handle+" for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")
	}
	if seconds == 0 {
		s.wake()
	}
	return nil
}

func (s *Server) deleteMessage(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	handle, _ := field[string](in, "ReceiptHandle")
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err == nil {
		err = s.deleteIn(q, handle)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (s *Server) changeVisibility(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	handle, _ := field[string](in, "ReceiptHandle")
	seconds, ok := field[int](in, "VisibilityTimeout")
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	switch {
	case err != nil:
	case !ok:
		err = missingParameter("VisibilityTimeout")
	default:
		err = s.changeVisibilityIn(q, handle, seconds)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// receiptBatch applies a call on receipt handles to each entry of a batch:
// an entry's refusal is a failed entry, as SQS answers it.
func (s *Server) receiptBatch(action string, in map[string]json.RawMessage, apply func(q *queue, e receiptEntry) *apiError) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	entries, _ := field[[]receiptEntry](in, "Entries")
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	if err := checkBatchIDs(action, ids); err != nil {
		return nil, err
	}
	ok, fails := []map[string]string{}, []failedEntry{}
	for _, e := range entries {
		if err := apply(q, e); err != nil {
			fails = append(fails, failed(e.ID, err))
			continue
		}
		ok = append(ok, map[string]string{"Id": e.ID})
	}
	return map[string]any{"Successful": ok, "Failed": fails}, nil
}

func (s *Server) deleteMessageBatch(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	return s.receiptBatch("DeleteMessageBatch", in, func(q *queue, e receiptEntry) *apiError {
		return s.deleteIn(q, e.ReceiptHandle)
	})
}

func (s *Server) changeVisibilityBatch(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	return s.receiptBatch("ChangeMessageVisibilityBatch", in, func(q *queue, e receiptEntry) *apiError {
		if e.VisibilityTimeout == nil {
			return senderError("InvalidParameterValue", "", "VisibilityTimeout must be between 0 and 43200.")
		}
		return s.changeVisibilityIn(q, e.ReceiptHandle, *e.VisibilityTimeout)
	})
}
