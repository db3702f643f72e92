package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
)

// The demo's steps for the account as a whole (DESIGN.md §11): the budget
// every function shares, and the fleet's read cache.

// drainCredID is the credential the drain pushes to: not the one the reads
// ask about, whose cached answers a push would rightly invalidate.
const drainCredID = "380512468497932300"

const (
	drainMessages = 20000
	drainReads    = 30
	readEvery     = 200 * time.Millisecond
)

// demoAccountRate queues a backlog of one-address pushes and, while the
// pusher drains it, sends eligibility reads to the webhook; it prints
// Galxe's requests a second as they happen. Galxe's stand-in allows the
// account's 10 a second: no request may be refused with 429.
func demoAccountRate(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	s.Galxe.AddCredential(galxetest.Credential{ID: drainCredID, Name: "Backlog"})
	at := time.Now().UnixMilli()
	bodies := make([]string, drainMessages)
	for i := range bodies {
		b, _ := json.Marshal(map[string]any{"credId": drainCredID, "operation": "APPEND",
			"items": []string{fmt.Sprintf("0x%040x", 0xf00000+i)}, "at": at})
		bodies[i] = string(b)
	}
	requests0, limited0 := s.Galxe.Requests(), s.Galxe.RateLimited()
	start := time.Now()
	s.SQS.Put(PushQueueName, bodies...)

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		slowest  time.Duration
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for i := range drainReads {
			address := fmt.Sprintf("0x%040x", 0xa1+i%10)
			ev, err := signedPost(s, "/operations/credentialEligibility",
				fmt.Appendf(nil, `{"variables":{"id":%q,"address":%q}}`, galxetest.DemoCredentialID, address), fmt.Sprintf("demo-read-%d", i))
			wg.Go(func() {
				status := 0
				t0 := time.Now()
				if err == nil {
					if inv, ierr := s.Functions["webhook"].Invoke(ctx, ev); ierr == nil {
						status = readAnswer("webhook", inv).status
					}
				}
				mu.Lock()
				statuses[status]++
				slowest = max(slowest, time.Since(t0))
				mu.Unlock()
			})
			time.Sleep(readEvery)
		}
	})

	// Galxe's requests, sampled each second while the backlog drains.
	var rates []string
	peak := 0.0
	last, lastAt := requests0, time.Now()
	delivered := false
	for end := time.Now().Add(2 * time.Minute); time.Now().Before(end) && ctx.Err() == nil; {
		time.Sleep(time.Second)
		n, now := s.Galxe.Requests(), time.Now()
		rate := float64(n-last) / now.Sub(lastAt).Seconds()
		rates = append(rates, fmt.Sprintf("%.0f", rate))
		peak = max(peak, rate)
		last, lastAt = n, now
		if s.Galxe.Held(drainCredID) >= drainMessages {
			delivered = true
			break
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	limited := s.Galxe.RateLimited() - limited0
	answered := statuses[200]
	ok := delivered && limited == 0 && answered == drainReads
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== one account's rate while a backlog drains and reads go on: %s\n", mark)
	fmt.Fprintf(w, "%d queued pushes delivered: %v in %.1f s; %d eligibility reads answered 200: %d (slowest %d ms)\n",
		drainMessages, delivered, elapsed.Seconds(), drainReads, answered, slowest.Milliseconds())
	fmt.Fprintf(w, "Galxe's requests a second, each second: %s (peak %.0f; the account allows 10); refused with 429: %d\n",
		strings.Join(rates, " "), peak, limited)
	return ok, nil
}

// demoCachedRead asks one question of two webhook instances in turn: the
// second answers from the fleet's read cache, and Galxe is asked once.
func demoCachedRead(ctx context.Context, s *Stack, w io.Writer) (bool, error) {
	body := fmt.Appendf(nil, `{"variables":{"id":%q,"address":%q}}`, galxetest.DemoCredentialID, "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")
	ev, err := signedPost(s, "/operations/credentialEligibility", body, "demo-cached")
	if err != nil {
		return false, err
	}
	before := s.Galxe.Calls("credentialEligibility")
	invs, err := s.Functions["webhook"].InvokeEach(ctx, ev, 2)
	if err != nil {
		return false, err
	}
	first, second := readAnswer("webhook", invs[0]), readAnswer("webhook", invs[1])
	calls := s.Galxe.Calls("credentialEligibility") - before
	hit := strings.Contains(second.headers["cache-status"], "; hit")
	ok := first.status == 200 && second.status == 200 && second.body == first.body && hit && calls == 1
	mark := "as expected"
	if !ok {
		mark = "WRONG"
	}
	fmt.Fprintf(w, "\n=== a read answered from the cache by another instance: %s\n", mark)
	fmt.Fprintf(w, "the same eligibility question to two webhook instances: the first answered %d (Cache-Status: %s); the second %d (Cache-Status: %s, Age: %s), the same body: %v; Galxe asked %d time(s)\n",
		first.status, first.headers["cache-status"], second.status, second.headers["cache-status"], second.headers["age"], second.body == first.body, calls)
	return ok, nil
}
