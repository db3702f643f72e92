// Package readcache is the fleet-wide read cache of POST /operations/{name}
// (DESIGN.md §11): the answers of queries are kept in the shared-state
// table for a short lifetime, under a key made of the operation and its
// variables in a canonical form, so the same question asked of any
// instance is asked of Galxe once. A push to a credential makes its cached
// reads stale at once (state.Table.BumpGeneration). The table failing is a
// miss, never an error; errors are never kept.
package readcache

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"golang.org/x/sync/singleflight"
)

// MaxBytes is the largest answer kept: a bigger one would crowd DynamoDB's
// 400 KB item and cost more to read than it saves.
const MaxBytes = 256 << 10

// DefaultTableTimeout bounds each table call of a read: a table that hangs
// costs a read this much, then the read goes to Galxe.
const DefaultTableTimeout = time.Second

// Options tune a Cache.
type Options struct {
	// Override is set when READ_CACHE_SECONDS is: Lifetime then replaces
	// every operation's own (capped at MaxLifetime), and 0 turns the cache
	// off.
	Override bool
	Lifetime time.Duration
	// TableTimeout bounds each table call; 0: DefaultTableTimeout.
	TableTimeout time.Duration
}

// Cache is the read cache. A nil *Cache is off: Get asks Galxe every time
// and says nothing. It is safe for concurrent use.
type Cache struct {
	table   *state.Table
	opts    Options
	flights singleflight.Group
	joined  func() // tests: a read has joined (or started) its flight
}

// New makes the cache over the shared-state table, or nil (off) without a
// table or when READ_CACHE_SECONDS is 0.
func New(t *state.Table, o Options) *Cache {
	if t == nil || o.Override && o.Lifetime <= 0 {
		return nil
	}
	if o.TableTimeout <= 0 {
		o.TableTimeout = DefaultTableTimeout
	}
	return &Cache{table: t, opts: o}
}

// Fetch asks Galxe.
type Fetch func(ctx context.Context) (json.RawMessage, error)

// Answer is a read's data and what the cache did.
type Answer struct {
	Data json.RawMessage // shared with concurrent identical reads: read only
	// Status is the Cache-Status value; empty when the cache is off or
	// the operation is not cached (then no header is sent).
	Status string
	Age    string // the Age value, on a hit
	Hit    bool
	// TableErr is the table's failure, reported to the one read that met
	// it (not to those that shared its call): the read was a miss.
	TableErr error
}

// Headers are the answer's response headers (nil when there are none).
func (a Answer) Headers() map[string]string {
	if a.Status == "" {
		return nil
	}
	h := map[string]string{HeaderCacheStatus: a.Status}
	if a.Age != "" {
		h[HeaderAge] = a.Age
	}
	return h
}

// flight is what one lookup-and-fetch found, shared by identical reads.
type flight struct {
	data     json.RawMessage
	hit      bool
	entry    *state.CachedRead // on a hit
	stored   bool
	detail   string
	tableErr error
	err      error // Galxe's: shared with identical reads, never kept
}

