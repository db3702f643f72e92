package webhook_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/awsconf"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

const stateTableName = "galxe-lambda-state"

// fleet is one deployment: one Galxe stand-in, one shared-state table, and
// any number of webhook instances built as separate processes build them.
type fleet struct {
	t     *testing.T
	base  *env // the Galxe stand-in and the configuration
	db    *dynamotest.Server
	clk   *dynamotest.Clock
	queue string // PUSH_QUEUE_URL, when set
}

// instance is one process: its own handler, SDK clients, log and metrics.
type instance struct {
	*env
	metrics *bytes.Buffer
}

func newFleet(t *testing.T, vars map[string]string) *fleet {
	t.Helper()
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(stateTableName)
	return &fleet{t: t, base: newEnv(t, setup{vars: vars}), db: db, clk: dynamotest.NewClock(time.Now())}
}

// queued gives the fleet a push queue (PUSH_QUEUE_URL) on an SQS stand-in.
func (f *fleet) queued() *sqstest.Server {
	q := sqstest.NewServer()
	f.t.Cleanup(q.Close)
	q.Env(f.t)
	f.queue = q.CreateQueue("push", sqstest.QueueOptions{})
	f.base.cfg.PushQueueURL = f.queue
	return q
}

type instanceOpts struct {
	galxe    galxe.Caller // nil: a client of the Galxe stand-in
	table    string       // empty: the fleet's table
	client   state.API    // nil: the stand-in's SDK client
	noTable  bool         // no STATE_TABLE
	stateErr bool         // STATE_TABLE set, the table not usable
}

// instance builds a webhook process: with STATE_TABLE unless told not to.
func (f *fleet) instance(o instanceOpts) *instance {
	f.t.Helper()
	e := f.base
	opts := webhook.Options{Config: e.cfg, WebhookSecret: e.cfg.WebhookSecretSource(nil), Galxe: o.galxe}
	if opts.Galxe == nil {
		gc, err := galxe.New(galxe.Config{Endpoint: e.cfg.Endpoint, Token: e.cfg.TokenSource(nil), MaxQPS: 1000, BaseBackoff: 5 * time.Millisecond})
		if err != nil {
			f.t.Fatal(err)
		}
		opts.Galxe = gc
	}
	switch {
	case o.stateErr:
		opts.StateErr = fmt.Errorf("failed to load AWS configuration: profile arn:aws:iam::123456789012:role/secret-role")
	case !o.noTable:
		name, client := stateTableName, o.client
		if o.table != "" {
			name = o.table
		}
		if client == nil {
			client = f.db.Client()
		}
		opts.State = &state.Table{Client: client, Name: name, Now: f.clk.Now}
	}
	if f.queue != "" {
		cfg, err := awsconf.Load(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		if opts.Queue, err = pushqueue.Open(cfg, nil, f.queue); err != nil {
			f.t.Fatal(err)
		}
	}
	logs, metrics := &bytes.Buffer{}, &bytes.Buffer{}
	opts.Log = slog.New(slog.NewJSONHandler(logs, nil))
	opts.Metrics = obs.NewMetrics(metrics, "galxe-lambda-webhook")
	in := &instance{env: &env{t: f.t, srv: e.srv, h: webhook.New(opts), logs: logs, cfg: e.cfg}, metrics: metrics}
	f.t.Cleanup(func() { noSecrets(f.t, logs.String()+metrics.String()) })
	return in
}

func noSecrets(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{token, webhookSecret, strings.TrimPrefix(webhookSecret, "whsec_")} {
		if strings.Contains(s, secret) {
			t.Errorf("a secret leaked: %s", s)
		}
	}
}

func (a answer) replayed() bool { return a.Headers[webhook.HeaderReplayed] == "true" }

func itemsRequest(op string, items ...string) request {
	return request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody(op, items...),
		id: fmt.Sprintf("msg_%s_%d", strings.ToLower(op), msgSeq.Add(1)), signAt: time.Now()}
}

