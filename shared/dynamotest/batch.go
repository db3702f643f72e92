package dynamotest

import (
	"fmt"
	"strings"

	"github.com/truora/minidyn/server"
)

// Batches: DynamoDB checks the whole request (sizes, keys, duplicates,
// tables) before it applies any of it; the stand-in then applies every
// request (it never leaves any unprocessed unless told to by a fault).

const (
	maxBatchWrite = 25
	maxBatchGet   = 100
)

func (s *Server) batchWriteItem(body []byte) (any, *apiError) {
	in, e := decode[server.BatchWriteItemInput](body)
	if e != nil {
		return nil, e
	}
	if len(in.RequestItems) == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	total := 0
	for _, name := range sortedKeys(in.RequestItems) {
		reqs := in.RequestItems[name]
		if len(reqs) == 0 || len(reqs) > maxBatchWrite {
			return nil, validation(fmt.Sprintf("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to %d, Member must have length greater than or equal to 1]", maxBatchWrite))
		}
		total += len(reqs)
		for _, r := range reqs {
			var e *apiError
			switch {
			case (r.PutRequest == nil) == (r.DeleteRequest == nil):
				e = validation("Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest")
			case r.PutRequest != nil:
				e = firstError(checkValues(r.PutRequest.Item), checkSize(r.PutRequest.Item))
			default:
				e = checkValues(r.DeleteRequest.Key)
			}
			if e != nil {
				return nil, e
			}
		}
	}
	if total > maxBatchWrite {
		return nil, validation("Too many items requested for the BatchWriteItem call")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tables := map[string]*table{}
	for _, name := range sortedKeys(in.RequestItems) {
		t, e := s.lookup(&name)
		if e != nil {
			return nil, e
		}
		tables[name] = t
		seen := map[string]bool{}
		for _, r := range in.RequestItems[name] {
			key := map[string]*av(nil)
			if r.PutRequest != nil {
				if e := t.checkItem(r.PutRequest.Item); e != nil {
					return nil, e
				}
				key = t.keyOf(r.PutRequest.Item)
			} else {
				if e := t.checkKey(r.DeleteRequest.Key); e != nil {
					return nil, e
				}
				key = r.DeleteRequest.Key
			}
			id := t.keyID(key)
			if seen[id] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
		}
	}
	for _, name := range sortedKeys(in.RequestItems) {
		for _, r := range in.RequestItems[name] {
			var err error
			if r.PutRequest != nil {
				_, err = s.engine.PutItem(bg, &server.PutItemInput{TableName: tables[name].shard(r.PutRequest.Item), Item: r.PutRequest.Item})
			} else {
				_, err = s.engine.DeleteItem(bg, &server.DeleteItemInput{TableName: tables[name].shard(r.DeleteRequest.Key), Key: r.DeleteRequest.Key})
			}
			if err != nil {
				return nil, engineError(err)
			}
		}
	}
	return map[string]map[string]any{"UnprocessedItems": {}}, nil
}

func (s *Server) batchGetItem(body []byte) (any, *apiError) {
	in, e := decode[server.BatchGetItemInput](body)
	if e != nil {
		return nil, e
	}
	if len(in.RequestItems) == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	total := 0
	for _, name := range sortedKeys(in.RequestItems) {
		ka := in.RequestItems[name]
		if len(ka.Keys) == 0 || len(ka.Keys) > maxBatchGet {
			return nil, validation(fmt.Sprintf("1 validation error detected: Value at 'requestItems.%s.member.keys' failed to satisfy constraint: Member must have length less than or equal to %d, Member must have length greater than or equal to 1", name, maxBatchGet))
		}
		total += len(ka.Keys)
		if e := firstError(
			refuseLegacy(map[string]bool{"AttributesToGet": ka.AttributesToGet != nil}),
			checkExpressions(ka.ExpressionAttributeNames, nil, expression{"ProjectionExpression", ka.ProjectionExpression}),
		); e != nil {
			return nil, e
		}
		for _, k := range ka.Keys {
			if e := checkValues(k); e != nil {
				return nil, e
			}
		}
	}
	if total > maxBatchGet {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range sortedKeys(in.RequestItems) {
		t, e := s.lookup(&name)
		if e != nil {
			return nil, e
		}
		seen := map[string]bool{}
		for _, k := range in.RequestItems[name].Keys {
			if e := t.checkKey(k); e != nil {
				return nil, e
			}
			id := t.keyID(k)
			if seen[id] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
		}
	}
	responses := map[string][]wireItem{}
	for _, name := range sortedKeys(in.RequestItems) {
		ka, t := in.RequestItems[name], s.tables[name]
		found := []wireItem{}
		for _, k := range ka.Keys {
			out, err := s.engine.GetItem(bg, &server.GetItemInput{TableName: t.shard(k), Key: k,
				ProjectionExpression: ka.ProjectionExpression, ExpressionAttributeNames: ka.ExpressionAttributeNames})
			if err != nil {
				return nil, engineError(err)
			}
			if len(out.Item) > 0 {
				found = append(found, out.Item)
			}
		}
		responses[name] = found
	}
	return map[string]any{"Responses": responses, "UnprocessedKeys": map[string]any{}}, nil
}

// keyID is one string for equal keys (of a checked key).
func (t *table) keyID(key map[string]*av) string {
	var b strings.Builder
	for _, k := range t.keys {
		v := key[k.name]
		switch k.typ {
		case "S":
			fmt.Fprintf(&b, "%d:%s", len(*v.S), *v.S)
		case "B":
			fmt.Fprintf(&b, "%d:%s", len(v.B), v.B)
		case "N":
			n, _ := parseNumber(*v.N)
			fmt.Fprintf(&b, "%s;", n.canonical())
		}
	}
	return b.String()
}