// Get answers a query: from the table when an unexpired entry of the same
// question is there (and, for a read naming a credential, stored under
// its current generation), else from fetch, keeping the answer when it is
// no error and at most MaxBytes. Identical reads at once in this process
// share one lookup and one call to Galxe: the first one's, made with its
// context (a read that shares it still stops waiting at its own deadline,
// less the reserve Galxe's client keeps for answering).
func (c *Cache) Get(ctx context.Context, op string, vars json.RawMessage, fetch Fetch) (Answer, error) {
	if c == nil || !Cacheable(op) {
		data, err := fetch(ctx)
		return Answer{Data: data}, err
	}
	parsed, err := parse(vars)
	var canonical []byte
	if err == nil {
		canonical, err = canonicalOf(parsed)
	}
	cred, named := credentialOf(op, parsed)
	if err != nil || !named {
		data, err := fetch(ctx)
		return Answer{Data: data}, err
	}
	key := keyOf(op, canonical)
	led := false
	ch := c.flights.DoChan(key, func() (v any, _ error) {
		led = true
		// DoChan runs this on a goroutine of its own, where a panic would
		// end the process: it becomes this read's error instead.
		defer func() {
			if p := recover(); p != nil {
				v = &flight{err: fmt.Errorf("readcache: the read panicked: %v", p)}
			}
		}()
		return c.lookupOrFetch(ctx, op, key, cred, fetch), nil
	})
	if c.joined != nil {
		c.joined()
	}
	// A read that shares another's call stops waiting where Galxe's client
	// would have stopped its own call: the reserve is left for answering.
	wait := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithDeadline(ctx, d.Add(-galxe.DefaultReserve))
		defer cancel()
	}
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-wait.Done():
		return Answer{}, &galxe.Error{Code: galxe.CodeUpstreamTimeout, Category: galxe.CategoryUpstream,
			Message: "Galxe did not answer in time", Err: ctx.Err()}
	}
	f := res.Val.(*flight)
	a := Answer{Data: f.data, Hit: f.hit}
	if led {
		a.TableErr = f.tableErr
	}
	if f.err != nil {
		// Still a miss (counted as one); the caller answers the error
		// without the header.
		a.Status = missStatus(false, "", res.Shared && !led)
		return a, f.err
	}
	now := c.table.Now
	if now == nil {
		now = time.Now
	}
	if f.hit {
		t := time.UnixMilli(now().UnixMilli()) // the entry's times are whole milliseconds
		a.Status, a.Age = hitStatus(f.entry.Until.Sub(t)), age(t.Sub(f.entry.StoredAt))
		return a, nil
	}
	a.Status = missStatus(f.stored, f.detail, res.Shared && !led)
	return a, nil
}

// storeMargin is kept between storing an answer and the readers' cut.
const storeMargin = 20 * time.Millisecond

// lookupOrFetch is one read's work: the table, then Galxe and the table
// again on a miss.
func (c *Cache) lookupOrFetch(ctx context.Context, op, key, cred string, fetch Fetch) *flight {
	lctx, cancel := context.WithTimeout(ctx, c.opts.TableTimeout)
	found, lookupErr := c.table.LookupRead(lctx, key, cred)
	cancel()
	if lookupErr == nil && found.Hit() {
		return &flight{data: found.Entry.Data, hit: true, entry: found.Entry}
	}
	data, err := fetch(ctx)
	f := &flight{data: data, tableErr: lookupErr, err: err}
	switch {
	case err != nil: // never kept
	case lookupErr != nil:
		// A table that just failed (or hangs) is not asked again: the
		// answer goes out now.
		f.detail = detailStateUnavailable
	case len(data) > MaxBytes:
		f.detail = detailTooLarge
	case len(data) > 0 && ctx.Err() == nil: // no data at all: nothing to keep
		// Stored only while the readers still wait for the answer (they
		// stop at the deadline less the reserve): a slow table must not
		// turn Galxe's answer into a timeout.
		storeBy := time.Now().Add(c.opts.TableTimeout)
		if d, ok := ctx.Deadline(); ok && d.Add(-galxe.DefaultReserve-storeMargin).Before(storeBy) {
			storeBy = d.Add(-galxe.DefaultReserve - storeMargin)
		}
		sctx, cancel := context.WithDeadline(ctx, storeBy)
		err := c.table.StoreRead(sctx, key, data, found.Gen, c.lifetime(op))
		cancel()
		if err != nil {
			f.detail, f.tableErr = detailStateUnavailable, err
		} else {
			f.stored = true
		}
	}
	return f
}

// lifetime is how long op's answers are kept.
func (c *Cache) lifetime(op string) time.Duration {
	if c.opts.Override {
		return min(c.opts.Lifetime, MaxLifetime)
	}
	return Lifetime(op)
}
