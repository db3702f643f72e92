package budget

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const tableName = "galxe-lambda-state"

// clock is a fake clock shared by every instance of a test: time moves
// only when the test (or auto) advances it, so results never depend on
// the machine's speed. Sleepers wake when it reaches their time.
type clock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*sleeper]bool
	latest   time.Time // the latest time anyone slept until
}

type sleeper struct {
	until time.Time
	wake  chan struct{}
}

func newClock(at time.Time) *clock { return &clock{now: at, sleepers: map[*sleeper]bool{}} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, until time.Time) error {
	c.mu.Lock()
	if until.After(c.latest) {
		c.latest = until
	}
	if !until.After(c.now) {
		c.mu.Unlock()
		return nil
	}
	s := &sleeper{until: until, wake: make(chan struct{})}
	c.sleepers[s] = true
	c.mu.Unlock()
	select {
	case <-s.wake:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, s)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// set moves the clock to t (never back) and wakes whoever is due.
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	for s := range c.sleepers {
		if !s.until.After(c.now) {
			delete(c.sleepers, s)
			close(s.wake)
		}
	}
}

func (c *clock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

func (c *clock) sleeping() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// earliest is the first sleeper's time, false when none sleeps.
func (c *clock) earliest() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for s := range c.sleepers {
		if first.IsZero() || s.until.Before(first) {
			first = s.until
		}
	}
	return first, !first.IsZero()
}

// auto moves the clock to the earliest sleeper whenever idle says that
// every participant sleeps (none is in the middle of a table call), until
// stop is called.
func (c *clock) auto(idle func() bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
			if t, ok := c.earliest(); ok && idle() {
				c.set(t)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// eventually polls cond in real time: for a state the test cannot wait on
// (goroutines parked in the fake clock), with a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(200 * time.Microsecond) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("never: %s", what)
		}
	}
}

// fleet is a stand-in table and a clock that instances share.
type fleet struct {
	srv *dynamotest.Server
	clk *clock
}

func newFleet(t *testing.T, at time.Time) *fleet {
	t.Helper()
	srv := dynamotest.NewServer()
	t.Cleanup(srv.Close)
	srv.CreateTable(tableName)
	return &fleet{srv: srv, clk: newClock(at)}
}

// table is one instance's view of the table: its own SDK client, as a
// separate process has, retrying nothing so faults show at once.
func (f *fleet) table() *state.Table {
	return &state.Table{Client: f.srv.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), Name: tableName, Now: f.clk.Now}
}

// instance is one process's Budget over the shared table.
func (f *fleet) instance(class Class, o Options) *Budget {
	if o.Table == nil {
		o.Table = f.table()
	}
	o.Class, o.Now, o.Sleep = class, f.clk.Now, f.clk.Sleep
	if o.TableTimeout == 0 {
		// The table's faults here answer at once: a busy machine must not
		// make a slow answer look like the table's failure.
		o.TableTimeout = time.Minute
	}
	return New(o)
}

// recorder keeps the slots an instance took.
type recorder struct {
	mu    sync.Mutex
	slots []time.Time
}

func (r *recorder) add(s time.Time) {
	r.mu.Lock()
	r.slots = append(r.slots, s)
	r.mu.Unlock()
}

func (r *recorder) all() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.slots...)
}

// metricsSink collects Embedded Metric Format lines.
type metricsSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *metricsSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *metricsSink) has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.buf.Bytes(), []byte(`"`+name+`"`))
}

func newMetrics() (*obs.Metrics, *metricsSink) {
	s := &metricsSink{}
	return obs.NewMetrics(s, "test"), s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}
