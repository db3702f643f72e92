package dynamotest

import (
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"

	"github.com/truora/minidyn/server"
)

// minidyn keeps a table's keys in one sorted slice and sorts it again for
// every new item, so n new items cost O(n² log n): 100,000 took 78 s, the
// last ones over a millisecond each. The stand-in spreads each table over
// shards engine tables by partition key (a Query reads one of them), which
// keeps them small: 100,000 items are about 400 a shard.
const shards = 256

// shardNames are the engine's tables for the table name.
func shardNames(name string) []string {
	out := make([]string, shards)
	for i := range out {
		out[i] = name + "#" + strconv.Itoa(i)
	}
	return out
}

// shard is the engine table holding the item with this key (or any map
// holding its partition key).
func (t *table) shard(key map[string]*av) *string {
	h := fnv.New32a()
	switch v, k := key[t.keys[0].name], t.keys[0]; k.typ {
	case "S":
		h.Write([]byte(*v.S))
	case "B":
		h.Write(v.B)
	case "N":
		n, _ := parseNumber(*v.N)
		h.Write([]byte(n.canonical()))
	}
	return &t.shards[h.Sum32()%shards]
}

// scanAll is every item of t; the caller holds s.mu.
func (s *Server) scanAll(t *table) ([]map[string]*av, error) {
	var items []map[string]*av
	for i := range t.shards {
		out, err := s.engine.Scan(bg, &server.ScanInput{TableName: &t.shards[i]})
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// keyEquality is a condition "a = b" in a key condition expression.
var keyEquality = regexp.MustCompile(`([#:]?[0-9A-Za-z_]+)\s*=\s*([#:]?[0-9A-Za-z_]+)`)

// queryShard is the shard a Query reads: the one of the partition key value
// its key condition names.
func (t *table) queryShard(expr string, names map[string]string, values map[string]*av) (*string, *apiError) {
	pk := t.keys[0]
	for _, m := range keyEquality.FindAllStringSubmatch(expr, -1) {
		a, b := m[1], m[2]
		if strings.HasPrefix(a, ":") {
			a, b = b, a
		}
		if strings.HasPrefix(a, "#") {
			a = names[a]
		}
		if v := values[b]; a == pk.name && strings.HasPrefix(b, ":") && typeOf(v) == pk.typ {
			return t.shard(map[string]*av{a: v}), nil
		}
	}
	return nil, validation("Query condition missed key schema element: " + pk.name)
}