// The case: one signed REPLACE delivered to two instances ran
// twice. Now the second is answered from the table, byte for byte; so is
// the sender's retry signed anew, and an exact repeat (not a 401).
func TestDeliveryAnsweredOnceAcrossInstances(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
		r := itemsRequest("REPLACE", "a@example.com", "b@example.com")
		first := a.call(ctxWithin(t, 20*time.Second), r, v)
		if first.Status != 200 || first.replayed() || f.base.srv.Calls("credentialItems") != 1 {
			t.Fatalf("first: %d %v %s", first.Status, first.Headers, first.Raw)
		}
		resigned := r
		resigned.signAt = r.signAt.Add(time.Second)
		for name, in := range map[string]struct {
			i *instance
			r request
		}{"the other instance": {b, r}, "re-signed": {b, resigned}, "exact repeat": {a, r}} {
			got := in.i.call(ctxWithin(t, 20*time.Second), in.r, v)
			if got.Status != 200 || !got.replayed() || got.Raw != first.Raw {
				t.Fatalf("%s: %d %v %s, want the stored %s", name, got.Status, got.Headers, got.Raw, first.Raw)
			}
		}
		if n := f.base.srv.Calls("credentialItems"); n != 1 {
			t.Fatalf("Galxe ran the REPLACE %d times", n)
		}
		if !strings.Contains(b.metrics.String(), `"IdempotentReplays":1`) {
			t.Errorf("no IdempotentReplays metric: %s", b.metrics.String())
		}
		if !strings.Contains(a.logs.String(), `"idempotency":"stored"`) || !strings.Contains(b.logs.String(), `"idempotency":"replayed"`) {
			t.Errorf("the log lines do not say what the table did:\n%s\n%s", a.logs.String(), b.logs.String())
		}
		// The process's replay memory still guards the other routes.
		op := request{method: "POST", path: "/operations/health", id: "msg_op_" + r.id, signAt: time.Now()}
		if got := a.call(context.Background(), op, v); got.Status != 200 {
			t.Fatalf("operation: %d %s", got.Status, got.Raw)
		}
		if got := a.call(context.Background(), op, v); got.Status != 401 {
			t.Fatalf("operation replay: %d %s", got.Status, got.Raw)
		}
	})
}

// invoke calls a handler as Lambda would, from any goroutine.
func invoke(h *webhook.Handler, ev []byte) (answer, error) {
	out, err := lambda.NewHandler(h).Invoke(context.Background(), ev)
	if err != nil {
		return answer{}, err
	}
	var resp struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, Headers: resp.Headers, Raw: resp.Body}
	return a, json.Unmarshal([]byte(resp.Body), &a.Body)
}

// Four copies of one delivery at once on four instances: one runs (held
// at Galxe until the others have answered); the others are told it is in
// progress, and a later copy gets the stored answer.
func TestConcurrentCopiesRunOnce(t *testing.T) {
	f := newFleet(t, nil)
	g := &gatedGalxe{entered: make(chan struct{}), release: make(chan struct{})}
	var insts []*instance
	for range 4 {
		insts = append(insts, f.instance(instanceOpts{galxe: g}))
	}
	r := itemsRequest("REPLACE", "a@example.com")
	answers := make(chan answer, len(insts))
	for _, in := range insts {
		ev := r.event(t, apigw.V2)
		go func() {
			a, err := invoke(in.h, ev)
			if err != nil {
				t.Error(err)
			}
			answers <- a
		}()
	}
	<-g.entered
	var got []answer
	for range len(insts) - 1 {
		got = append(got, <-answers)
	}
	close(g.release)
	got = append(got, <-answers)
	for _, a := range got[:len(got)-1] {
		if a.Status != 409 || a.code() != "REQUEST_IN_PROGRESS" || a.errField("category") != "REQUEST" || a.Headers["Retry-After"] != "1" {
			t.Fatalf("a copy while the first ran: %d %v %s", a.Status, a.Headers, a.Raw)
		}
	}
	ran := got[len(got)-1]
	if ran.Status != 200 || ran.replayed() {
		t.Fatalf("the copy that ran: %d %s", ran.Status, ran.Raw)
	}
	later := insts[2].call(context.Background(), r, apigw.V2)
	if later.Status != 200 || !later.replayed() || later.Raw != ran.Raw {
		t.Fatalf("a later copy: %d %s", later.Status, later.Raw)
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("Galxe called %d times, want 1", n)
	}
}

