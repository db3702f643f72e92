package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// pager knows where an operation's page info is and which variable takes
// the cursor.
type pager struct {
	path      []string // from data to the connection holding pageInfo and list
	setCursor func(vars map[string]any, cursor string)
}

var pagers = map[string]*pager{
	"credentialHolders": {path: []string{"credential", "credentialItems"},
		setCursor: func(v map[string]any, c string) { v["after"] = c }},
	"spaceLeaderboard": {path: []string{"space", "loyaltyPointsRanks"},
		setCursor: func(v map[string]any, c string) { v["cursorAfter"] = c }},
	"spaceQuests": {path: []string{"quests"},
		setCursor: func(v map[string]any, c string) {
			in, _ := v["input"].(map[string]any)
			if in == nil {
				in = map[string]any{}
				v["input"] = in
			}
			in["after"] = c
		}},
}

type connection struct {
	TotalCount *int `json:"totalCount"`
	PageInfo   struct {
		EndCursor   *string `json:"endCursor"`
		HasNextPage bool    `json:"hasNextPage"`
	} `json:"pageInfo"`
	List []json.RawMessage `json:"list"`
}

func (r *Runner) operation(ctx context.Context, j Job) (*Summary, error) {
	// Numbers stay as written (json.Number): an 18-digit id through a
	// float64 would reach Galxe rounded.
	var vars map[string]any
	if len(j.Variables) > 0 {
		dec := json.NewDecoder(bytes.NewReader(j.Variables))
		dec.UseNumber()
		if err := dec.Decode(&vars); err != nil {
			return nil, fmt.Errorf("%w: variables: %v", ErrBadInput, err)
		}
	}
	sum := &Summary{Job: Operation, OK: true, Operation: j.Operation}
	if !j.AllPages {
		res, err := r.Galxe.Do(ctx, j.Operation, vars)
		if err != nil {
			return nil, err
		}
		sum.Calls, sum.Pages, sum.Data = 1, 1, res.Data
		return sum, nil
	}
	if vars == nil {
		vars = map[string]any{}
	}
	p := pagers[j.Operation]
	delay, maxPages := r.PageDelay, r.MaxPages
	if delay <= 0 {
		delay = DefaultPageDelay
	}
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	for {
		res, err := r.Galxe.Do(ctx, j.Operation, vars)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", sum.Pages+1, err)
		}
		sum.Calls++
		sum.Pages++
		conn, err := connectionAt(res.Data, p.path)
		if err != nil {
			return nil, err
		}
		sum.Items += len(conn.List)
		if !conn.PageInfo.HasNextPage || conn.PageInfo.EndCursor == nil || *conn.PageInfo.EndCursor == "" {
			return sum, nil
		}
		if sum.Pages >= maxPages {
			return nil, fmt.Errorf("stopped after %d pages: more remain", sum.Pages)
		}
		p.setCursor(vars, *conn.PageInfo.EndCursor)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped after %d pages: %w", sum.Pages, context.Cause(ctx))
		}
	}
}

// connectionAt walks data along path to the connection object.
func connectionAt(data json.RawMessage, path []string) (*connection, error) {
	cur := data
	for _, key := range path {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil || obj[key] == nil {
			return nil, fmt.Errorf("the answer has no %q where pages were expected", key)
		}
		cur = obj[key]
	}
	var c connection
	if err := json.Unmarshal(cur, &c); err != nil {
		return nil, fmt.Errorf("the answer has no page info: %v", err)
	}
	return &c, nil
}
