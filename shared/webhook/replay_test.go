package webhook

import (
	"strings"
	"testing"
	"time"
)

// The replay memory is bounded by time and size, and when full it drops the
// oldest: it never stops refusing replays of what it holds.
func TestReplayMemoryBounded(t *testing.T) {
	var g replayGuard
	now := time.Now()
	signed := now.Unix()
	id := func(i int) string {
		return strings.Repeat("x", 200) + string(rune('a'+i%26)) + time.Duration(i).String()
	}
	for i := range maxRemembered + 1000 {
		if !firstUse(&g, id(i), signed, now) {
			t.Fatalf("request %d refused as a replay", i)
		}
	}
	if n := g.remembered(); n > maxRemembered {
		t.Fatalf("%d remembered, bound %d", n, maxRemembered)
	}
	// Full, yet the newest are still refused when replayed.
	if firstUse(&g, id(maxRemembered+999), signed, now) {
		t.Fatal("a replay accepted while the memory is full")
	}
	// The oldest went first.
	if !firstUse(&g, id(0), signed, now) {
		t.Fatal("the oldest entry was kept over newer ones")
	}
	// Entries whose signature is stale are forgotten.
	later := now.Add(signatureTolerance + time.Second)
	firstUse(&g, "fresh", later.Unix(), later)
	if n := g.remembered(); n > 2 {
		t.Fatalf("%d entries kept after they went stale", n)
	}
	if len(g.order)-g.head > 2 {
		t.Fatalf("the queue holds %d stale entries", len(g.order)-g.head)
	}
}

// firstUse is a request answered for good: claimed, then settled final.
func firstUse(g *replayGuard, id string, signedAt int64, now time.Time) bool {
	key := replayKey(id, signedAt)
	if g.claim(key, signedAt, now) != claimedNew {
		return false
	}
	g.settle(key, true)
	return true
}

// A claim holds the request while it runs; settling it final remembers it,
// settling it otherwise forgets it.
func TestReplayClaimAndSettle(t *testing.T) {
	var g replayGuard
	now := time.Now()
	key := replayKey("msg_1", now.Unix())
	if g.claim(key, now.Unix(), now) != claimedNew {
		t.Fatal("a new request not claimed")
	}
	if g.claim(key, now.Unix(), now) != alreadyRunning {
		t.Fatal("a running request claimed twice")
	}
	g.settle(key, false)
	if g.claim(key, now.Unix(), now) != claimedNew {
		t.Fatal("a request not claimed again after a non-final outcome")
	}
	g.settle(key, true)
	if g.claim(key, now.Unix(), now) != alreadyDone {
		t.Fatal("a request answered for good claimed again")
	}
	// Claimed again and again after non-final outcomes, the memory stays bounded.
	for range maxRemembered + 10 {
		k := replayKey("msg_2", now.Unix())
		g.claim(k, now.Unix(), now)
		g.settle(k, false)
	}
	if n := len(g.order) - g.head; n > maxRemembered {
		t.Fatalf("the queue holds %d entries", n)
	}
}