// A signed REMOVE delivered to two instances was queued twice; now once.
func TestQueuedDeliveryQueuedOnce(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		q := f.queued()
		a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
		r := itemsRequest("REMOVE", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
		first := a.call(ctxWithin(t, 20*time.Second), r, v)
		second := b.call(ctxWithin(t, 20*time.Second), r, v)
		if first.Status != 202 || second.Status != 202 || !second.replayed() || second.Raw != first.Raw {
			t.Fatalf("first %d %s, second %d %v %s", first.Status, first.Raw, second.Status, second.Headers, second.Raw)
		}
		if n := len(q.Messages("push")); n != 1 {
			t.Fatalf("%d messages queued, want 1", n)
		}
		if f.base.srv.Requests() != 0 {
			t.Fatal("a queued push called Galxe")
		}
	})
}

// The same webhook-id with another body is refused, whatever instance.
func TestKeyReusedWithAnotherBody(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
		r := itemsRequest("REPLACE", "a@example.com")
		if got := a.call(context.Background(), r, v); got.Status != 200 {
			t.Fatalf("%d %s", got.Status, got.Raw)
		}
		other := r
		other.body = itemsBody("REPLACE", "b@example.com")
		got := b.call(context.Background(), other, v)
		if got.Status != 422 || got.code() != "IDEMPOTENCY_KEY_REUSED" || got.errField("category") != "REQUEST" || got.replayed() {
			t.Fatalf("%d %v %s", got.Status, got.Headers, got.Raw)
		}
		if n := f.base.srv.Calls("credentialItems"); n != 1 {
			t.Fatalf("Galxe called %d times", n)
		}
	})
}

// An answer a retry could change is not stored: the claim is released and
// the same delivery, sent again, runs; its final answer is then kept.
func TestRetryableAnswerReleasesTheClaim(t *testing.T) {
	t.Run("429", func(t *testing.T) {
		f := newFleet(t, nil)
		a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
		f.base.srv.Fail(galxetest.QuotaSpent("monthly"))
		r := itemsRequest("REPLACE", "a@example.com")
		first := a.call(ctxWithin(t, 20*time.Second), r, apigw.V2)
		again := b.call(ctxWithin(t, 20*time.Second), r, apigw.V2)
		replay := a.call(ctxWithin(t, 20*time.Second), r, apigw.V2)
		if first.Status != 429 || again.Status != 200 || again.replayed() || replay.Status != 200 || !replay.replayed() {
			t.Fatalf("first %d, again %d %s, replay %d", first.Status, again.Status, again.Raw, replay.Status)
		}
		if n := f.base.srv.Requests(); n != 2 {
			t.Fatalf("Galxe saw %d requests, want 2", n)
		}
		if !strings.Contains(a.logs.String(), `"idempotency":"released"`) {
			t.Errorf("the log does not say the claim was released: %s", a.logs.String())
		}
	})
	t.Run("503 QUEUE_UNAVAILABLE", func(t *testing.T) {
		f := newFleet(t, nil)
		q := f.queued()
		a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
		r := itemsRequest("APPEND", "a@example.com")
		q.SetDown(true)
		first := a.call(ctxWithin(t, 3*time.Second), r, apigw.V2)
		q.SetDown(false)
		again := b.call(ctxWithin(t, 20*time.Second), r, apigw.V2)
		replay := a.call(ctxWithin(t, 20*time.Second), r, apigw.V2)
		if first.Status != 503 || first.code() != "QUEUE_UNAVAILABLE" || again.Status != 202 || again.replayed() || !replay.replayed() {
			t.Fatalf("first %d %s, again %d %s, replay %d", first.Status, first.Raw, again.Status, again.Raw, replay.Status)
		}
		if n := len(q.Messages("push")); n != 1 {
			t.Fatalf("%d messages queued, want 1", n)
		}
	})
}

