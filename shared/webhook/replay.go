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
// anew with a new timestamp, so it passes.
//
// A request is claimed once its signature checks out and held while it
// runs: an identical one meanwhile is told it is in progress. It is
// remembered only once its outcome is final; a 429 or a 5xx invites the
// same bytes again, so then it is forgotten (DESIGN.md §6). Entries are
// forgotten once their signature is stale; when the memory is full the
// oldest goes, so the guard never stops remembering. The memory is per
// process: a replay that reaches another instance is caught only by the
// timestamp.
type replayGuard struct {
	mu    sync.Mutex
	seen  map[string]replayState
	order []replayEntry // keys in the order they were claimed (a queue)
	head  int           // order[head:] are live
}

type replayState struct {
	until   time.Time // when the signature goes stale
	running bool      // claimed, not yet settled
}

type replayEntry struct {
	key   string
	until time.Time
}

func replayKey(id string, signedAt int64) string {
	return strconv.FormatInt(signedAt, 10) + "." + id
}

// What a claim found.
type claimResult int

const (
	claimedNew     claimResult = iota // not seen: it runs, and is settled after
	alreadyRunning                    // an identical request is running now
	alreadyDone                       // an identical request was answered for good
)

// claim marks a request as running, unless an identical one is running or
// was answered for good.
func (g *replayGuard) claim(key string, signedAt int64, now time.Time) claimResult {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]replayState{}
	}
	if st, ok := g.seen[key]; ok && now.Before(st.until) {
		if st.running {
			return alreadyRunning
		}
		return alreadyDone
	}
	g.forget(now)
	until := time.Unix(signedAt, 0).Add(signatureTolerance)
	g.seen[key] = replayState{until: until, running: true}
	g.order = append(g.order, replayEntry{key, until})
	return claimedNew
}

// settle ends a claim: a final outcome is remembered until the signature
// goes stale; any other is forgotten, so the same bytes may run again.
func (g *replayGuard) settle(key string, final bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.seen[key]
	switch {
	case !ok: // dropped meanwhile, the memory being full
	case final:
		st.running = false
		g.seen[key] = st
	default:
		delete(g.seen, key)
	}
}

// forget drops the entries at the front of the queue that are stale, and
// the oldest while the memory is full. The queue bounds the map: every key
// in the map is in the queue (a key claimed again after a non-final
// outcome is in it twice; its time, made from the key, is the same).
func (g *replayGuard) forget(now time.Time) {
	for g.head < len(g.order) {
		e := g.order[g.head]
		if now.Before(e.until) && len(g.order)-g.head < maxRemembered {
			break
		}
		delete(g.seen, e.key)
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
