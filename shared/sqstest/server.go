// Package sqstest is an in-memory stand-in for Amazon SQS standard queues.
// It speaks the AWS JSON 1.0 protocol the SDK's SQS client uses
// (X-Amz-Target: AmazonSQS.<Action>) for the calls the functions make
// (SendMessage, SendMessageBatch, ReceiveMessage, DeleteMessageBatch,
// ChangeMessageVisibilityBatch, GetQueueAttributes) and those a person uses
// to look at a queue with the AWS CLI (CreateQueue, GetQueueUrl, ListQueues,
// DeleteMessage, ChangeMessageVisibility, PurgeQueue), with visibility
// timeouts, receive counts, SentTimestamp, typed message attributes and a
// redrive policy. It refuses what SQS documents it refuses (batch sizes and
// ids, message size and characters, attribute names, types and numbers,
// parameter ranges, malformed receipt handles), with SQS's error shapes.
// Tests and the local stack use it through the real SDK client
// (AWS_ENDPOINT_URL_SQS). Signatures are not checked.
package sqstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// AccountID is the account in the stand-in's queue URLs and ARNs.
const AccountID = "123456789012"

// MaxMessageBytes is a queue's default size limit on a message, and the
// limit on a batch's total: 256 KiB, SQS's limit for most of its life
// (newer queues may take more; keeping to this one works on every queue).
const MaxMessageBytes = 262144

// Server is the stand-in. Make it with NewServer.
type Server struct {
	URL string

	srv *httptest.Server

	mu          sync.Mutex
	queues      map[string]*queue // by name
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

// actions are the calls the stand-in answers, by X-Amz-Target's action.
var actions = map[string]func(s *Server, r *http.Request, in map[string]json.RawMessage) (any, *apiError){
	"SendMessage":                  (*Server).sendMessage,
	"SendMessageBatch":             (*Server).sendMessageBatch,
	"ReceiveMessage":               (*Server).receiveMessage,
	"DeleteMessage":                (*Server).deleteMessage,
	"DeleteMessageBatch":           (*Server).deleteMessageBatch,
	"ChangeMessageVisibility":      (*Server).changeVisibility,
	"ChangeMessageVisibilityBatch": (*Server).changeVisibilityBatch,
	"CreateQueue":                  (*Server).createQueue,
	"GetQueueUrl":                  (*Server).getQueueURL,
	"ListQueues":                   (*Server).listQueues,
	"GetQueueAttributes":           (*Server).getQueueAttributes,
	"PurgeQueue":                   (*Server).purgeQueue,
}

// ServeHTTP dispatches on X-Amz-Target.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if s.injectFault(w, r, action) {
		return
	}
	var in map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2<<20)).Decode(&in); err != nil {
		writeError(w, senderError("InvalidParameterValue", "", "the request body is not a JSON object"))
		return
	}
	handle := actions[action]
	if handle == nil {
		writeError(w, &apiError{status: 400, shape: "UnknownOperationException", senderSide: true, message: "unknown operation " + action})
		return
	}
	out, err := handle(s, r, in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, out)
}

// wake ends the long polls waiting for a message.
func (s *Server) wake() {
	close(s.arrived)
	s.arrived = make(chan struct{})
}
