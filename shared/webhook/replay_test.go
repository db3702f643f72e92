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
		if !g.firstUse(id(i), signed, now) {
			t.Fatalf("request %d refused as a replay", i)
		}
	}
	if n := g.remembered(); n > maxRemembered {
		t.Fatalf("%d remembered, bound %d", n, maxRemembered)
	}
	// Full, yet the newest are still refused when replayed.
	if g.firstUse(id(maxRemembered+999), signed, now) {
		t.Fatal("a replay accepted while the memory is full")
	}
	// The oldest went first.
	if !g.firstUse(id(0), signed, now) {
		t.Fatal("the oldest entry was kept over newer ones")
	}
	// Entries whose signature is stale are forgotten.
	later := now.Add(signatureTolerance + time.Second)
	g.firstUse("fresh", later.Unix(), later)
	if n := g.remembered(); n > 2 {
		t.Fatalf("%d entries kept after they went stale", n)
	}
	if len(g.order)-g.head > 2 {
		t.Fatalf("the queue holds %d stale entries", len(g.order)-g.head)
	}
}
