package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Function is one function of the stack, run as Lambda runs it: one
// invocation at a time per instance (the emulator itself serves only one),
// a new instance started when every instance is busy, up to max, and
// invocations beyond that waiting for a free one.
type Function struct {
	Name string

	start func(ctx context.Context, n int) (*Emulated, error)
	idle  chan *Emulated
	slots chan struct{} // one token per instance that may run

	started atomic.Int32 // numbers the instances

	mu  sync.Mutex
	all []*Emulated
}

func newFunction(name string, max int, start func(ctx context.Context, n int) (*Emulated, error)) *Function {
	return &Function{Name: name, start: start, idle: make(chan *Emulated, max), slots: make(chan struct{}, max)}
}

// acquire takes an idle instance, or starts one while fewer than max run,
// or waits for one to be free.
func (f *Function) acquire(ctx context.Context) (*Emulated, error) {
	select {
	case e := <-f.idle:
		return e, nil
	default:
	}
	select {
	case e := <-f.idle:
		return e, nil
	case f.slots <- struct{}{}:
		e, err := f.start(ctx, int(f.started.Add(1)))
		if err != nil {
			<-f.slots
			return nil, err
		}
		f.mu.Lock()
		f.all = append(f.all, e)
		f.mu.Unlock()
		return e, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a free %s instance: %w", f.Name, ctx.Err())
	}
}

// release returns an instance to the pool; one whose emulator has exited
// gives its slot back instead, so the next invocation starts a new one.
func (f *Function) release(e *Emulated) {
	select {
	case <-e.done:
		<-f.slots
	default:
		f.idle <- e
	}
}

// Invoke runs one invocation on a free instance. An instance that refuses
// the connection never received the event, so it is stopped and the event
// goes to another: an emulator can lose its port to another process between
// the free-port probe and its own bind, and exit after a foreign listener
// answered the readiness check.
func (f *Function) Invoke(ctx context.Context, event []byte) (*Invocation, error) {
	for attempt := 1; ; attempt++ {
		e, err := f.acquire(ctx)
		if err != nil {
			return nil, err
		}
		inv, err := e.Invoke(ctx, event)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) && attempt < 3 {
			e.Stop()
			f.mu.Lock()
			f.all = slices.DeleteFunc(f.all, func(x *Emulated) bool { return x == e })
			f.mu.Unlock()
			f.release(e)
			continue
		}
		f.release(e)
		return inv, err
	}
}

// Instances is how many instances have been started.
func (f *Function) Instances() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}

// InvokeEach runs the same event on k different instances, one after the
// other (as a sender's retry reaching another instance would), holding
// them all so that none serves twice.
func (f *Function) InvokeEach(ctx context.Context, event []byte, k int) ([]*Invocation, error) {
	held := make([]*Emulated, 0, k)
	defer func() {
		for _, e := range held {
			f.release(e)
		}
	}()
	for range k {
		e, err := f.acquire(ctx)
		if err != nil {
			return nil, err
		}
		held = append(held, e)
	}
	invs := make([]*Invocation, k)
	for i, e := range held {
		inv, err := e.Invoke(ctx, event)
		if err != nil {
			return nil, err
		}
		invs[i] = inv
	}
	return invs, nil
}

// Output is everything the function's instances wrote so far.
func (f *Function) Output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, e := range f.all {
		b.WriteString(e.Output())
	}
	return b.String()
}

// Stop ends every instance.
func (f *Function) Stop() {
	f.mu.Lock()
	all := f.all
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range all {
		wg.Go(e.Stop)
	}
	wg.Wait()
}

// stopped reports whether every instance has exited.
func (f *Function) stopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.all {
		select {
		case <-e.done:
		default:
			return false
		}
	}
	return true
}

// linePrefixer writes each complete line to w with a prefix, so the logs of
// several functions and instances read apart on one terminal.
type linePrefixer struct {
	mu     *sync.Mutex // shared by every prefixer of one terminal
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimSpace(p.buf[:i]); len(line) > 0 {
			fmt.Fprintf(p.w, "%s | %s\n", p.prefix, line)
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
