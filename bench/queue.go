package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
)

// The queued path's benchmarks (DESIGN.md §10): the functions as built for
// this machine, each process behind a Runtime API stand-in of its own, an
// SQS stand-in with the push queue, the event source doing what Lambda's
// does (MaximumConcurrency 2), and a Galxe stand-in that allows 10 requests
// a second and answers in 150 ms.

const (
	burstInstances = 8
	burstPushes    = 400
	pushers        = 2
)

type burstResult struct {
	accepted, delivered, requests, rateLimited, invocations int
	firstAnswers, warmAnswers                               []time.Duration
	window                                                  time.Duration
	calls                                                   ddbCalls // the webhooks' and the pushers' table requests
}

type backlogResult struct {
	messages, delivered, received, requests, rateLimited, invocations int
	wall, ideal, drained                                              time.Duration
	window                                                            time.Duration
	peakRSS                                                           int64
	largest                                                           int // records in the largest invocation
	largestBytes                                                      int
	calls                                                             ddbCalls      // the pushers' table requests (ordering marks)
	cpu                                                               time.Duration // both pushers' user and system CPU time during the drain
	standIns                                                          time.Duration // this process's (the stand-ins' and the event source's)
	busy                                                              float64       // the machine's cores, busy share during the drain
	capacity                                                          float64       // the stand-in's conditional PutItems a second on this machine
	withAt                                                            bool          // the bodies carry `at`
}

// pusherPool is the pushers' processes: an invocation goes to a free one.
type pusherPool struct {
	free chan *runtimeAPI
	pids []int
}

func startPushers(bin string, env []string) (*pusherPool, func(), error) {
	p := &pusherPool{free: make(chan *runtimeAPI, pushers)}
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	for range pushers {
		api, cmd, _, err := startFunction(bin, env)
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		stops = append(stops, func() { stop(api, cmd) })
		p.pids = append(p.pids, cmd.Process.Pid)
		p.free <- api
	}
	return p, stopAll, nil
}

func (p *pusherPool) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var api *runtimeAPI
	select {
	case api = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { p.free <- api }()
	asked := time.Now()
	inv, err := api.invoke(payload, 120*time.Second)
	if err != nil {
		return nil, err
	}
	if os.Getenv("BENCH_TRACE") != "" {
		log.Printf("  handed after %v, answered after %v", inv.handed.Sub(asked), inv.answered.Sub(inv.handed))
	}
	if inv.isError {
		return nil, fmt.Errorf("the pusher failed: %s", inv.body)
	}
	return inv.body, nil
}

func sqsClient(q *sqstest.Server) *sqs.Client {
	c, err := q.Client()
	check(err)
	return c
}

func pushBody(credID, op string, items ...string) string {
	b, _ := json.Marshal(map[string]any{"credId": credID, "operation": op, "items": items})
	return string(b)
}

// queueRig is what both queued benchmarks run against: the SQS stand-in
// with the push queue (as the template makes it) and its dead letters, the
// slow Galxe stand-in holding the benchmark's credential, and the DynamoDB
// stand-in holding the shared-state table every function of the benchmark
// shares.
func queueRig() (q *sqstest.Server, url, dlq string, slow *galxetest.Server, ddb *dynamotest.Server, done func()) {
	q = sqstest.NewServer()
	dlq = q.CreateQueue("push-dlq", sqstest.QueueOptions{})
	url = q.CreateQueue("push", sqstest.QueueOptions{VisibilityTimeout: 720 * time.Second, DeadLetter: "push-dlq", MaxReceiveCount: 5})
	slow = galxetest.NewServer(galxetest.Options{Tokens: []string{benchToken}, QPS: 10, Latency: 150 * time.Millisecond, Empty: true})
	slow.AddCredential(galxetest.Credential{ID: bulkCredID, Name: "queued pushes"})
	ddb = newStateServer()
	return q, url, dlq, slow, ddb, func() { slow.Close(); q.Close(); ddb.Close() }
}

