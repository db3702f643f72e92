package budget_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const fleetTable = "galxe-lambda-state"

// member is one process of the fleet: its own SDK client of the table, its
// own Budget of its class, its own Galxe client, and what its calls did.
type member struct {
	name   string
	budget *budget.Budget
	galxe  *galxe.Client
	ok     atomic.Int64
	mu     sync.Mutex
	errs   []error
}

// Four processes of one deployment (two background, as the pusher and the
// scheduled function; two foreground, as two webhook instances), each with
// several calls in flight, call a Galxe stand-in that refuses more than 10
// requests a second, for about two seconds of real time. The account's
// budget in the shared table keeps the fleet under Galxe's rate: no 429,
// every call succeeds, every process gets calls through; and the month's
// count, once each process has flushed, is the requests Galxe received.
// (Only counts are asserted: the test runs on the real clock.)
func TestFleetStaysUnderTheAccountRate(t *testing.T) {
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(fleetTable)
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{"glx_fleet"}, QPS: 10})
	t.Cleanup(srv.Close)

	var fleet []*member
	for i, class := range []budget.Class{budget.Background, budget.Background, budget.Foreground, budget.Foreground} {
		b := budget.New(budget.Options{Table: state.New(db.Client(), fleetTable), Class: class, AccountQPS: 10, ForegroundQPS: 2,
			TableTimeout: time.Minute}) // a busy machine's slow answer is not the table's failure
		c, err := galxe.New(galxe.Config{Endpoint: srv.URL, Token: secret.Static("Galxe access token", "glx_fleet"), Budget: b,
			BaseBackoff: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("background %d", i)
		if class == budget.Foreground {
			name = fmt.Sprintf("foreground %d", i)
		}
		fleet = append(fleet, &member{name: name, budget: b, galxe: c})
	}

	const (
		callers = 3               // calls in flight per process
		calling = 2 * time.Second // new calls start until then
	)
	stop := time.Now().Add(calling)
	var wg sync.WaitGroup
	for _, m := range fleet {
		for range callers {
			wg.Go(func() {
				for time.Now().Before(stop) {
					// A generous budget per call: a background call may wait
					// while the foreground takes the slots first.
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err := m.galxe.Do(ctx, "health", nil)
					cancel()
					if err != nil {
						m.mu.Lock()
						m.errs = append(m.errs, err)
						m.mu.Unlock()
						continue
					}
					m.ok.Add(1)
				}
			})
		}
	}
	wg.Wait()

	if n := srv.RateLimited(); n != 0 {
		t.Errorf("Galxe refused %d of %d requests for their rate", n, srv.Requests())
	}
	var total int64
	for _, m := range fleet {
		if len(m.errs) > 0 {
			t.Errorf("%s: %d calls failed, the first: %v", m.name, len(m.errs), m.errs[0])
		}
		if m.ok.Load() == 0 {
			t.Errorf("%s: no call went through", m.name)
		}
		total += m.ok.Load()
	}
	if total != int64(srv.Requests()) {
		t.Errorf("%d calls succeeded with %d Galxe requests: retries were needed", total, srv.Requests())
	}
	for _, m := range fleet {
		if err := m.budget.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	used, err := state.New(db.Client(), fleetTable).Used(context.Background(), state.Month(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if used != int64(srv.Requests()) {
		t.Errorf("the month's count is %d, Galxe received %d requests", used, srv.Requests())
	}
	t.Logf("%d calls in %v of calling, %d Galxe requests, %d refused for their rate", total, calling, srv.Requests(), srv.RateLimited())
}
