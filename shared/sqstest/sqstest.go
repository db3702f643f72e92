// Package sqstest is an in-memory stand-in for Amazon SQS standard queues.
// It speaks the AWS JSON 1.0 protocol the SDK's SQS client uses
// (X-Amz-Target: AmazonSQS.<Action>) for SendMessage, SendMessageBatch,
// ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch and
// GetQueueAttributes, with visibility timeouts, receive counts,
// SentTimestamp and a redrive policy, and refuses what SQS documents it
// refuses (batch sizes and ids, message size and characters, parameter
// ranges). Tests and the local stack use it through the real SDK client
// (AWS_ENDPOINT_URL_SQS). Signatures are not checked.
package sqstest

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/awstest"
)

// AccountID is the account in the stand-in's queue URLs and ARNs.
const AccountID = "123456789012"

// MaxMessageBytes is the size limit the stand-in enforces on a message and
// on a batch's total: 256 KiB, SQS's limit for most of its life (newer
// queues may take more; keeping to this one works on every queue).
const MaxMessageBytes = 262144

// QueueOptions configure a queue.
type QueueOptions struct {
	// VisibilityTimeout is how long a received message stays hidden; 0: 30 s.
	VisibilityTimeout time.Duration
	// DeadLetter names the queue messages move to after MaxReceiveCount
	// receives (the redrive policy); empty: none.
	DeadLetter      string
	MaxReceiveCount int
}

// Message is a message as a test inspects it.
type Message struct {
	ID           string
	Body         string
	Attributes   map[string]string // message attributes (String values)
	Sent         time.Time
	ReceiveCount int
}

type message struct {
	Message
	md5       string
	receipt   string // the latest, while in flight
	visibleAt time.Time
	firstRecv time.Time
	index     int // in the in-flight heap
}

type queue struct {
	name, url, arn string
	opts           QueueOptions
	msgs           store
	sent           int
}

// Fault is a failure the server gives instead of an answer.
type Fault struct {
	// Code is the error's name ("RequestThrottled", "InternalError",
	// "ServiceUnavailable"); Status its HTTP status (0: 400, or 500/503 for
	// those two).
	Code   string
	Status int
	Delay  time.Duration
}

// Server is the stand-in. Make it with NewServer.
type Server struct {
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	queues      map[string]*queue // by URL and by name
	faults      map[string][]Fault
	failEntries int  // the next N SendMessageBatch entries fail (SenderFault false)
	down        bool // every call answers 503
	calls       map[string]int
	now         func() time.Time
	arrived     chan struct{} // wakes long polls
}

// NewServer starts a stand-in on a loopback port.
func NewServer() *Server {
	s := &Server{queues: map[string]*queue{}, faults: map[string][]Fault{}, calls: map[string]int{}, now: time.Now,
		arrived: make(chan struct{})}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CreateQueue makes a standard queue and returns its URL.
func (s *Server) CreateQueue(name string, o QueueOptions) string {
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.DeadLetter != "" && o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 5
	}
	q := &queue{name: name, url: s.URL + "/" + AccountID + "/" + name,
		arn: "arn:aws:sqs:us-east-1:" + AccountID + ":" + name, opts: o}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[q.url], s.queues[name] = q, q
	return q.url
}

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
	q := s.queues[name]
	if q == nil {
		return nil
	}
	all := q.msgs.all()
	out := make([]Message, 0, len(all))
	for _, m := range all {
		c := m.Message
		c.Attributes = map[string]string{}
		for k, v := range m.Attributes {
			c.Attributes[k] = v
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
	q := s.queues[name]
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
	if q := s.queues[name]; q != nil {
		return q.sent
	}
	return 0
}

// Env points the AWS SDK's default configuration at the server, for the
// calling test, with dummy credentials.
func (s *Server) Env(t interface{ Setenv(k, v string) }) {
	awstest.Env(t, "AWS_ENDPOINT_URL_SQS", s.URL)
}

// Client is an SDK client for the server, for a harness that drives it
// (an event source, a benchmark): anonymous, since the stand-in checks no
// signature and signing ten thousand calls a second costs CPU.
func (s *Server) Client() (*sqs.Client, error) {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(aws.AnonymousCredentials{}), config.WithBaseEndpoint(s.URL))
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg), nil
}