// queueBurst: 400 one-address pushes over 8 webhook instances, then the
// pushers' calls.
func queueBurst(webhookBin, pusherBin string, env func(string, ...string) []string) (*burstResult, error) {
	q, url, dlq, slow, ddb, done := queueRig()
	defer done()

	whEnv := env(slow.URL, append([]string{"PUSH_QUEUE_URL=" + url, "AWS_ENDPOINT_URL_SQS=" + q.URL}, stateEnv(ddb)...)...)
	type instance struct {
		api  *runtimeAPI
		stop func()
	}
	instances := make([]instance, burstInstances)
	for i := range instances {
		api, cmd, _, err := startFunction(webhookBin, whEnv)
		if err != nil {
			return nil, err
		}
		instances[i] = instance{api, func() { stop(api, cmd) }}
		defer instances[i].stop()
	}
	pool, stopPushers, err := startPushers(pusherBin, env(slow.URL, pusherEnv(dlq, q.URL, ddb)...))
	if err != nil {
		return nil, err
	}
	defer stopPushers()
	r := &burstResult{window: 2 * time.Second}
	es := &sqstest.EventSource{Client: sqsClient(q), QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
		BatchSize: 10000, Window: r.window, MaxConcurrency: pushers, Invoke: pool.invoke}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go es.Run(ctx)

	addrs := make([]string, burstPushes)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("0x%040x", 0xb0000+i)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, inst := range instances {
		wg.Go(func() {
			for j := k; j < burstPushes; j += burstInstances {
				ev := signed(apiEvent("POST", "/credentials/"+bulkCredID+"/items", fmt.Sprintf(`{"operation":"APPEND","items":[%q]}`, addrs[j])))
				inv, err := inst.api.invoke(ev, 25*time.Second)
				mu.Lock()
				if err == nil && statusOf(inv.body) == "202" {
					r.accepted++
					d := inv.answered.Sub(inv.handed)
					if j == k {
						r.firstAnswers = append(r.firstAnswers, d)
					} else {
						r.warmAnswers = append(r.warmAnswers, d)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if len(slow.Items(bulkCredID)) == burstPushes {
			break
		}
	}
	held := map[string]bool{}
	for _, it := range slow.Items(bulkCredID) {
		held[it] = true
	}
	for _, a := range addrs {
		if held[a] {
			r.delivered++
		}
	}
	r.requests, r.rateLimited, r.invocations = slow.Requests(), slow.RateLimited(), es.Invocations()
	r.calls = callsOf(ddb)
	return r, nil
}

// backlog: 100,000 one-address messages waiting, drained by two pushers
// that take an ordering mark of each item in one shared-state table.
func backlog(pusherBin string, env func(string, ...string) []string, n int) (*backlogResult, error) {
	r := &backlogResult{messages: n, window: time.Second, withAt: pusherAcceptsAt()}
	r.capacity = standInCapacity(4000)
	q, url, dlq, slow, ddb, done := queueRig()
	defer done()
	at := time.Now().UnixMilli()
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = pushBody(bulkCredID, "APPEND", fmt.Sprintf("0x%040x", i+1))
		if r.withAt { // as the webhook writes them: when it accepted the push
			bodies[i] = bodies[i][:len(bodies[i])-1] + fmt.Sprintf(`,"at":%d}`, at+int64(i/1000))
		}
	}
	q.Put("push", bodies...)

	pool, stopPushers, err := startPushers(pusherBin, env(slow.URL, pusherEnv(dlq, q.URL, ddb)...))
	if err != nil {
		return nil, err
	}
	defer stopPushers()
	cpu0 := make([]time.Duration, len(pool.pids))
	for i, pid := range pool.pids {
		cpu0[i] = cpuTime(pid)
	}
	self0 := cpuTime(os.Getpid())
	busy0, total0 := machineTicks()
	start := time.Now()
	var (
		mu    sync.Mutex
		sizes []int // records per invocation
	)
	invoke := func(ctx context.Context, payload []byte) ([]byte, error) {
		records := bytes.Count(payload, []byte(`"messageId":`)) // not a decode on the invocations' path
		mu.Lock()
		sizes = append(sizes, records)
		if records > r.largest {
			r.largest, r.largestBytes = records, len(payload)
		}
		mu.Unlock()
		t0 := time.Since(start)
		out, err := pool.invoke(ctx, payload)
		if os.Getenv("BENCH_TRACE") != "" {
			log.Printf("invocation of %d records: %.2f s to %.2f s", records, t0.Seconds(), time.Since(start).Seconds())
		}
		return out, err
	}
	es := &sqstest.EventSource{Client: sqsClient(q), QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:123456789012:push",
		BatchSize: 10000, Window: r.window, MaxConcurrency: pushers, Invoke: invoke}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go es.Run(ctx)
	// Delivered: every address held by Galxe (what the ideal counts);
	// drained: the queue empty too (the last batch's deletes done).
	for end := time.Now().Add(10 * time.Minute); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if r.wall == 0 && slow.Held(bulkCredID) >= n {
			r.wall = time.Since(start)
		}
		if r.wall != 0 && len(q.Messages("push")) == 0 {
			break
		}
	}
	r.drained = time.Since(start)
	self1 := cpuTime(os.Getpid())
	if busy1, total1 := machineTicks(); total1 > total0 {
		r.busy = float64(busy1-busy0) / float64(total1-total0)
	}
	if r.wall == 0 {
		r.wall = r.drained
	}
	cancel()
	r.delivered, r.received = len(slow.Items(bulkCredID)), slow.Received(bulkCredID)
	r.requests, r.rateLimited, r.invocations = slow.Requests(), slow.RateLimited(), es.Invocations()
	for i, pid := range pool.pids {
		r.peakRSS = max(r.peakRSS, peakRSS(pid))
		r.cpu += cpuTime(pid) - cpu0[i]
	}
	r.standIns = self1 - self0
	r.calls = callsOf(ddb)
	r.ideal = idealDrain(sizes)
	calls := 0
	for _, n := range sizes {
		calls += (n + itemsPerCall - 1) / itemsPerCall
	}
	r.ideal = max(r.ideal, time.Duration(float64(calls)/backgroundQPS*float64(time.Second)))
	return r, nil
}

// idealDrain is the drain's ideal: each invocation's calls (500 items
// each) paced at 5 a second, c calls taking c/5 s (the last one's 150 ms
// answer fits in its 200 ms slot), invocations taken in order by whichever
// of the two pushers is free first.
func idealDrain(sizes []int) time.Duration {
	free := make([]time.Duration, pushers)
	for _, n := range sizes {
		calls := (n + 499) / 500
		d := time.Duration(calls) * 200 * time.Millisecond
		sort.Slice(free, func(i, j int) bool { return free[i] < free[j] })
		free[0] += d
	}
	return max(free[0], free[len(free)-1])
}

// pusherEnv is the pusher's environment as the template sets it, with the
// shared-state table in ddb.
func pusherEnv(dlq, sqsURL string, ddb *dynamotest.Server) []string {
	return append([]string{"GALXE_MAX_QPS=5", "GOGC=50", "PUSH_DEAD_LETTER_QUEUE_URL=" + dlq, "AWS_ENDPOINT_URL_SQS=" + sqsURL}, stateEnv(ddb)...)
}
