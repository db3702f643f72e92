package webhook

import (
	"strconv"
	"sync"
	"time"
)

// signatureTolerance is the Standard Webhooks library's window: a
// timestamp further than this from now is refused as stale.
const signatureTolerance = 5 * time.Minute

// maxRemembered bounds the replay memory: an entry is its key (an id of at
// most MaxWebhookIDBytes and a number) and a time, so at most about 20 MB.
const maxRemembered = 50_000

// replayGuard refuses an exact replay of a signed request while its
// signature is still fresh; after that, the library refuses it as stale. A
// request is its webhook-id and its timestamp as the library reads it (a
// number: "0T" and "T" are the same request). A sender's retry is signed
// anew with a new timestamp, so it passes. Entries are forgotten once
// their signature is stale; when the memory is full the oldest goes, so
// the guard never stops remembering. The memory is per process: a replay
// that reaches another instance is caught only by the timestamp.
type replayGuard struct {
	mu    sync.Mutex
	seen  map[string]time.Time // key -> when its signature goes stale
	order []replayEntry        // keys in the order they were remembered (a queue)
	head  int                  // order[head:] are live
}

type replayEntry struct {
	key   string
	until time.Time
}

func replayKey(id string, signedAt int64) string {
	return strconv.FormatInt(signedAt, 10) + "." + id
}

// firstUse records the request and reports whether it was new.
func (g *replayGuard) firstUse(id string, signedAt int64, now time.Time) bool {
	key := replayKey(id, signedAt)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if until, ok := g.seen[key]; ok && now.Before(until) {
		return false
	}
	g.forget(now)
	until := time.Unix(signedAt, 0).Add(signatureTolerance)
	g.seen[key] = until
	g.order = append(g.order, replayEntry{key, until})
	return true
}

// forget drops the entries at the front of the queue that are stale, and
// the oldest while the memory is full. An entry whose key was remembered
// again later stays in the map under its newer time.
func (g *replayGuard) forget(now time.Time) {
	for g.head < len(g.order) {
		e := g.order[g.head]
		if now.Before(e.until) && len(g.seen) < maxRemembered {
			break
		}
		if g.seen[e.key].Equal(e.until) {
			delete(g.seen, e.key)
		}
		g.order[g.head] = replayEntry{}
		g.head++
	}
	// Reuse the queue's array once its front half is spent.
	if g.head > 1024 && g.head*2 > len(g.order) {
		g.order = append(g.order[:0], g.order[g.head:]...)
		g.head = 0
	}
}

// remembered is how many requests the guard holds (for tests).
func (g *replayGuard) remembered() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}