// apiError is an SQS error in the JSON protocol: the shape's name in
// __type, and the query-compatible code in x-amzn-query-error, which the
// SDK reports as the error code.
type apiError struct {
	status     int
	shape      string // __type, without the namespace
	queryCode  string // "" : the shape's name
	senderSide bool
	message    string
}

func senderError(shape, queryCode, msg string) *apiError {
	return &apiError{status: 400, shape: shape, queryCode: queryCode, senderSide: true, message: msg}
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	code := e.queryCode
	if code == "" {
		code = e.shape
	}
	side := "Receiver"
	if e.senderSide {
		side = "Sender"
	}
	w.Header().Set("x-amzn-query-error", code+";"+side)
	writeJSON(w, e.status, map[string]string{"__type": "com.amazonaws.sqs#" + e.shape, "message": e.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", newID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP dispatches on X-Amz-Target.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	s.mu.Lock()
	s.calls[action]++
	down := s.down
	var fault *Fault
	if q := s.faults[action]; len(q) > 0 {
		fault, s.faults[action] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if down {
		s.writeError(w, &apiError{status: 503, shape: "ServiceUnavailable", message: "Service is unavailable. Try again later."})
		return
	}
	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault.Code != "" {
			e := &apiError{status: fault.Status, shape: fault.Code, senderSide: fault.Code == "RequestThrottled", message: "injected fault: " + fault.Code}
			if e.status == 0 {
				e.status = map[string]int{"InternalError": 500, "ServiceUnavailable": 503}[fault.Code]
				if e.status == 0 {
					e.status = 400
				}
			}
			s.writeError(w, e)
			return
		}
	}
	var in map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2<<20)).Decode(&in); err != nil {
		s.writeError(w, senderError("InvalidParameterValue", "", "the request body is not a JSON object"))
		return
	}
	var (
		out any
		err *apiError
	)
	switch action {
	case "SendMessage":
		out, err = s.sendMessage(in)
	case "SendMessageBatch":
		out, err = s.sendMessageBatch(in)
	case "ReceiveMessage":
		out, err = s.receiveMessage(r, in)
	case "DeleteMessageBatch":
		out, err = s.deleteMessageBatch(in)
	case "ChangeMessageVisibilityBatch":
		out, err = s.changeVisibilityBatch(in)
	case "GetQueueAttributes":
		out, err = s.getQueueAttributes(in)
	default:
		err = &apiError{status: 400, shape: "UnknownOperationException", senderSide: true, message: "unknown operation " + action}
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	writeJSON(w, 200, out)
}

func field[T any](in map[string]json.RawMessage, name string) (T, bool) {
	var v T
	raw, ok := in[name]
	if !ok {
		return v, false
	}
	return v, json.Unmarshal(raw, &v) == nil
}

// queueOf finds the queue a request names, or SQS's error.
func (s *Server) queueOf(in map[string]json.RawMessage) (*queue, *apiError) {
	url, ok := field[string](in, "QueueUrl")
	if !ok || url == "" {
		return nil, senderError("MissingParameter", "", "The request must contain the parameter QueueUrl.")
	}
	q := s.queues[url]
	if q == nil {
		return nil, senderError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	}
	return q, nil
}

type attributeValue struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty"`
}

type sendEntry struct {
	ID                string                    `json:"Id"`
	MessageBody       *string                   `json:"MessageBody"`
	DelaySeconds      int                       `json:"DelaySeconds"`
	MessageAttributes map[string]attributeValue `json:"MessageAttributes"`
}

