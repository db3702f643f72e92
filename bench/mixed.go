package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// The mixed load of DESIGN.md §11 (one account, one budget): two pushers
// drain a backlog while eight webhook instances answer eligibility reads and
// a scheduled job pages a credential's holders, every function as the
// template configures it, all against one Galxe stand-in that allows the
// account's 10 requests a second and one shared-state table.

const (
	mixedInstances = 8
	mixedReads     = 60 // eligibility reads, as page views repeat them
	mixedQuestions = 40 // distinct among them
	mixedEvery     = 200 * time.Millisecond
	mixedHolders   = 1000 // the paged credential's holders: 10 pages of 100
	accountQPS     = 10
	cachedReads    = 200 // a cached question asked again, warm
)

// unpaced lifts the process's and the account's request rates, for the
// benchmarks that measure the handler's own overhead, not Galxe's pace.
var unpaced = []string{"GALXE_MAX_QPS=1000000", "GALXE_ACCOUNT_QPS=1000000", "GALXE_FOREGROUND_QPS=1"}

// backgroundQPS is the template's share of the account for background
// callers (the pusher, the scheduled function): GALXE_ACCOUNT_QPS less
// GALXE_FOREGROUND_QPS.
const backgroundQPS = 8.0

// accountEnv is what the template gives every function for the account's
// budget (its parameters' defaults).
var accountEnv = []string{fmt.Sprintf("GALXE_ACCOUNT_QPS=%d", accountQPS), "GALXE_FOREGROUND_QPS=2"}

type mixedResult struct {
	messages, delivered, requests, rateLimited, eligibility int
	reads                                                   []time.Duration
	readStatus                                              map[string]int
	hits, otherInstanceHits                                 int
	drain, floor                                            time.Duration
	cached                                                  []time.Duration
	cachedHits                                              int
	jobPages                                                int
	jobErr                                                  string
	calls                                                   ddbCalls
	busy                                                    float64 // the machine's cores, busy share during the drain
}

// readCredential is the credential the eligibility reads ask about (not
// pushed to during the load: a push would rightly invalidate its reads).
const readCredential = "380512468497932290"

