package dynamotest

import (
	"github.com/truora/minidyn/server"
)

// Query and Scan on the table itself (no indexes), through the engine,
// without DynamoDB's 1 MB page: a page ends at Limit only.

type searchOutput struct {
	Items            []wireItem
	Count            int
	ScannedCount     int
	LastEvaluatedKey wireItem `json:",omitempty"`
}

func (s *Server) query(body []byte) (any, *apiError) {
	in, e := decode[server.QueryInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"KeyConditions": in.KeyConditions != nil, "QueryFilter": in.QueryFilter != nil,
			"AttributesToGet": in.AttributesToGet != nil, "ConditionalOperator": in.ConditionalOperator != ""}),
		refuseSearch(in.IndexName, string(in.Select), nil),
		checkExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
			expression{"KeyConditionExpression", in.KeyConditionExpression}, expression{"FilterExpression", in.FilterExpression},
			expression{"ProjectionExpression", in.ProjectionExpression}),
		engineNumbers("ExpressionAttributeValues", in.ExpressionAttributeValues),
	); e != nil {
		return nil, e
	}
	if in.KeyConditionExpression == nil {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	if in.TableName, e = t.queryShard(*in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues); e != nil {
		return nil, e
	}
	out, err := s.engine.Query(bg, in)
	if err != nil {
		return nil, engineError(err)
	}
	return searchOutput{Items: wireItems(out.Items), Count: len(out.Items), ScannedCount: len(out.Items), LastEvaluatedKey: out.LastEvaluatedKey}, nil
}

func (s *Server) scan(body []byte) (any, *apiError) {
	in, e := decode[server.ScanInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"ScanFilter": in.ScanFilter != nil, "AttributesToGet": in.AttributesToGet != nil,
			"ConditionalOperator": in.ConditionalOperator != ""}),
		refuseSearch(in.IndexName, string(in.Select), in.TotalSegments),
		checkExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
			expression{"FilterExpression", in.FilterExpression}, expression{"ProjectionExpression", in.ProjectionExpression}),
		engineNumbers("ExpressionAttributeValues", in.ExpressionAttributeValues),
	); e != nil {
		return nil, e
	}
	if in.Limit != nil || in.ExclusiveStartKey != nil {
		return nil, validation("dynamotest: Scan pages (Limit, ExclusiveStartKey) are not supported: a Scan returns every item")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	var items []map[string]*av
	for i := range t.shards {
		in.TableName = &t.shards[i]
		out, err := s.engine.Scan(bg, in)
		if err != nil {
			return nil, engineError(err)
		}
		items = append(items, out.Items...)
	}
	return searchOutput{Items: wireItems(items), Count: len(items), ScannedCount: len(items)}, nil
}

// refuseSearch refuses what the stand-in does not do: indexes, counts
// only, parallel scans.
func refuseSearch(index *string, sel string, segments *int32) *apiError {
	switch {
	case index != nil:
		return validation("dynamotest: secondary indexes are not supported")
	case sel != "" && sel != "ALL_ATTRIBUTES":
		return validation("dynamotest: Select " + sel + " is not supported")
	case segments != nil:
		return validation("dynamotest: parallel scans are not supported")
	}
	return nil
}
