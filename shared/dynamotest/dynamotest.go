package dynamotest

import (
	"encoding/json"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/truora/minidyn/server"
)

// The project's table (DESIGN §11): partition key KeyAttribute (a string),
// on-demand, Time to Live on TTLAttribute (epoch seconds).
const (
	KeyAttribute = "pk"
	TTLAttribute = "expires"
)

// MaxItemBytes is DynamoDB's limit on an item's size (400 KB), counted as
// DynamoDB counts it: attribute names and values.
const MaxItemBytes = 400 * 1024

// AccountID is the account in the stand-in's table ARNs.
const AccountID = "123456789012"

// targetPrefix precedes the action in X-Amz-Target.
const targetPrefix = "DynamoDB_20120810."

// maxRequestBytes bounds a request body: DynamoDB's limit is 16 MB.
const maxRequestBytes = 16 << 20

// Server is the stand-in. Make it with NewServer.
type Server struct {
	// URL is the base URL to give the SDK as its DynamoDB endpoint.
	URL string

	srv       *httptest.Server
	closed    chan struct{} // closed by Close: ends hanging answers
	closeOnce sync.Once

	mu     sync.Mutex // the engine and the tables: one call at a time
	engine *server.Client
	tables map[string]*table

	fmu    sync.Mutex // faults, counts and the outage
	faults map[string][]Fault
	calls  map[string]int
	down   atomic.Bool
	conns  map[net.Conn]struct{}
}

// NewServer starts a stand-in on a loopback port, with no tables.
func NewServer() *Server {
	s := &Server{
		closed: make(chan struct{}),
		engine: server.NewClient(),
		tables: map[string]*table{},
		faults: map[string][]Fault{},
		calls:  map[string]int{},
		conns:  map[net.Conn]struct{}{},
	}
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.Listener = gateListener{Listener: s.srv.Listener, s: s}
	s.srv.Config.ConnState = s.track
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the server; answers held by a fault end at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// actions are the calls the stand-in answers, by X-Amz-Target's action.
var actions = map[string]func(s *Server, body []byte) (any, *apiError){
	"CreateTable":        (*Server).createTable,
	"DescribeTable":      (*Server).describeTable,
	"DeleteTable":        (*Server).deleteTable,
	"ListTables":         (*Server).listTables,
	"UpdateTimeToLive":   (*Server).updateTimeToLive,
	"DescribeTimeToLive": (*Server).describeTimeToLive,
	"PutItem":            (*Server).putItem,
	"GetItem":            (*Server).getItem,
	"UpdateItem":         (*Server).updateItem,
	"DeleteItem":         (*Server).deleteItem,
	"BatchWriteItem":     (*Server).batchWriteItem,
	"BatchGetItem":       (*Server).batchGetItem,
	"Query":              (*Server).query,
	"Scan":               (*Server).scan,
}

// ServeHTTP dispatches on X-Amz-Target.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		resetRequest(w)
		return
	}
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if s.injectFault(w, r, action) {
		return
	}
	handle := actions[action]
	if handle == nil || r.Method != http.MethodPost {
		writeError(w, &apiError{status: 400, code: "UnknownOperationException", message: ""})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, &apiError{status: 413, code: "RequestEntityTooLarge", message: "Request entity too large"})
		return
	}
	out, aerr := handle(s, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, 200, out)
}

// decode reads a request's JSON into T; a body that is not one is refused
// as DynamoDB refuses it.
func decode[T any](body []byte) (*T, *apiError) {
	in := new(T)
	if err := json.Unmarshal(body, in); err != nil {
		return nil, &apiError{status: 400, code: "SerializationException", message: "Start of structure or map found where not expected"}
	}
	return in, nil
}

// writeJSON answers v as DynamoDB does, with the CRC32 of the body the SDK
// checks.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = 500
		body, _ = json.Marshal(errorBody{Type: errorNamespace + "InternalServerError", Message: "dynamotest: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var requestSeq atomic.Uint64

func newRequestID() string {
	return "DYNAMOTEST" + strconv.FormatUint(requestSeq.Add(1), 36)
}