func mixedLoad(webhookBin, scheduledBin, pusherBin string, env func(string, ...string) []string, n int) (*mixedResult, error) {
	q, url, dlq, slow, ddb, done := queueRig()
	defer done()
	slow.AddCredential(galxetest.Credential{ID: readCredential, Name: "eligibility", Items: []string{"0x00000000000000000000000000000000000000e1"}})
	holders := make([]string, mixedHolders)
	for i := range holders {
		holders[i] = fmt.Sprintf("0x%040x", 0xd0000+i)
	}
	const holdersCred = "380512468497932291"
	slow.AddCredential(galxetest.Credential{ID: holdersCred, Name: "holders", Items: holders})

	at := time.Now().UnixMilli()
	bodies := make([]string, n)
	for i := range bodies {
		b := pushBody(bulkCredID, "APPEND", fmt.Sprintf("0x%040x", i+1))
		bodies[i] = b[:len(b)-1] + fmt.Sprintf(`,"at":%d}`, at+int64(i/1000))
	}
	q.Put("push", bodies...)

	whEnv := env(slow.URL, append(append([]string{}, accountEnv...), stateEnv(ddb)...)...)
	instances := make([]*runtimeAPI, mixedInstances)
	for i := range instances {
		api, cmd, _, err := startFunction(webhookBin, whEnv)
		if err != nil {
			return nil, err
		}
		defer stop(api, cmd)
		instances[i] = api
	}
	schedEnv := env(slow.URL, append(append([]string{"GOGC=50"}, accountEnv...), stateEnv(ddb)...)...)
	sched, schedCmd, _, err := startFunction(scheduledBin, schedEnv)
	if err != nil {
		return nil, err
	}
	defer stop(sched, schedCmd)
	pool, stopPushers, err := startPushers(pusherBin, env(slow.URL, append(pusherEnv(dlq, q.URL, ddb), accountEnv...)...))
	if err != nil {
		return nil, err
	}
	defer stopPushers()

	r := &mixedResult{messages: n, readStatus: map[string]int{}}
	busy0, total0 := machineTicks()
	start := time.Now()
	es := &sqstest.EventSource{Client: sqsClient(q), QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
		BatchSize: 10000, Window: time.Second, MaxConcurrency: pushers, Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			t0 := time.Since(start)
			out, err := pool.invoke(ctx, payload)
			if os.Getenv("BENCH_TRACE") != "" {
				log.Printf("invocation of %d records: %.2f s to %.2f s", bytes.Count(payload, []byte(`"messageId":`)), t0.Seconds(), time.Since(start).Seconds())
			}
			return out, err
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go es.Run(ctx)

	if os.Getenv("BENCH_TRACE") != "" {
		go func() {
			last := 0
			for ctx.Err() == nil {
				time.Sleep(time.Second)
				n := slow.Requests()
				log.Printf("%.0f s: Galxe %d requests (+%d), %d held, %d refused", time.Since(start).Seconds(), n, n-last, slow.Held(bulkCredID), slow.RateLimited())
				last = n
			}
		}()
	}
	var wg sync.WaitGroup
	wg.Go(func() { // the job, once the drain is under way
		time.Sleep(2 * time.Second)
		ev, _ := json.Marshal(map[string]any{"job": "operation", "operation": "credentialHolders",
			"variables": map[string]any{"id": holdersCred}, "allPages": true})
		inv, err := sched.invoke(ev, 60*time.Second)
		switch {
		case err != nil:
			r.jobErr = err.Error()
		case inv.isError:
			r.jobErr = string(inv.body)
		default:
			var s struct{ Pages int }
			_ = json.Unmarshal(inv.body, &s)
			r.jobPages = s.Pages
		}
	})

	// The reads: 40 questions, 20 of them asked again (the address written
	// another way: the cache's key is canonical), one every 200 ms from 1 s
	// into the drain, round robin over the instances.
	order := make([]int, mixedReads)
	for i := range order {
		order[i] = i % mixedQuestions
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	firstBy := map[int]int{} // question -> the instance that asked it first
	var mu sync.Mutex
	time.Sleep(time.Second)
	for k, question := range order {
		inst := k % mixedInstances
		address := fmt.Sprintf("0x%040x", 0xe0000+question)
		if _, seen := firstBy[question]; seen {
			address = "0x" + strings.ToUpper(address[2:])
		} else {
			firstBy[question] = inst
		}
		asker := firstBy[question]
		body := fmt.Sprintf(`{"variables":{"id":%q,"address":%q}}`, readCredential, address)
		wg.Go(func() {
			inv, err := instances[inst].invoke(signed(apiEvent("POST", "/operations/credentialEligibility", body)), 30*time.Second)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.readStatus["error"]++
				return
			}
			r.readStatus[statusOf(inv.body)]++
			r.reads = append(r.reads, inv.answered.Sub(inv.handed))
			if cacheHit(inv.body) {
				r.hits++
				if asker != inst {
					r.otherInstanceHits++
				}
			}
		})
		time.Sleep(mixedEvery)
	}
	for end := time.Now().Add(5 * time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if r.drain == 0 && slow.Held(bulkCredID) >= n {
			r.drain = time.Since(start)
			break
		}
	}
	if busy1, total1 := machineTicks(); total1 > total0 {
		r.busy = float64(busy1-busy0) / float64(total1-total0)
	}
	wg.Wait()
	if r.drain == 0 {
		r.drain = time.Since(start)
	}
	r.delivered = len(slow.Items(bulkCredID))
	r.requests, r.rateLimited = slow.Requests(), slow.RateLimited()
	r.eligibility = slow.Calls("credentialEligibility")
	r.floor = time.Duration(float64(r.requests-r.rateLimited) / accountQPS * float64(time.Second))
	r.calls = callsOf(ddb)

	// A cached read, warm: the first question, asked of the last instance.
	body := fmt.Sprintf(`{"variables":{"id":%q,"address":"0x%040x"}}`, readCredential, 0xe0000+order[0])
	for i := 0; i < cachedReads+20; i++ {
		inv, err := instances[mixedInstances-1].invoke(signed(apiEvent("POST", "/operations/credentialEligibility", body)), 10*time.Second)
		if err != nil {
			return nil, err
		}
		if i < 20 {
			continue
		}
		r.cached = append(r.cached, inv.answered.Sub(inv.handed))
		if cacheHit(inv.body) {
			r.cachedHits++
		}
	}
	return r, nil
}

// cacheHit reports whether an API Gateway answer says it came from the
// read cache (Cache-Status, RFC 9211).
func cacheHit(body []byte) bool {
	var resp struct {
		Headers map[string]string `json:"headers"`
	}
	if json.Unmarshal(body, &resp) != nil {
		return false
	}
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Cache-Status") && strings.Contains(v, "; hit") {
			return true
		}
	}
	return false
}

