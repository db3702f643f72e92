package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runtimeAPI is the Lambda Runtime API as a function process sees it: the
// benchmark hands it invocations and times the process's requests. The
// emulator's own Init Duration is too coarse for cold starts, so the
// benchmark speaks the four documented calls itself (next, response, error,
// init error), plus the Extensions API registration aws-lambda-go makes
// when SIGTERM handling is on.
type runtimeAPI struct {
	addr string
	srv  *http.Server

	nextArrived chan time.Time // each GET /next, when it arrives
	invocations chan *invocation

	mu      sync.Mutex
	pending map[string]*invocation
	seq     atomic.Int64
	closing chan struct{}
}

type invocation struct {
	event    []byte
	deadline time.Time
	handed   time.Time // just before the event went to the function
	answered time.Time // when its response or error arrived
	body     []byte
	isError  bool
	done     chan struct{}
}

func newRuntimeAPI() (*runtimeAPI, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &runtimeAPI{addr: l.Addr().String(), nextArrived: make(chan time.Time, 64),
		invocations: make(chan *invocation), pending: map[string]*invocation{}, closing: make(chan struct{})}
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

func (r *runtimeAPI) close() {
	close(r.closing)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	r.srv.Close()
}

func (r *runtimeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	switch {
	case req.Method == http.MethodGet && p == "/2018-06-01/runtime/invocation/next":
		select {
		case r.nextArrived <- time.Now():
		default:
		}
		select {
		case inv := <-r.invocations:
			id := fmt.Sprintf("bench-%d", r.seq.Add(1))
			r.mu.Lock()
			r.pending[id] = inv
			r.mu.Unlock()
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", id)
			h.Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(inv.deadline.UnixMilli()))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
			h.Set("Content-Type", "application/json")
			inv.handed = time.Now()
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(inv.event)
		case <-req.Context().Done():
		case <-r.closing:
		}
	case req.Method == http.MethodPost && strings.HasPrefix(p, "/2018-06-01/runtime/invocation/"):
		rest := strings.TrimPrefix(p, "/2018-06-01/runtime/invocation/")
		id, kind, _ := strings.Cut(rest, "/")
		body, _ := io.ReadAll(req.Body)
		now := time.Now()
		r.mu.Lock()
		inv := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if inv == nil {
			http.Error(w, "unknown request id", http.StatusBadRequest)
			return
		}
		inv.answered, inv.body, inv.isError = now, body, kind == "error"
		close(inv.done)
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodPost && p == "/2018-06-01/runtime/init/error":
		w.WriteHeader(http.StatusAccepted)
	case req.Method == http.MethodPost && p == "/2020-01-01/extension/register":
		w.Header().Set("Lambda-Extension-Identifier", "bench-extension")
		_, _ = w.Write([]byte(`{"functionName":"bench","functionVersion":"$LATEST","handler":"bootstrap"}`))
	case req.Method == http.MethodGet && p == "/2020-01-01/extension/event/next":
		select { // an extension with no events waits for ever
		case <-req.Context().Done():
		case <-r.closing:
		}
	default:
		http.NotFound(w, req)
	}
}

// invoke hands an event to the function and waits for its answer.
func (r *runtimeAPI) invoke(event []byte, timeout time.Duration) (*invocation, error) {
	inv := &invocation{event: event, deadline: time.Now().Add(timeout), done: make(chan struct{})}
	select {
	case r.invocations <- inv:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("the function never asked for an invocation")
	}
	select {
	case <-inv.done:
		return inv, nil
	case <-time.After(timeout + 5*time.Second):
		return nil, fmt.Errorf("no answer within %v", timeout)
	}
}