// The table refusing for a passing reason, or not answering at all: 503
// STATE_UNAVAILABLE with Retry-After, before the deadline, nothing run;
// AWS's text in the log only.
func TestStateTableUnavailable(t *testing.T) {
	for name, c := range map[string]struct {
		fault dynamotest.Fault
		down  bool
	}{
		"throttled": {fault: dynamotest.Throttled},
		"500":       {fault: dynamotest.InternalError},
		"down":      {down: true},
	} {
		both(t, func(t *testing.T, v apigw.Version) {
			t.Run(name, func(t *testing.T) {
				f := newFleet(t, nil)
				in := f.instance(instanceOpts{})
				if c.down {
					f.db.SetDown(true)
				} else {
					for range 20 { // more than the SDK's attempts
						f.db.Fail("PutItem", c.fault)
					}
				}
				ctx := ctxWithin(t, 8*time.Second)
				got := in.call(ctx, itemsRequest("REPLACE", "a@example.com"), v)
				if ctx.Err() != nil {
					t.Fatal("answered after the deadline")
				}
				if got.Status != 503 || got.code() != "STATE_UNAVAILABLE" || got.errField("category") != "UPSTREAM" || got.Headers["Retry-After"] == "" {
					t.Fatalf("%d %v %s", got.Status, got.Headers, got.Raw)
				}
				if f.base.srv.Requests() != 0 {
					t.Fatal("the delivery ran without its claim")
				}
				for _, aws := range []string{"Throughput exceeds", "Internal server error", "ThrottlingException", "connection reset"} {
					if strings.Contains(got.Raw, aws) {
						t.Fatalf("AWS's text in the answer: %s", got.Raw)
					}
				}
				if !strings.Contains(in.logs.String(), `"code":"STATE_UNAVAILABLE"`) || !strings.Contains(in.logs.String(), "shared-state table") {
					t.Errorf("the log lacks the table's failure: %s", in.logs.String())
				}
				if !strings.Contains(in.metrics.String(), `"SharedStateErrors":1`) {
					t.Errorf("no SharedStateErrors metric: %s", in.metrics.String())
				}
			})
		})
	}
}

// A table that does not exist is a configuration error: 500, no retry.
func TestMissingStateTable(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		in := f.instance(instanceOpts{table: "no-such-table"})
		got := in.call(ctxWithin(t, 20*time.Second), itemsRequest("REPLACE", "a@example.com"), v)
		if got.Status != 500 || got.code() != "CONFIGURATION_ERROR" || got.errField("category") != "CONFIGURATION" || got.Headers["Retry-After"] != "" {
			t.Fatalf("%d %v %s", got.Status, got.Headers, got.Raw)
		}
		if strings.Contains(got.Raw, "ResourceNotFound") || strings.Contains(got.Raw, "no-such-table") {
			t.Fatalf("AWS's text in the answer: %s", got.Raw)
		}
		if !strings.Contains(in.logs.String(), "ResourceNotFoundException") {
			t.Errorf("the log lacks AWS's code: %s", in.logs.String())
		}
		if f.base.srv.Requests() != 0 {
			t.Fatal("the delivery ran")
		}
	})
}

// A stored answer past IDEMPOTENCY_TTL_SECONDS is ignored although the
// table still holds it (TTL deletion runs late): the delivery runs again.
func TestExpiredDeliveryRunsAgain(t *testing.T) {
	f := newFleet(t, map[string]string{"IDEMPOTENCY_TTL_SECONDS": "600"})
	a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
	r := itemsRequest("REPLACE", "a@example.com")
	if got := a.call(context.Background(), r, apigw.V2); got.Status != 200 {
		t.Fatalf("%d %s", got.Status, got.Raw)
	}
	f.clk.Advance(599 * time.Second)
	if got := b.call(context.Background(), r, apigw.V2); !got.replayed() {
		t.Fatalf("within the TTL: %d %v %s", got.Status, got.Headers, got.Raw)
	}
	f.clk.Advance(2 * time.Second)
	got := b.call(context.Background(), r, apigw.V2)
	if got.Status != 200 || got.replayed() {
		t.Fatalf("past the TTL: %d %v %s", got.Status, got.Headers, got.Raw)
	}
	if n := f.base.srv.Calls("credentialItems"); n != 2 {
		t.Fatalf("Galxe called %d times, want 2", n)
	}
}