func renderMixed(m *mixedResult) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	reads := summarize(m.reads)
	cached := summarize(m.cached)
	accepted := m.requests - m.rateLimited
	limited := 0.0
	if m.requests > 0 {
		limited = float64(m.rateLimited) / float64(m.requests)
	}
	ok2xx := 0
	for s, c := range m.readStatus {
		if strings.HasPrefix(s, "2") {
			ok2xx += c
		}
	}
	fmt.Fprintf(&b, "\n## Mixed load: one account, one budget (DESIGN.md §11)\n\n")
	fmt.Fprintf(&b, "Two pushers drain %d one-address messages while %d webhook instances answer %d eligibility reads of %d distinct questions (one every %v, round robin; a repeated question's address is written in capitals) and a scheduled job pages the %d holders of a credential; every function as the template configures it (`GALXE_ACCOUNT_QPS=10`, `GALXE_FOREGROUND_QPS=2`, pushers at `GALXE_MAX_QPS=5`), one shared-state table, one Galxe stand-in that allows 10 requests a second and answers in 150 ms.\n\n",
		m.messages, mixedInstances, mixedReads, mixedQuestions, mixedEvery, mixedHolders)
	fmt.Fprintf(&b, "| measure | value | goal |\n| --- | ---: | --- |\n")
	fmt.Fprintf(&b, "| Galxe requests / answered 429 | %d / %d (%.2f%%) | < 0.5%%: %s |\n", m.requests, m.rateLimited, limited*100, verdict(limited < 0.005))
	fmt.Fprintf(&b, "| reads answered 2xx | %d of %d %v | all: %s |\n", ok2xx, mixedReads, m.readStatus, verdict(ok2xx == mixedReads))
	fmt.Fprintf(&b, "| read answer: median / p99 / max | %s / %s / %s | p99 < 1 s: %s |\n", ms(reads.median), ms(reads.p99), ms(reads.max), verdict(len(m.reads) > 0 && reads.p99 < time.Second))
	fmt.Fprintf(&b, "| Galxe eligibility requests for the %d reads | %d | ≤ %d: %s |\n", mixedReads, m.eligibility, mixedQuestions, verdict(m.eligibility <= mixedQuestions))
	fmt.Fprintf(&b, "| reads answered from the cache / by an instance other than the one that asked first | %d / %d | |\n", m.hits, m.otherInstanceHits)
	fmt.Fprintf(&b, "| drain, until Galxe holds every address | %.2f s (%.2f× the floor) | ≤ 1.1× the floor: %s |\n", m.drain.Seconds(), float64(m.drain)/float64(m.floor), verdict(float64(m.drain) <= 1.1*float64(m.floor)))
	fmt.Fprintf(&b, "| the machine's %d cores busy during the drain (every function, the stand-ins, the event source) | %.0f%% | |\n", runtime.NumCPU(), m.busy*100)
	fmt.Fprintf(&b, "| the account's floor (Galxe's %d accepted requests at %d a second) | %.2f s | |\n", accepted, accountQPS, m.floor.Seconds())
	fmt.Fprintf(&b, "| addresses delivered | %d of %d | all: %s |\n", m.delivered, m.messages, verdict(m.delivered == m.messages))
	job := fmt.Sprintf("%d pages", m.jobPages)
	if m.jobErr != "" {
		job = "failed: " + clip(m.jobErr, 200)
	}
	fmt.Fprintf(&b, "| the job paging the holders | %s | |\n", job)
	fmt.Fprintf(&b, "| a cached read, warm: median / p99 (%d reads, %d answered from the cache) | %s / %s | p99 < 25 ms: %s |\n", len(m.cached), m.cachedHits, ms(cached.median), ms(cached.p99), verdict(m.cachedHits == len(m.cached) && cached.p99 < 25*time.Millisecond))
	if accepted > 0 {
		fmt.Fprintf(&b, "| DynamoDB requests per Galxe request (all functions; the drain's ordering marks included) | %.1f: %s | |\n", float64(m.calls.total())/float64(accepted), m.calls.per(accepted))
		nonMark := m.calls.total() - m.messages // one conditional write an item is the drain's marks
		fmt.Fprintf(&b, "| the same without the drain's %d ordering marks | %.2f | |\n", m.messages, float64(nonMark)/float64(accepted))
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
