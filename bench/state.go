package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
)

// The shared-state table's benchmarks (DESIGN.md §11): the functions with
// STATE_TABLE set as the template sets it, against the DynamoDB stand-in
// (shared/dynamotest) through the SDK's own endpoint override; the DynamoDB
// requests they make, counted by the stand-in; and what those requests cost
// at DynamoDB's on-demand prices.

// stateTable is the table's name in every benchmark (one stand-in each).
const stateTable = "galxe-lambda-StateTable-BENCH"

// DynamoDB on-demand prices, us-east-1, Standard table class, since the cut
// of 1 November 2024: per million request units. A standard write of an
// item up to 1 KB is one write request unit (a conditional write too, taken
// or refused); a strongly consistent read of up to 4 KB is one read request
// unit. Sources: https://aws.amazon.com/dynamodb/pricing/on-demand/ (the
// units) and the AWS Price List API's AmazonDynamoDB offer for us-east-1
// (PayPerRequestThroughput: 0.0000006250 USD a WriteRequestUnit,
// 0.0000001250 USD a ReadRequestUnit).
const (
	wruPerMillion = 0.625
	rruPerMillion = 0.125
	pricesSource  = "https://aws.amazon.com/dynamodb/pricing/on-demand/ and the AWS Price List API (AmazonDynamoDB, us-east-1: 0.0000006250 USD a write request unit, 0.0000001250 USD a read request unit)"
)

// The month the cost is for: Galxe's free tier, and queued pushes coalesced
// into calls of 500 items (credentials.BatchSize).
const (
	monthRequests = 100_000
	itemsPerCall  = 500
)

// newStateServer starts a DynamoDB stand-in holding the project's table.
func newStateServer() *dynamotest.Server {
	s := dynamotest.NewServer()
	s.CreateTable(stateTable)
	return s
}

// stateEnv is what a function needs to use the stand-in's table: the region
// and dummy credentials are in every function's environment already.
func stateEnv(s *dynamotest.Server) []string {
	return []string{"STATE_TABLE=" + stateTable, "AWS_ENDPOINT_URL_DYNAMODB=" + s.URL}
}

