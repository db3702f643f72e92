package dynamotest

import (
	"strconv"
	"time"

	"github.com/truora/minidyn/server"
)

// Time to Live. DynamoDB deletes an expired item in the background, up to a
// few days after it expires; the stand-in deletes none until told to, so a
// test sees what code must handle: expired items still there.

// ttlHorizon: DynamoDB ignores TTL values more than five years in the past
// (a duration written instead of a time, say).
const ttlHorizon = 5 * 365 * 24 * time.Hour

// ExpireNow does what DynamoDB's TTL deletion eventually does: it deletes
// every item whose TTL attribute (on tables with TTL enabled) is a number of
// epoch seconds before now, and no more than five years before. It returns
// how many it deleted.
func (s *Server) ExpireNow() int { return s.ExpireBefore(time.Now()) }

// ExpireBefore is ExpireNow as of the time at.
func (s *Server) ExpireBefore(at time.Time) int {
	now := float64(at.UnixNano()) / 1e9
	oldest := float64(at.Add(-ttlHorizon).Unix())
	s.mu.Lock()
	defer s.mu.Unlock()
	deleted := 0
	for _, name := range sortedKeys(s.tables) {
		t := s.tables[name]
		if t.ttl == "" {
			continue
		}
		items, err := s.scanAll(t)
		if err != nil {
			continue
		}
		for _, item := range items {
			v := item[t.ttl]
			if v == nil || v.N == nil {
				continue
			}
			expires, err := strconv.ParseFloat(*v.N, 64)
			if err != nil || expires >= now || expires < oldest {
				continue
			}
			if _, err := s.engine.DeleteItem(bg, &server.DeleteItemInput{TableName: t.shard(item), Key: t.keyOf(item)}); err == nil {
				deleted++
			}
		}
	}
	return deleted
}
