package webhook

import (
	"sync"
	"time"
)

// signatureTolerance is the Standard Webhooks library's window: a
// timestamp further than this from now is refused as stale.
const signatureTolerance = 5 * time.Minute

// maxRemembered bounds the replay memory (an entry is under 100 bytes).
const maxRemembered = 100_000

// replayGuard refuses an exact replay of a signed request (same webhook-id
// and timestamp) while its signature is still fresh; after that, the
// library refuses it as stale. A sender's retry is signed anew with a new
// timestamp, so it passes. The memory is per process: a replay that reaches
// another instance is caught only by the timestamp.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time // key -> when it can be forgotten
}

// firstUse records key and reports whether it was new.
func (g *replayGuard) firstUse(key string, signedAt, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if until, ok := g.seen[key]; ok && now.Before(until) {
		return false
	}
	if len(g.seen) >= maxRemembered {
		for k, until := range g.seen {
			if !now.Before(until) {
				delete(g.seen, k)
			}
		}
		if len(g.seen) >= maxRemembered {
			return true // full of live entries: the signature check still holds
		}
	}
	g.seen[key] = signedAt.Add(signatureTolerance)
	return true
}