// With WEBHOOK_AUTH=none the key is the caller's Idempotency-Key; without
// one, requests are not idempotent.
func TestIdempotencyKeyWithoutSignatures(t *testing.T) {
	f := newFleet(t, map[string]string{"WEBHOOK_AUTH": "none", "WEBHOOK_SECRET": ""})
	a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
	r := request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("REPLACE", "a@example.com"), unsigned: true,
		headers: map[string]string{"Idempotency-Key": "order-42"}}
	first := a.call(context.Background(), r, apigw.V1)
	second := b.call(context.Background(), r, apigw.V1)
	if first.Status != 200 || !second.replayed() || second.Raw != first.Raw {
		t.Fatalf("first %d %s, second %d %v %s", first.Status, first.Raw, second.Status, second.Headers, second.Raw)
	}
	r.headers = nil
	for range 2 {
		if got := b.call(context.Background(), r, apigw.V1); got.Status != 200 || got.replayed() {
			t.Fatalf("without a key: %d %v %s", got.Status, got.Headers, got.Raw)
		}
	}
	if n := f.base.srv.Calls("credentialItems"); n != 3 {
		t.Fatalf("Galxe called %d times, want 3", n)
	}
	r.headers = map[string]string{"Idempotency-Key": strings.Repeat("k", 257)}
	if got := b.call(context.Background(), r, apigw.V1); got.Status != 400 || got.code() != "INVALID_REQUEST" {
		t.Fatalf("an over-long key: %d %s", got.Status, got.Raw)
	}
}