// ddbActions are the actions the stand-in answers that the functions could
// use, by kind: writes cost write request units, reads read request units.
var (
	ddbWrites = []string{"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
	ddbReads  = []string{"GetItem", "BatchGetItem", "Query", "Scan"}
)

// ddbCalls is how many requests of each action a stand-in answered.
type ddbCalls map[string]int

func callsOf(s *dynamotest.Server) ddbCalls {
	c := ddbCalls{}
	for _, a := range append(append([]string{}, ddbWrites...), ddbReads...) {
		if n := s.Calls(a); n > 0 {
			c[a] = n
		}
	}
	return c
}

func (c ddbCalls) sum(actions []string) int {
	n := 0
	for _, a := range actions {
		n += c[a]
	}
	return n
}

func (c ddbCalls) writes() int { return c.sum(ddbWrites) }
func (c ddbCalls) reads() int  { return c.sum(ddbReads) }
func (c ddbCalls) total() int  { return c.writes() + c.reads() }
func (c ddbCalls) batches() int {
	return c["BatchWriteItem"] + c["BatchGetItem"] + c["Query"] + c["Scan"]
}

// per says the requests per unit of work: "3.00 (PutItem 2.00, GetItem 1.00)".
func (c ddbCalls) per(n int) string {
	if n <= 0 {
		return "n/a"
	}
	if c.total() == 0 {
		return "0 (no DynamoDB request)"
	}
	names := make([]string, 0, len(c))
	for a := range c {
		names = append(names, a)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, a := range names {
		parts[i] = fmt.Sprintf("%s %s", a, ratio(c[a], n))
	}
	return fmt.Sprintf("%s (%s)", ratio(c.total(), n), strings.Join(parts, ", "))
}

// ratio prints a/b with the digits a small ratio needs.
func ratio(a, b int) string {
	r := float64(a) / float64(b)
	switch {
	case r == 0:
		return "0"
	case r < 0.01:
		return fmt.Sprintf("%.5f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// itemsResult is the webhook's items route, warm, without and with the
// table: the same signed one-address APPENDs, each a new delivery.
type itemsResult struct {
	without, with []time.Duration
	deliveries    int // to the instance with the table, warm-up included
	calls         ddbCalls
	galxeRequests int
	largest       map[string]int // the largest item of each kind (key prefix), bytes
}

// itemsRoute runs two webhook instances side by side, one without
// STATE_TABLE and one with it, and hands them the same kind of delivery in
// turn (which goes first alternates): a signed APPEND of one new address to
// a credential, answered synchronously (no PUSH_QUEUE_URL) by a Galxe
// stand-in that answers at once.
func itemsRoute(bin string, env func(string, ...string) []string, n int) (*itemsResult, error) {
	g := galxetest.NewServer(galxetest.Options{Tokens: []string{benchToken}, QPS: -1, Empty: true})
	defer g.Close()
	g.AddCredential(galxetest.Credential{ID: bulkCredID, Name: "items route"})
	ddb := newStateServer()
	defer ddb.Close()

	base := unpaced
	apiA, cmdA, _, err := startFunction(bin, env(g.URL, base...))
	if err != nil {
		return nil, err
	}
	defer stop(apiA, cmdA)
	apiB, cmdB, _, err := startFunction(bin, env(g.URL, append(base, stateEnv(ddb)...)...))
	if err != nil {
		return nil, err
	}
	defer stop(apiB, cmdB)

	r := &itemsResult{}
	seq := 0
	deliver := func(api *runtimeAPI) (time.Duration, error) {
		seq++
		body := fmt.Sprintf(`{"operation":"APPEND","items":["0x%040x"]}`, 0xc0000000+seq)
		inv, err := api.invoke(signed(apiEvent("POST", "/credentials/"+bulkCredID+"/items", body)), 10*time.Second)
		if err != nil {
			return 0, err
		}
		if inv.isError || statusOf(inv.body) != "200" {
			return 0, fmt.Errorf("the items route answered %s: %.300s", statusOf(inv.body), inv.body)
		}
		return inv.answered.Sub(inv.handed), nil
	}
	for i := 0; i < n+50; i++ { // the first 50 of each warm the processes up
		order := []bool{false, true}
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, withTable := range order {
			api := apiA
			if withTable {
				api = apiB
			}
			d, err := deliver(api)
			if err != nil {
				return nil, fmt.Errorf("items route (table: %v): %w", withTable, err)
			}
			if i < 50 {
				continue
			}
			if withTable {
				r.with = append(r.with, d)
			} else {
				r.without = append(r.without, d)
			}
		}
	}
	r.deliveries = n + 50
	r.calls = callsOf(ddb)
	r.galxeRequests = g.Requests()
	r.largest = ddb.LargestItems(stateTable)
	return r, nil
}

// standInCapacity is how many conditional PutItems a second the stand-in
// answers on this machine, written as the marks are (16 at once, one SDK
// client in this process): what the backlog's marks can have at most here.
func standInCapacity(n int) float64 {
	s := newStateServer()
	defer s.Close()
	c := s.Client()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				_, _ = c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(stateTable),
					Item: map[string]types.AttributeValue{
						"pk":      &types.AttributeValueMemberS{Value: fmt.Sprintf("mark#%s#0x%040x", bulkCredID, i)},
						"at":      &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
						"op":      &types.AttributeValueMemberS{Value: "APPEND"},
						"expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(15*24*time.Hour).Unix(), 10)},
					},
					ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #at < :at"),
					ExpressionAttributeNames:  map[string]string{"#pk": "pk", "#at": "at"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberN{Value: "1"}},
				})
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// cpuTime is a process's user and system CPU time so far (/proc/<pid>/stat,
// in the kernel's USER_HZ ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 { // the command may hold spaces
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// machineTicks is the machine's CPU time so far, busy and in all, over
// every core (/proc/stat), to tell how busy the cores were over a span.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i := 1; i <= 8; i++ {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		total += v
		if i != 4 && i != 5 { // idle and iowait
			busy += v
		}
	}
	return busy, total
}

// pusherAcceptsAt reports whether queued bodies may carry `at` (DESIGN.md
// §11: the time the webhook accepted the push), as the webhook now writes
// them; a pusher that predates it refuses the field, and then the backlog's
// bodies go without it (the pusher orders them by SentTimestamp).
func pusherAcceptsAt() bool {
	_, err := pushqueue.Decode([]byte(`{"credId":"1","operation":"APPEND","items":["0x0000000000000000000000000000000000000001"],"at":1}`))
	return err == nil
}

// unitCost is what a number of requests of each kind costs, given the
// request units each takes.
func unitCost(writes, reads float64, wruEach, rruEach int) float64 {
	return writes*float64(wruEach)*wruPerMillion/1e6 + reads*float64(rruEach)*rruPerMillion/1e6
}

// unitsFor is the request units one request for an item of this size takes:
// writes by the KB, strongly consistent reads by 4 KB; at least one.
func unitsFor(size, per int) int { return max(1, int(math.Ceil(float64(size)/float64(per)))) }

func usd(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.01:
		return fmt.Sprintf("$%.4f", v)
	case v < 1:
		return fmt.Sprintf("$%.3f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

func thousands(n float64) string {
	s := strconv.FormatFloat(math.Round(n), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// renderState is the report's section on the shared-state table: the
// webhook's items route without and with it, the DynamoDB requests of a
// delivery and of a pushed item, and what they cost in a month.
func renderState(items *itemsResult, burst *burstResult, drain *backlogResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Shared-state table (DESIGN.md §11): DynamoDB stand-in, requests and their cost\n\n")
	fmt.Fprintf(&b, "Every function as the template configures it: `STATE_TABLE` set, `AWS_ENDPOINT_URL_DYNAMODB` pointing at the DynamoDB stand-in (`shared/dynamotest`, minidyn's engine behind the real SDK client), one stand-in per benchmark; its request counts are by action.\n\n")
	fmt.Fprintf(&b, "| measure | value | goal |\n| --- | ---: | --- |\n")
	var perDelivery, perItem string
	if items != nil {
		wo, wi := summarize(items.without), summarize(items.with)
		x := float64(wi.p99) / float64(wo.p99)
		fmt.Fprintf(&b, "| webhook items route, warm, without the table: median / p99 (%d signed one-address APPENDs, synchronous) | %s / %s | |\n", len(items.without), us(wo.median), us(wo.p99))
		fmt.Fprintf(&b, "| the same with the table (the other instance, deliveries in turn): median / p99 | %s / %s | |\n", us(wi.median), us(wi.p99))
		fmt.Fprintf(&b, "| p99 with the table / without (median: %.2f×) | %.2f× | < 1.5×: %s |\n", float64(wi.median)/float64(wo.median), x, verdict(x < 1.5))
		perDelivery = items.calls.per(items.deliveries)
		fmt.Fprintf(&b, "| DynamoDB requests per delivery (items route, %d deliveries) | %s | |\n", items.deliveries, perDelivery)
	}
	if drain != nil {
		perItem = drain.calls.per(drain.messages)
		fmt.Fprintf(&b, "| DynamoDB requests per pushed item (the backlog's %d items, %d pusher invocations) | %s | |\n", drain.messages, drain.invocations, perItem)
	}
	if burst != nil {
		fmt.Fprintf(&b, "| DynamoDB requests per address of the queued burst (%d deliveries and their pushes, one table) | %s | |\n", burstPushes, burst.calls.per(burstPushes))
	}
	if items != nil && len(items.largest) > 0 {
		kinds := make([]string, 0, len(items.largest))
		for k := range items.largest {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%s# %d B", k, items.largest[k])
		}
		fmt.Fprintf(&b, "| largest item of each kind after the items route (DynamoDB's size rule) | %s | ≤ 1 KB (1 WRU a write): %s |\n", strings.Join(parts, ", "), verdict(maxOf(items.largest) <= 1024))
	}

	// The month: 100,000 Galxe requests, all queued pushes of 500 items a
	// call, or all synchronous deliveries (one Galxe request each). A write
	// takes a WRU a KB of its item: a mark's and a delivery's are measured
	// above when the table held them, else taken as under 1 KB.
	wruMark, wruDelivery := 1, 1
	if items != nil {
		wruMark, wruDelivery = unitsFor(items.largest["mark"], 1024), unitsFor(items.largest["delivery"], 1024)
	}
	monthItems := float64(monthRequests * itemsPerCall)
	fmt.Fprintf(&b, "\nWhat those requests cost in a month of Galxe's free tier (%s requests), at DynamoDB's on-demand prices in us-east-1 since 1 November 2024: **$%.3f per million write request units (WRU), $%.3f per million read request units (RRU)** (%s). A standard write of an item up to 1 KB is one WRU, a conditional one too, whether it is taken or refused; a strongly consistent read of up to 4 KB is one RRU. Queued pushes are coalesced %d items a Galxe call, so %s requests carry up to %s items.\n\n",
		thousands(monthRequests), wruPerMillion, rruPerMillion, pricesSource, itemsPerCall, thousands(monthRequests), thousands(monthItems))
	fmt.Fprintf(&b, "| month at %s Galxe requests | basis | writes | reads | cost |\n| --- | --- | ---: | ---: | ---: |\n", thousands(monthRequests))
	row := func(what, basis string, writes, reads float64, wru int) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", what, basis, thousands(writes), thousands(reads), usd(unitCost(writes, reads, wru, 1)))
	}
	row(fmt.Sprintf("ordering marks of %s queued items", thousands(monthItems)), "the design: one conditional write an item", monthItems, 0, wruMark)
	if drain != nil && drain.calls.total() > 0 {
		w := float64(drain.calls.writes()) / float64(drain.messages)
		r := float64(drain.calls.reads()) / float64(drain.messages)
		row(fmt.Sprintf("the same %s items", thousands(monthItems)), "this run's backlog: "+perItem+" an item", monthItems*w, monthItems*r, wruMark)
	}
	// At worst every queued item came in a delivery of its own (the
	// burst's shape): each is claimed and answered by the webhook, then
	// marked by the pusher.
	row(fmt.Sprintf("the same %s items, each its own delivery (the queued burst's shape)", thousands(monthItems)), "the design: claim + answer + mark, three writes an item", 3*monthItems, 0, max(wruMark, wruDelivery))
	if burst != nil && burst.calls.total() > 0 {
		w := float64(burst.calls.writes()) / burstPushes
		r := float64(burst.calls.reads()) / burstPushes
		row(fmt.Sprintf("the same %s items, each its own delivery", thousands(monthItems)), "this run's queued burst: "+burst.calls.per(burstPushes)+" an address", monthItems*w, monthItems*r, max(wruMark, wruDelivery))
	}
	row(fmt.Sprintf("%s synchronous deliveries (one Galxe request each)", thousands(monthRequests)), "the design: claim + answer, two writes a delivery", 2*monthRequests, 0, wruDelivery)
	if items != nil && items.calls.total() > 0 {
		w := float64(items.calls.writes()) / float64(items.deliveries)
		r := float64(items.calls.reads()) / float64(items.deliveries)
		row(fmt.Sprintf("the same %s deliveries", thousands(monthRequests)), "this run's items route: "+perDelivery+" a delivery", monthRequests*w, monthRequests*r, wruDelivery)
	}
	fmt.Fprintf(&b, "\nBy the design's counts, deliveries cost %s a million and queued items' marks %s a million, before reads. Storage is not counted.\n",
		usd(unitCost(2e6, 0, wruDelivery, 1)), usd(unitCost(1e6, 0, wruMark, 1)))
	var notes []string
	if items != nil && items.calls.total() == 0 {
		notes = append(notes, "The webhook made no DynamoDB request on the items route: it does not use the table there yet, so the two runs measure the same path and their ratio is noise; the cost rows use the design's counts.")
	}
	if drain != nil && drain.calls.total() == 0 {
		notes = append(notes, "The pushers made no DynamoDB request: they take no ordering marks yet, so the backlog above ran without them.")
	}
	if drain != nil && drain.busy >= 0.85 {
		notes = append(notes, fmt.Sprintf("The machine's %d cores were %.0f%% busy during the drain (the pushers %.1f s of CPU, this process's stand-ins %.1f s, the rest other processes): the drain was bound by CPU here, not by Galxe's pace alone; the stand-in answers %s conditional PutItems a second on this machine when it has the cores to itself, against the %s marks a second the ideal's pace (%g calls a second × %d items) needs.",
			runtime.NumCPU(), drain.busy*100, drain.cpu.Seconds(), drain.standIns.Seconds(), thousands(drain.capacity), thousands(backgroundQPS*itemsPerCall), backgroundQPS, itemsPerCall))
	}
	if drain != nil && drain.cpu > 0 {
		perItem := float64(drain.cpu.Microseconds()) / float64(drain.messages)
		// Lambda gives a function CPU in proportion to its memory: one
		// vCPU at 1,769 MB, so about 0.58 of one at the pusher's 1024 MB.
		share := 1024.0 / 1769
		notes = append(notes, fmt.Sprintf("The pushers spent %.0f µs of CPU an item here: a %d-item call's worth is %.0f ms on this machine's cores, roughly %.0f ms at the pusher's 1024 MB (about %.2f of a vCPU), against the %d ms a call has at 5 calls a second.",
			perItem, itemsPerCall, perItem*itemsPerCall/1000, perItem*itemsPerCall/1000/share, share, 1000/5))
	}
	if (items != nil && items.calls.batches() > 0) || (drain != nil && drain.calls.batches() > 0) {
		notes = append(notes, "Batch, Query and Scan requests are counted once each here, although DynamoDB bills each item they write or read.")
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func maxOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}