// validBody reports whether SQS accepts the body's characters: #x9, #xA,
// #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF.
func validBody(b string) bool {
	for _, r := range b {
		ok := r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
		if !ok {
			return false
		}
	}
	return true
}

func entrySize(e sendEntry) int {
	n := 0
	if e.MessageBody != nil {
		n = len(*e.MessageBody)
	}
	for k, v := range e.MessageAttributes {
		n += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	return n
}

func checkEntry(e sendEntry) *apiError {
	switch {
	case e.MessageBody == nil || *e.MessageBody == "":
		return senderError("MissingParameter", "", "The request must contain the parameter MessageBody.")
	case entrySize(e) > MaxMessageBytes:
		return senderError("InvalidParameterValue", "", fmt.Sprintf("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", MaxMessageBytes))
	case !validBody(*e.MessageBody):
		return senderError("InvalidMessageContents", "", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	case e.DelaySeconds < 0 || e.DelaySeconds > 900:
		return senderError("InvalidParameterValue", "", "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.")
	}
	for name, v := range e.MessageAttributes {
		if name == "" || len(name) > 256 || strings.HasPrefix(strings.ToLower(name), "aws.") || strings.HasPrefix(strings.ToLower(name), "amazon.") {
			return senderError("InvalidParameterValue", "", "Message attribute name '"+name+"' is invalid.")
		}
		t := strings.SplitN(v.DataType, ".", 2)[0]
		if t != "String" && t != "Number" && t != "Binary" {
			return senderError("InvalidParameterValue", "", "The type of message (user) attribute '"+name+"' is invalid. You must use only the following supported type prefixes: Binary, Number, String.")
		}
		if t != "Binary" && v.StringValue == "" || t == "Binary" && len(v.BinaryValue) == 0 {
			return senderError("InvalidParameterValue", "", "Message (user) attribute '"+name+"' must contain a non-empty value of type '"+t+"'.")
		}
	}
	return nil
}

func (s *Server) enqueue(q *queue, e sendEntry) *message {
	now := s.now()
	m := &message{Message: Message{ID: newUUID(), Body: *e.MessageBody, Sent: now, Attributes: map[string]string{}},
		visibleAt: now.Add(time.Duration(e.DelaySeconds) * time.Second)}
	sum := md5.Sum([]byte(m.Body))
	m.md5 = hex.EncodeToString(sum[:])
	for k, v := range e.MessageAttributes {
		m.Attributes[k] = v.StringValue
	}
	q.msgs.push(m, now)
	q.sent++
	close(s.arrived)
	s.arrived = make(chan struct{})
	return m
}

func (s *Server) sendMessage(in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	var e sendEntry
	e.MessageBody, _ = field[*string](in, "MessageBody")
	e.DelaySeconds, _ = field[int](in, "DelaySeconds")
	e.MessageAttributes, _ = field[map[string]attributeValue](in, "MessageAttributes")
	if err := checkEntry(e); err != nil {
		return nil, err
	}
	m := s.enqueue(q, e)
	out := map[string]any{"MessageId": m.ID, "MD5OfMessageBody": m.md5}
	if len(e.MessageAttributes) > 0 {
		out["MD5OfMessageAttributes"] = attributesMD5(e.MessageAttributes)
	}
	return out, nil
}

// checkBatchIDs applies SQS's rules for a batch's entry ids: 1 to 10
// entries, distinct, alphanumeric, hyphens and underscores, at most 80.
func checkBatchIDs(ids []string) *apiError {
	switch {
	case len(ids) == 0:
		return senderError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request.")
	case len(ids) > 10:
		return senderError("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(ids)))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || len(id) > 80 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return senderError("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return senderError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id "+id+" repeated.")
		}
		seen[id] = true
	}
	return nil
}

type failedEntry struct {
	ID          string `json:"Id"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
	SenderFault bool   `json:"SenderFault"`
}

func (s *Server) sendMessageBatch(in map[string]json.RawMessage) (any, *apiError) {
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
	if err := checkBatchIDs(ids); err != nil {
		return nil, err
	}
	if total > MaxMessageBytes {
		return nil, senderError("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", fmt.Sprintf("Batch requests cannot be longer than %d bytes. You have sent %d bytes.", MaxMessageBytes, total))
	}
	ok, failed := []map[string]any{}, []failedEntry{}
	for _, e := range entries {
		if s.failEntries > 0 {
			s.failEntries--
			failed = append(failed, failedEntry{ID: e.ID, Code: "InternalError", Message: "injected entry failure", SenderFault: false})
			continue
		}
		if err := checkEntry(e); err != nil {
			failed = append(failed, failedEntry{ID: e.ID, Code: err.shape, Message: err.message, SenderFault: true})
			continue
		}
		m := s.enqueue(q, e)
		r := map[string]any{"Id": e.ID, "MessageId": m.ID, "MD5OfMessageBody": m.md5}
		if len(e.MessageAttributes) > 0 {
			r["MD5OfMessageAttributes"] = attributesMD5(e.MessageAttributes)
		}
		ok = append(ok, r)
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

func (s *Server) receiveMessage(r *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	maxN, set := field[int](in, "MaxNumberOfMessages")
	if !set {
		maxN = 1
	}
	if maxN < 1 || maxN > 10 {
		return nil, senderError("InvalidParameterValue", "", fmt.Sprintf("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", maxN))
	}
	wait, _ := field[int](in, "WaitTimeSeconds")
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
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		s.mu.Lock()
		q, err := s.queueOf(in)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
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
		if dlq := s.queues[q.opts.DeadLetter]; dlq != nil && m.ReceiveCount >= q.opts.MaxReceiveCount {
			m.visibleAt = now // keeps its id, body and SentTimestamp, as SQS does
			dlq.msgs.push(m, now)
			dlq.sent++
			continue
		}
		m.ReceiveCount++
		if m.firstRecv.IsZero() {
			m.firstRecv = now
		}
		q.msgs.hold(m, newID()+newID(), now.Add(timeout)) // as long as SQS's, roughly
		got = append(got, m)
	}
	return got
}

// received is a message as ReceiveMessage answers it.
type received struct {
	MessageID              string                    `json:"MessageId"`
	ReceiptHandle          string                    `json:"ReceiptHandle"`
	MD5OfBody              string                    `json:"MD5OfBody"`
	Body                   string                    `json:"Body"`
	Attributes             map[string]string         `json:"Attributes,omitempty"`
	MessageAttributes      map[string]attributeValue `json:"MessageAttributes,omitempty"`
	MD5OfMessageAttributes string                    `json:"MD5OfMessageAttributes,omitempty"`
}

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
		r := received{MessageID: m.ID, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.Body}
		if len(attrNames) > 0 {
			r.Attributes = map[string]string{}
			if wantSys("SentTimestamp") {
				r.Attributes["SentTimestamp"] = strconv.FormatInt(m.Sent.UnixMilli(), 10)
			}
			if wantSys("ApproximateReceiveCount") {
				r.Attributes["ApproximateReceiveCount"] = strconv.Itoa(m.ReceiveCount)
			}
			if wantSys("ApproximateFirstReceiveTimestamp") {
				r.Attributes["ApproximateFirstReceiveTimestamp"] = strconv.FormatInt(m.firstRecv.UnixMilli(), 10)
			}
			if wantSys("SenderId") {
				r.Attributes["SenderId"] = "AIDASTANDIN"
			}
		}
		for k, v := range m.Attributes {
			if wantUser(k) {
				if r.MessageAttributes == nil {
					r.MessageAttributes = map[string]attributeValue{}
				}
				r.MessageAttributes[k] = attributeValue{DataType: "String", StringValue: v}
			}
		}
		if len(r.MessageAttributes) > 0 {
			r.MD5OfMessageAttributes = attributesMD5(r.MessageAttributes)
		}
		out = append(out, r)
	}
	return out
}

type receiptEntry struct {
	ID                string `json:"Id"`
	ReceiptHandle     string `json:"ReceiptHandle"`
	VisibilityTimeout *int   `json:"VisibilityTimeout"`
}

func (s *Server) receiptBatch(in map[string]json.RawMessage, apply func(q *queue, e receiptEntry) *failedEntry) (any, *apiError) {
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
	if err := checkBatchIDs(ids); err != nil {
		return nil, err
	}
	ok, failed := []map[string]string{}, []failedEntry{}
	for _, e := range entries {
		if f := apply(q, e); f != nil {
			failed = append(failed, *f)
			continue
		}
		ok = append(ok, map[string]string{"Id": e.ID})
	}
	return map[string]any{"Successful": ok, "Failed": failed}, nil
}

func invalidReceipt(id string) *failedEntry {
	return &failedEntry{ID: id, Code: "ReceiptHandleIsInvalid", Message: "The input receipt handle is invalid.", SenderFault: true}
}

func (s *Server) deleteMessageBatch(in map[string]json.RawMessage) (any, *apiError) {
	return s.receiptBatch(in, func(q *queue, e receiptEntry) *failedEntry {
		if e.ReceiptHandle == "" {
			return invalidReceipt(e.ID)
		}
		q.msgs.remove(e.ReceiptHandle) // an unknown or outdated handle deletes nothing, successfully
		return nil
	})
}

func (s *Server) changeVisibilityBatch(in map[string]json.RawMessage) (any, *apiError) {
	return s.receiptBatch(in, func(q *queue, e receiptEntry) *failedEntry {
		if e.VisibilityTimeout == nil || *e.VisibilityTimeout < 0 || *e.VisibilityTimeout > 43200 {
			return &failedEntry{ID: e.ID, Code: "InvalidParameterValue", Message: "VisibilityTimeout must be between 0 and 43200.", SenderFault: true}
		}
		if !q.msgs.setVisibility(e.ReceiptHandle, s.now().Add(time.Duration(*e.VisibilityTimeout)*time.Second)) {
			return invalidReceipt(e.ID)
		}
		if *e.VisibilityTimeout == 0 {
			close(s.arrived)
			s.arrived = make(chan struct{})
		}
		return nil
	})
}

func (s *Server) getQueueAttributes(in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	q.msgs.requeue(s.now())
	visible, inFlight := q.msgs.counts()
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    "0",
		"VisibilityTimeout":                     strconv.Itoa(int(q.opts.VisibilityTimeout.Seconds())),
		"MaximumMessageSize":                    strconv.Itoa(MaxMessageBytes),
		"QueueArn":                              q.arn,
	}
	if dlq := s.queues[q.opts.DeadLetter]; dlq != nil {
		b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.arn, "maxReceiveCount": q.opts.MaxReceiveCount})
		all["RedrivePolicy"] = string(b)
	}
	names, _ := field[[]string](in, "AttributeNames")
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			out = all
			break
		}
		v, ok := all[n]
		if !ok {
			return nil, senderError("InvalidAttributeName", "", "Unknown Attribute "+n+".")
		}
		out[n] = v
	}
	return map[string]any{"Attributes": out}, nil
}

// attributesMD5 is SQS's digest of message attributes: for each, sorted by
// name, the name, the data type and the value, each length-prefixed (4
// bytes, big-endian), the value after a transport byte (1 string, 2 binary).
func attributesMD5(attrs map[string]attributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if strings.HasPrefix(v.DataType, "Binary") {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newID is 32 hex digits: unique and unguessable enough for a stand-in's
// ids and receipt handles, without a system call each (a backlog hands
// out tens of thousands a second).
func newID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func newUUID() string {
	h := newID()
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
