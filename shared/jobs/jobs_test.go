package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
)

const token = "glx_job_token_4e8a1c5f9b3d7e2a6c0f4b8d1e5a9c3f"

func newRunner(t *testing.T) (*jobs.Runner, *galxetest.Server, *bytes.Buffer) {
	t.Helper()
	srv := galxetest.NewServer(galxetest.Options{Tokens: []string{token}, QPS: -1})
	t.Cleanup(srv.Close)
	c, err := galxe.New(galxe.Config{Endpoint: srv.URL, Token: secret.Static("t", token), MaxQPS: 1000,
		BaseBackoff: 5 * time.Millisecond, Reserve: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	return &jobs.Runner{Galxe: c, Log: slog.New(slog.NewJSONHandler(logs, nil)), PageDelay: time.Millisecond}, srv, logs
}

// invoke goes through lambda's JSON round trip.
func invoke(t *testing.T, r *jobs.Runner, event string) (map[string]any, error) {
	t.Helper()
	out, err := lambda.NewHandler(r).Invoke(context.Background(), []byte(event))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("summary is not JSON: %s", out)
	}
	return m, nil
}

func TestCanaryFromEveryInputShape(t *testing.T) {
	shapes := map[string]string{
		"scheduler input":     `{"job":"canary"}`,
		"rule detail":         `{"version":"0","id":"1","detail-type":"Galxe job","source":"custom","detail":{"job":"canary"}}`,
		"classic schedule":    `{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`,
		"with credential":     fmt.Sprintf(`{"job":"canary","credId":%q}`, galxetest.DemoCredentialID),
		"detail with cred id": fmt.Sprintf(`{"detail-type":"x","detail":{"job":"canary","credId":%q}}`, galxetest.DemoCredentialID),
	}
	for name, ev := range shapes {
		t.Run(name, func(t *testing.T) {
			r, srv, _ := newRunner(t)
			sum, err := invoke(t, r, ev)
			if err != nil {
				t.Fatal(err)
			}
			wantCalls := 1.0
			if strings.Contains(ev, "credId") {
				wantCalls = 2
			}
			if sum["job"] != "canary" || sum["ok"] != true || sum["calls"] != wantCalls || srv.Calls("health") != 1 {
				t.Fatalf("%v", sum)
			}
		})
	}
}

func TestOperationJobFollowsPages(t *testing.T) {
	r, srv, _ := newRunner(t)
	sum, err := invoke(t, r, fmt.Sprintf(`{"job":"operation","operation":"spaceLeaderboard","variables":{"spaceId":%d},"allPages":true}`, galxetest.DemoSpaceID))
	if err != nil {
		t.Fatal(err)
	}
	// 120 rows in pages of 50.
	if sum["pages"] != 3.0 || sum["items"] != 120.0 || srv.Calls("spaceLeaderboard") != 3 {
		t.Fatalf("%v", sum)
	}
	// Items of a credential, paged by first/after.
	srv.AddCredential(galxetest.Credential{ID: "77", Name: "n", Items: numbered(25)})
	sum, err = invoke(t, r, `{"job":"operation","operation":"credentialHolders","variables":{"id":"77","first":10},"allPages":true}`)
	if err != nil || sum["pages"] != 3.0 || sum["items"] != 25.0 {
		t.Fatalf("%v %v", sum, err)
	}
	sum, err = invoke(t, r, fmt.Sprintf(`{"job":"operation","operation":"spaceQuests","variables":{"input":{"spaceId":%d,"first":1}},"allPages":true}`, galxetest.DemoSpaceID))
	if err != nil || sum["pages"] != 3.0 || sum["items"] != 3.0 {
		t.Fatalf("%v %v", sum, err)
	}
	// A single call returns the data.
	sum, err = invoke(t, r, fmt.Sprintf(`{"job":"operation","operation":"quest","variables":{"id":%q}}`, galxetest.DemoQuestID))
	if err != nil || sum["pages"] != 1.0 || !strings.Contains(fmt.Sprint(sum["data"]), galxetest.DemoQuestID) {
		t.Fatalf("%v %v", sum, err)
	}
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("holder%02d@example.com", i)
	}
	return out
}

func TestCredentialItemsJob(t *testing.T) {
	r, srv, _ := newRunner(t)
	items, _ := json.Marshal(numbered(1234))
	sum, err := invoke(t, r, fmt.Sprintf(`{"job":"credential-items","credId":%q,"operation":"APPEND","items":%s}`, galxetest.DemoCredentialID, items))
	if err != nil {
		t.Fatal(err)
	}
	if sum["items"] != 1234.0 || sum["batches"] != 3.0 || srv.Received(galxetest.DemoCredentialID) != 1234 {
		t.Fatalf("%v", sum)
	}
}