// gatedTable holds the requests that take a push's marks (the reads of
// REPLACE marks and the writes of item marks) until released: a push
// accepted earlier that takes its marks later.
type gatedTable struct {
	state.API
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGatedTable(api state.API) *gatedTable {
	return &gatedTable{API: api, entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedTable) hold(key map[string]types.AttributeValue, prefix string) {
	if pk, _ := key["pk"].(*types.AttributeValueMemberS); pk != nil && strings.HasPrefix(pk.Value, prefix) {
		g.once.Do(func() { close(g.entered) })
		<-g.release
	}
}

func (g *gatedTable) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	g.hold(in.Key, "replace#")
	return g.API.GetItem(ctx, in, optFns...)
}

func (g *gatedTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	g.hold(in.Item, "mark#")
	return g.API.PutItem(ctx, in, optFns...)
}

// older runs an APPEND of item on a gated instance, accepted now; once it
// is taking its marks, later runs on another instance, then the APPEND
// goes on. It returns the APPEND's answer.
func (f *fleet) olderAppend(item string, later func()) (answer, *instance) {
	f.t.Helper()
	gated := newGatedTable(f.db.Client())
	in := f.instance(instanceOpts{client: gated})
	ev := itemsRequest("APPEND", item).event(f.t, apigw.V2)
	done := make(chan answer, 1)
	go func() {
		a, err := invoke(in.h, ev)
		if err != nil {
			f.t.Error(err)
		}
		done <- a
	}()
	<-gated.entered
	time.Sleep(2 * time.Millisecond) // the later push is accepted in a later millisecond
	later()
	close(gated.release)
	return <-done, in
}

func pushed(a answer) (items, batches float64) {
	d, _ := a.Body["data"].(map[string]any)
	items, _ = d["items"].(float64)
	batches, _ = d["batches"].(float64)
	return items, batches
}

// The case on the synchronous path: an APPEND accepted before a
// REMOVE of the same item but sent after it would undo it. Its mark is
// refused: the item is skipped and counted, the REMOVE stands.
func TestOlderAppendAfterLaterRemoveSkipped(t *testing.T) {
	f := newFleet(t, nil)
	other := f.instance(instanceOpts{})
	const item = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
	keep := "0x00000000000000000000000000000000000000a1"
	var remove answer
	appendAns, in := f.olderAppend(item, func() {
		remove = other.call(context.Background(), itemsRequest("REMOVE", item), apigw.V2)
	})
	if n, b := pushed(remove); remove.Status != 200 || n != 1 || b != 1 {
		t.Fatalf("REMOVE: %d %s", remove.Status, remove.Raw)
	}
	if n, b := pushed(appendAns); appendAns.Status != 200 || n != 0 || b != 0 {
		t.Fatalf("the older APPEND: %d %s", appendAns.Status, appendAns.Raw)
	}
	if slices.Contains(f.base.srv.Items(credID), item) {
		t.Fatal("Galxe holds the item the later REMOVE removed")
	}
	if !strings.Contains(in.metrics.String(), `"ItemsSuperseded":1`) {
		t.Errorf("no ItemsSuperseded metric: %s", in.metrics.String())
	}
	if n := f.base.srv.Calls("credentialItems"); n != 1 {
		t.Fatalf("Galxe called %d times, want 1 (the REMOVE)", n)
	}
	// A later APPEND of the item, and one of another item, go through.
	got := other.call(context.Background(), itemsRequest("APPEND", item, keep), apigw.V2)
	if n, _ := pushed(got); got.Status != 200 || n != 2 || !slices.Contains(f.base.srv.Items(credID), item) {
		t.Fatalf("a later APPEND: %d %s", got.Status, got.Raw)
	}
}

// A REPLACE accepted after an APPEND that is sent after it: the APPEND is
// older than the credential's last REPLACE, so it is skipped.
func TestReplaceThenOlderAppendSkipped(t *testing.T) {
	f := newFleet(t, nil)
	other := f.instance(instanceOpts{})
	var replace answer
	appendAns, in := f.olderAppend("old@example.com", func() {
		replace = other.call(context.Background(), itemsRequest("REPLACE", "new@example.com"), apigw.V2)
	})
	if replace.Status != 200 {
		t.Fatalf("REPLACE: %d %s", replace.Status, replace.Raw)
	}
	if n, b := pushed(appendAns); appendAns.Status != 200 || n != 0 || b != 0 {
		t.Fatalf("the older APPEND: %d %s", appendAns.Status, appendAns.Raw)
	}
	if held := f.base.srv.Items(credID); !slices.Equal(held, []string{"new@example.com"}) {
		t.Fatalf("Galxe holds %q", held)
	}
	if !strings.Contains(in.metrics.String(), `"ItemsSuperseded":1`) {
		t.Errorf("no ItemsSuperseded metric: %s", in.metrics.String())
	}
}

// An older REPLACE sent after a later one is superseded whole.
func TestOlderReplaceSuperseded(t *testing.T) {
	f := newFleet(t, nil)
	a := f.instance(instanceOpts{})
	tb := &state.Table{Client: f.db.Client(), Name: stateTableName}
	// A REPLACE recorded a minute from now: every REPLACE accepted now is older.
	if ok, err := tb.TakeReplace(context.Background(), credID, time.Now().Add(time.Minute).UnixMilli()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	got := a.call(context.Background(), itemsRequest("REPLACE", "x@example.com", "y@example.com"), apigw.V2)
	if n, b := pushed(got); got.Status != 200 || n != 0 || b != 0 {
		t.Fatalf("%d %s", got.Status, got.Raw)
	}
	if f.base.srv.Requests() != 0 || !strings.Contains(a.metrics.String(), `"ItemsSuperseded":2`) {
		t.Fatalf("%d Galxe requests, metrics %s", f.base.srv.Requests(), a.metrics.String())
	}
}

// Marks that cannot be taken: 503 STATE_UNAVAILABLE, nothing sent.
func TestMarksUnavailableSendNothing(t *testing.T) {
	f := newFleet(t, map[string]string{"WEBHOOK_AUTH": "none", "WEBHOOK_SECRET": ""})
	in := f.instance(instanceOpts{})
	for range 20 {
		f.db.Fail("GetItem", dynamotest.Throttled)
	}
	r := request{method: "POST", path: "/credentials/" + credID + "/items", body: itemsBody("APPEND", "a@example.com"), unsigned: true}
	got := in.call(ctxWithin(t, 8*time.Second), r, apigw.V2)
	if got.Status != 503 || got.code() != "STATE_UNAVAILABLE" || got.Headers["Retry-After"] == "" {
		t.Fatalf("%d %v %s", got.Status, got.Headers, got.Raw)
	}
	if f.base.srv.Requests() != 0 {
		t.Fatal("items sent without their marks")
	}
}

// GET /health says whether the fleet's table is in use; a configured table
// that cannot be used is a degraded health and a 500 on the items route.
func TestHealthSharedState(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		health := request{method: "GET", path: "/health", unsigned: true}
		with := f.instance(instanceOpts{}).call(context.Background(), health, v)
		if with.Status != 200 || with.Raw != `{"status":"ok","shared_state":true}` {
			t.Fatalf("with the table: %d %s", with.Status, with.Raw)
		}
		without := f.instance(instanceOpts{noTable: true}).call(context.Background(), health, v)
		if without.Status != 200 || without.Raw != `{"status":"ok","shared_state":false}` {
			t.Fatalf("without: %d %s", without.Status, without.Raw)
		}
		broken := f.instance(instanceOpts{stateErr: true})
		got := broken.call(context.Background(), health, v)
		reason, _ := got.Body["reason"].(string)
		if got.Status != 503 || got.Body["status"] != "degraded" || !strings.Contains(reason, "STATE_TABLE") || got.Body["shared_state"] != false {
			t.Fatalf("unusable table: %d %s", got.Status, got.Raw)
		}
		got = broken.call(context.Background(), itemsRequest("APPEND", "a@example.com"), v)
		if got.Status != 500 || got.code() != "CONFIGURATION_ERROR" || f.base.srv.Requests() != 0 {
			t.Fatalf("items with an unusable table: %d %s", got.Status, got.Raw)
		}
		for _, s := range []string{with.Raw, without.Raw, got.Raw, reason} {
			if strings.Contains(s, "123456789012") {
				t.Fatalf("AWS's text in an answer: %s", s)
			}
		}
	})
}

