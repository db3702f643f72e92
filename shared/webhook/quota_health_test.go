package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/galxe-lambda/galxe-lambda/shared/apigw"
	"github.com/galxe-lambda/galxe-lambda/shared/budget"
	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"github.com/galxe-lambda/galxe-lambda/shared/webhook"
)

// healthQuota is the month's quota GET /health reports.
const healthQuota = int64(50000)

// budgeted is a webhook process of the fleet with its foreground budget
// over the fleet's table (Options.Budget), as coldstart builds it; each
// has its own SDK client. It returns the process and its budget.
func (f *fleet) budgeted() (*instance, *budget.Budget) {
	f.t.Helper()
	tb := &state.Table{Client: f.db.Client(), Name: stateTableName}
	b := budget.New(budget.Options{Table: tb, Class: budget.Foreground, MonthlyQuota: healthQuota})
	logs, metrics := &bytes.Buffer{}, &bytes.Buffer{}
	e := f.base
	h := webhook.New(webhook.Options{Config: e.cfg, WebhookSecret: e.cfg.WebhookSecretSource(nil),
		State: tb, Budget: b, Log: slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics: obs.NewMetrics(metrics, "galxe-lambda-webhook")})
	return &instance{env: &env{t: f.t, srv: e.srv, h: h, logs: logs, cfg: e.cfg}, metrics: metrics}, b
}

// healthOf is GET /health's quota and shared_state.
func healthOf(t *testing.T, a answer) (q map[string]any, shared any) {
	t.Helper()
	q, _ = a.Body["quota"].(map[string]any)
	if q == nil {
		t.Fatalf("no quota in /health: %d %s", a.Status, a.Raw)
	}
	return q, a.Body["shared_state"]
}

// months are the UTC months around a call, so that a test straddling a
// month's end still knows which to expect.
func months(call func()) (before, after string) {
	before = state.Month(time.Now())
	call()
	return before, state.Month(time.Now())
}

// GET /health reports the month's quota as the fleet counted it in the
// table (counts of other instances included): {month: the UTC month,
// used: the table's count, limit: the monthly quota}, with shared_state
// true; and it makes no Galxe request.
func TestHealthReportsTheMonthsQuota(t *testing.T) {
	both(t, func(t *testing.T, v apigw.Version) {
		f := newFleet(t, nil)
		in, _ := f.budgeted()
		other := &state.Table{Client: f.db.Client(), Name: stateTableName}
		const counted = 4321
		if _, err := other.AddUsed(context.Background(), state.Month(time.Now()), counted); err != nil {
			t.Fatal(err)
		}
		var got answer
		before, after := months(func() {
			got = in.call(ctxWithin(t, 10*time.Second), request{method: "GET", path: "/health", unsigned: true}, v)
		})
		q, shared := healthOf(t, got)
		if got.Status != 200 || got.Body["status"] != "ok" || shared != true {
			t.Fatalf("%d %s, want 200 ok with shared_state true", got.Status, got.Raw)
		}
		if m, _ := q["month"].(string); m != before && m != after {
			t.Fatalf("quota month %v, want the UTC month %s", q["month"], after)
		}
		if q["used"] != float64(counted) || q["limit"] != float64(healthQuota) {
			t.Fatalf("quota %v, want used %d, limit %d", q, counted, healthQuota)
		}
		if len(q) != 3 {
			t.Fatalf("quota %v has other fields than month, used and limit", q)
		}
		// Another instance counts more: the next /health reads it again.
		if _, err := other.AddUsed(context.Background(), state.Month(time.Now()), 9); err != nil {
			t.Fatal(err)
		}
		got = in.call(ctxWithin(t, 10*time.Second), request{method: "GET", path: "/health", unsigned: true}, v)
		if q, _ := healthOf(t, got); q["used"] != float64(counted+9) {
			t.Fatalf("after another instance's count: %v, want used %d", q, counted+9)
		}
		if f.base.srv.Requests() != 0 {
			t.Fatal("/health called Galxe")
		}
	})
}

// The table down (every connection reset) or not answering at all:
// /health still answers before its deadline, with no error status on the
// table's account, and reports the last count it knew.
func TestHealthQuotaWithTheTableDown(t *testing.T) {
	for name, fail := range map[string]func(db *dynamotest.Server){
		"down": func(db *dynamotest.Server) { db.SetDown(true) },
		"hanging": func(db *dynamotest.Server) {
			db.Fail("GetItem", dynamotest.Hang, dynamotest.Hang, dynamotest.Hang, dynamotest.Hang)
		},
		"throttle": func(db *dynamotest.Server) { db.Fail("GetItem", repeat(dynamotest.Throttled, 20)...) },
	} {
		t.Run(name, func(t *testing.T) {
			both(t, func(t *testing.T, v apigw.Version) {
				f := newFleet(t, nil)
				in, _ := f.budgeted()
				other := &state.Table{Client: f.db.Client(func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), Name: stateTableName}
				const counted = 777
				if _, err := other.AddUsed(context.Background(), state.Month(time.Now()), counted); err != nil {
					t.Fatal(err)
				}
				health := request{method: "GET", path: "/health", unsigned: true}
				if q, _ := healthOf(t, in.call(ctxWithin(t, 10*time.Second), health, v)); q["used"] != float64(counted) {
					t.Fatalf("with the table up: %v, want used %d", q, counted)
				}
				fail(f.db)
				ctx := ctxWithin(t, 6*time.Second)
				got := in.call(ctx, health, v)
				if ctx.Err() != nil {
					t.Fatal("/health answered after its deadline")
				}
				q, shared := healthOf(t, got)
				if got.Status != 200 || got.Body["status"] != "ok" || shared != true {
					t.Fatalf("table %s: %d %s, want 200 ok (the table is no health problem of /health's)", name, got.Status, got.Raw)
				}
				if q["used"] != float64(counted) || q["limit"] != float64(healthQuota) || q["month"] != state.Month(time.Now()) {
					t.Fatalf("table %s: quota %v, want the last count known (%d)", name, q, counted)
				}
				for _, aws := range []string{"ThrottlingException", "connection reset", "Throughput exceeds"} {
					if strings.Contains(got.Raw, aws) {
						t.Fatalf("AWS's text in /health: %s", got.Raw)
					}
				}
				f.db.SetDown(false)
			})
		})
	}
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}
