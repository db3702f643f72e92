package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/jobs"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
)

const stateTable = "galxe-lambda-state"

// withTable gives the runner the shared-state table on a DynamoDB stand-in,
// through the SDK's real client.
func withTable(t *testing.T, r *jobs.Runner) *dynamotest.Server {
	t.Helper()
	db := dynamotest.NewServer()
	t.Cleanup(db.Close)
	db.CreateTable(stateTable)
	r.State = state.New(db.Client(), stateTable)
	return db
}

// A credential-items job takes the same marks as the pusher and the
// webhook, at the time it started: an item a later push already sent is
// skipped and counted; a REPLACE older than the credential's last is
// skipped whole.
func TestCredentialItemsJobSkipsOlderPushes(t *testing.T) {
	r, srv, logs := newRunner(t)
	db := withTable(t, r)
	webhook := state.New(db.Client(), stateTable) // another instance's view of the table
	cred := galxetest.DemoCredentialID
	later := time.Now().Add(time.Minute).UnixMilli() // accepted after the job starts

	// Another push REMOVEd b after the job started: the job's APPEND of b
	// would undo it.
	if taken, err := webhook.TakeMarks(context.Background(), []state.Mark{{CredID: cred, Item: "b@example.com", Op: "REMOVE", At: later}}); err != nil || !taken[0] {
		t.Fatal(taken, err)
	}
	sum, err := invoke(t, r, fmt.Sprintf(`{"job":"credential-items","credId":%q,"operation":"APPEND","items":["a@example.com","b@example.com"]}`, cred))
	if err != nil {
		t.Fatal(err)
	}
	if sum["items"] != 1.0 || sum["superseded"] != 1.0 {
		t.Fatalf("summary %v, want 1 item sent and 1 superseded", sum)
	}
	if held := srv.Items(cred); !slices.Contains(held, "a@example.com") || slices.Contains(held, "b@example.com") {
		t.Fatalf("Galxe holds %v", held)
	}

	// A REPLACE recorded after the job started supersedes the job's REPLACE.
	if ok, err := webhook.TakeReplace(context.Background(), cred, later); err != nil || !ok {
		t.Fatal(ok, err)
	}
	calls := srv.Calls("credentialItems")
	sum, err = invoke(t, r, fmt.Sprintf(`{"job":"credential-items","credId":%q,"operation":"REPLACE","items":["c@example.com"]}`, cred))
	if err != nil || sum["superseded"] != 1.0 || srv.Calls("credentialItems") != calls {
		t.Fatalf("summary %v, %v, %d calls: want the older REPLACE skipped", sum, err, srv.Calls("credentialItems")-calls)
	}
	if !strings.Contains(logs.String(), `"items_superseded":1`) {
		t.Fatalf("the log does not count the skipped items: %s", logs.String())
	}
}

// A table that cannot be used fails the job before anything is sent (it
// is retried as any failed job is); a configured table that could not be
// made fails it too, rather than pushing unordered.
func TestCredentialItemsJobNeedsItsTable(t *testing.T) {
	job := fmt.Sprintf(`{"job":"credential-items","credId":%q,"operation":"APPEND","items":["a@example.com"]}`, galxetest.DemoCredentialID)
	for name, setup := range map[string]func(r *jobs.Runner, db *dynamotest.Server){
		"down":     func(r *jobs.Runner, db *dynamotest.Server) { db.SetDown(true) },
		"missing":  func(r *jobs.Runner, db *dynamotest.Server) { r.State.Name = "no-such-table" },
		"unusable": func(r *jobs.Runner, db *dynamotest.Server) { r.State, r.StateErr = nil, fmt.Errorf("no region") },
	} {
		t.Run(name, func(t *testing.T) {
			r, srv, _ := newRunner(t)
			setup(r, withTable(t, r))
			if _, err := invoke(t, r, job); err == nil {
				t.Fatal("the job succeeded without its table")
			}
			if n := srv.Calls("credentialItems"); n != 0 {
				t.Fatalf("%d Galxe calls", n)
			}
		})
	}
}