// An answer over DynamoDB's item limit is kept compressed and replayed
// byte for byte: here a 400 listing 6,000 invalid items (about 480 KB;
// small enough that a busy machine stores it within the settling time).
func TestLargeAnswerReplayedWhole(t *testing.T) {
	f := newFleet(t, nil)
	a, b := f.instance(instanceOpts{}), f.instance(instanceOpts{})
	bad := make([]string, 6000)
	for i := range bad {
		bad[i] = fmt.Sprintf("0x%d", i) // too short for an address
	}
	r := itemsRequest("APPEND", bad...)
	first := a.call(ctxWithin(t, 30*time.Second), r, apigw.V2)
	if first.Status != 400 || len(first.Raw) < 400_000 {
		t.Fatalf("%d, %d bytes", first.Status, len(first.Raw))
	}
	again := b.call(ctxWithin(t, 30*time.Second), r, apigw.V2)
	if again.Status != 400 || !again.replayed() || again.Raw != first.Raw {
		t.Fatalf("%d %v, %d bytes, want the stored %d", again.Status, again.Headers, len(again.Raw), len(first.Raw))
	}
}

// An answer too large to keep even compressed kept its status and code:
// a duplicate gets them, saying so.
func TestAnswerKeptAsItsCodeOnly(t *testing.T) {
	f := newFleet(t, nil)
	in := f.instance(instanceOpts{})
	r := itemsRequest("APPEND", "a@example.com")
	tb := &state.Table{Client: f.db.Client(), Name: stateTableName, Now: f.clk.Now}
	fp := state.Fingerprint("POST", r.path, []byte(r.body))
	huge := make([]byte, 600_000)
	rand.Read(huge) // no compressor folds it into the item
	if c, err := tb.Claim(context.Background(), r.id, fp, time.Now().Add(time.Minute)); err != nil || c.Outcome != state.Claimed {
		t.Fatal(c, err)
	}
	if err := tb.Complete(context.Background(), r.id, fp, state.Answer{Status: 400, Body: huge, Code: "INVALID_REQUEST"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got := in.call(context.Background(), r, apigw.V2)
	msg, _ := got.errField("message").(string)
	if got.Status != 400 || !got.replayed() || got.code() != "INVALID_REQUEST" || got.errField("category") != "REQUEST" || !strings.Contains(msg, "too large") {
		t.Fatalf("%d %v %s", got.Status, got.Headers, got.Raw)
	}
	if f.base.srv.Requests() != 0 {
		t.Fatal("the delivery ran again")
	}
}