func TestFailuresAreErrors(t *testing.T) {
	cases := map[string]struct {
		event string
		fault *galxetest.Fault
		want  string
	}{
		"not an object":     {event: `"nope"`, want: "invalid job input"},
		"unknown job":       {event: `{"job":"reboot"}`, want: "unknown job"},
		"unknown operation": {event: `{"job":"operation","operation":"dropAll"}`, want: "unknown operation"},
		"no pages":          {event: `{"job":"operation","operation":"health","allPages":true}`, want: "has no pages"},
		"bad items":         {event: `{"job":"credential-items","credId":"1","operation":"APPEND","items":["0xzz"]}`, want: "invalid items"},
		"bad credId":        {event: `{"job":"credential-items","credId":"x1","operation":"APPEND","items":["a"]}`, want: "credId"},
		"galxe not found":   {event: `{"job":"canary","credId":"404"}`, want: "CREDENTIAL_NOT_FOUND"},
		"galxe denied": {event: fmt.Sprintf(`{"job":"credential-items","credId":%q,"operation":"APPEND","items":["a"]}`, galxetest.DemoCredentialID),
			fault: &galxetest.Fault{Code: "PERMISSION_DENIED", Category: "AUTHORIZATION", Status: 403, Message: "not an admin"}, want: "PERMISSION_DENIED"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r, srv, logs := newRunner(t)
			if c.fault != nil {
				srv.Fail(*c.fault)
			}
			_, err := invoke(t, r, c.event)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if !strings.Contains(logs.String(), `"job failed"`) {
				t.Errorf("failure not logged: %s", logs.String())
			}
			// A job refused before it is named still says what it was.
			if strings.Contains(err.Error(), "job  ") || strings.Contains(logs.String(), `"job":""`) {
				t.Errorf("an empty job name in %q or the log: %s", err, logs.String())
			}
		})
	}
}

func TestJobStopsWithinItsDeadline(t *testing.T) {
	r, srv, _ := newRunner(t)
	for range 100 {
		srv.Fail(galxetest.Fault{Hang: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := r.Run(ctx, jobs.Job{Job: jobs.Canary})
	var ge *galxe.Error
	if !errors.As(err, &ge) || ge.Code != galxe.CodeUpstreamTimeout || ctx.Err() != nil {
		t.Fatalf("got %v (ctx %v)", err, ctx.Err())
	}
}

// recorder stands in for Galxe and keeps the variables as they would be
// sent: JSON.
type recorder struct{ sent []string }

func (r *recorder) Do(_ context.Context, op string, vars any) (*galxe.Result, error) {
	b, err := json.Marshal(vars)
	if err != nil {
		return nil, err
	}
	r.sent = append(r.sent, string(b))
	return &galxe.Result{Data: json.RawMessage(`{"credential":{"credentialItems":{"totalCount":0,"pageInfo":{"endCursor":null,"hasNextPage":false},"list":[]}}}`), Attempts: 1}, nil
}

// Job variables keep their numbers as written: an 18-digit id is never
// rounded through a float.
func TestJobVariablesKeepNumbersExact(t *testing.T) {
	for _, allPages := range []bool{false, true} {
		rec := &recorder{}
		r := &jobs.Runner{Galxe: rec, PageDelay: time.Millisecond}
		ev := fmt.Sprintf(`{"job":"operation","operation":"credentialHolders","variables":{"id":123456789012345678,"first":100},"allPages":%v}`, allPages)
		if _, err := invoke(t, r, ev); err != nil {
			t.Fatal(err)
		}
		if len(rec.sent) == 0 || !strings.Contains(rec.sent[0], `"id":123456789012345678`) {
			t.Fatalf("allPages %v: sent %v", allPages, rec.sent)
		}
	}
}

// The mutation runs only through the credential-items job.
func TestOperationJobRefusesTheMutation(t *testing.T) {
	rec := &recorder{}
	r := &jobs.Runner{Galxe: rec}
	_, err := invoke(t, r, `{"job":"operation","operation":"credentialItems","variables":{"credId":"1","operation":"REPLACE","items":[]}}`)
	if err == nil || !strings.Contains(err.Error(), "credential-items job") || len(rec.sent) != 0 {
		t.Fatalf("got %v, sent %v", err, rec.sent)
	}
}

// The canary alone reports CanaryHealthy, 1 or 0, by FunctionName: the
// alarm watches it, not every job's errors.
func TestCanaryHealthyMetric(t *testing.T) {
	cases := []struct {
		name, event string
		fault       *galxetest.Fault
		want        []float64 // the CanaryHealthy values written
	}{
		{"canary ok", `{"job":"canary"}`, nil, []float64{1}},
		{"canary failed", `{"job":"canary"}`, &galxetest.Fault{Code: "INVALID_TOKEN", Category: "AUTHENTICATION", Status: 401, Message: "bad"}, []float64{0}},
		{"other job failed", `{"job":"credential-items","credId":"1","operation":"APPEND","items":["0xzz"]}`, nil, nil},
		{"other job ok", `{"job":"operation","operation":"health"}`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, srv, _ := newRunner(t)
			var emf bytes.Buffer
			r.Metrics = obs.NewMetrics(&emf, "galxe-scheduled")
			if c.fault != nil {
				for range 3 {
					srv.Fail(*c.fault)
				}
			}
			_, _ = invoke(t, r, c.event)
			var got []float64
			for _, line := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
				var m map[string]any
				if line == "" || json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if v, ok := m["CanaryHealthy"].(float64); ok {
					if m["FunctionName"] != "galxe-scheduled" {
						t.Errorf("CanaryHealthy without FunctionName: %s", line)
					}
					got = append(got, v)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("CanaryHealthy %v, want %v", got, c.want)
			}
		})
	}
}
