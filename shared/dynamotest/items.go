package dynamotest

import (
	"context"

	"github.com/truora/minidyn/server"
)

// Single-item calls. Each checks what DynamoDB checks, then runs in the
// engine under s.mu, so a conditional write and the read of the item it was
// refused on (ReturnValuesOnConditionCheckFailure: ALL_OLD) see one state.

var bg = context.Background()

type itemOutput struct {
	Attributes wireItem `json:",omitempty"`
}

func (s *Server) putItem(body []byte) (any, *apiError) {
	in, e := decode[server.PutItemInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"Expected": in.Expected != nil, "ConditionalOperator": in.ConditionalOperator != ""}),
		checkReturnValues(string(in.ReturnValues), false),
		checkOnFailure(string(in.ReturnValuesOnConditionCheckFailure)),
		checkValues(in.Item),
		checkExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
			expression{"ConditionExpression", in.ConditionExpression}),
		engineNumbers("ExpressionAttributeValues", in.ExpressionAttributeValues),
		checkSize(in.Item),
	); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	if e := t.checkItem(in.Item); e != nil {
		return nil, e
	}
	key := t.keyOf(in.Item)
	var old map[string]*av
	if in.ReturnValues == "ALL_OLD" {
		old = s.current(t, key)
	}
	_, err := s.engine.PutItem(bg, &server.PutItemInput{TableName: t.shard(key), Item: in.Item,
		ConditionExpression: in.ConditionExpression, ExpressionAttributeNames: in.ExpressionAttributeNames,
		ExpressionAttributeValues: in.ExpressionAttributeValues})
	if err != nil {
		return nil, s.refused(err, t, key, string(in.ReturnValuesOnConditionCheckFailure))
	}
	return itemOutput{Attributes: old}, nil
}

func (s *Server) getItem(body []byte) (any, *apiError) {
	in, e := decode[server.GetItemInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"AttributesToGet": in.AttributesToGet != nil}),
		checkValues(in.Key),
		checkExpressions(in.ExpressionAttributeNames, nil, expression{"ProjectionExpression", in.ProjectionExpression}),
	); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	if e := t.checkKey(in.Key); e != nil {
		return nil, e
	}
	out, err := s.engine.GetItem(bg, &server.GetItemInput{TableName: t.shard(in.Key), Key: in.Key,
		ProjectionExpression: in.ProjectionExpression, ExpressionAttributeNames: in.ExpressionAttributeNames})
	if err != nil {
		return nil, engineError(err)
	}
	return struct {
		Item wireItem `json:",omitempty"`
	}{out.Item}, nil
}

func (s *Server) updateItem(body []byte) (any, *apiError) {
	in, e := decode[server.UpdateItemInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"AttributeUpdates": in.AttributeUpdates != nil, "Expected": in.Expected != nil,
			"ConditionalOperator": in.ConditionalOperator != ""}),
		checkReturnValues(string(in.ReturnValues), true),
		checkOnFailure(string(in.ReturnValuesOnConditionCheckFailure)),
		checkValues(in.Key),
		checkExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
			expression{"UpdateExpression", in.UpdateExpression}, expression{"ConditionExpression", in.ConditionExpression}),
		engineNumbers("ExpressionAttributeValues", in.ExpressionAttributeValues),
	); e != nil {
		return nil, e
	}
	if in.UpdateExpression == nil {
		return nil, validation("dynamotest: UpdateItem without an UpdateExpression is not supported")
	}
	targets := updateTargets(*in.UpdateExpression, in.ExpressionAttributeNames)
	if e := firstError(checkOverlap(targets), checkOperands(*in.UpdateExpression, in.ExpressionAttributeValues)); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	if e := t.checkKey(in.Key); e != nil {
		return nil, e
	}
	old := s.current(t, in.Key)
	for _, tg := range targets {
		if n := longNumber(old[tg.name]); n != "" && !tg.removed {
			return nil, validation("dynamotest: the number " + n + " in the attribute " + tg.name + " has more than 15 significant digits, which minidyn computes with inexactly (float64)")
		}
	}
	_, err := s.engine.UpdateItem(bg, &server.UpdateItemInput{TableName: t.shard(in.Key), Key: in.Key,
		UpdateExpression: in.UpdateExpression, ConditionExpression: in.ConditionExpression,
		ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues})
	if err != nil {
		e := s.refused(err, t, in.Key, string(in.ReturnValuesOnConditionCheckFailure))
		if e.code != "ConditionalCheckFailedException" {
			// minidyn applies an update's actions to the stored item one
			// by one: one that fails may leave the earlier ones applied.
			s.replace(t, in.Key, old)
		}
		return nil, e
	}
	engineItem := s.current(t, in.Key)
	updated := merged(old, in.Key, engineItem, targets)
	if itemSize(updated) > MaxItemBytes {
		s.replace(t, in.Key, old)
		return nil, validation("Item size to update has exceeded the maximum allowed size")
	}
	if !sameItem(updated, engineItem) {
		s.replace(t, in.Key, updated)
	}
	return itemOutput{Attributes: returnValues(string(in.ReturnValues), old, updated, targets)}, nil
}

func (s *Server) deleteItem(body []byte) (any, *apiError) {
	in, e := decode[server.DeleteItemInput](body)
	if e != nil {
		return nil, e
	}
	if e := firstError(
		refuseLegacy(map[string]bool{"Expected": in.Expected != nil, "ConditionalOperator": in.ConditionalOperator != ""}),
		checkReturnValues(string(in.ReturnValues), false),
		checkOnFailure(string(in.ReturnValuesOnConditionCheckFailure)),
		checkValues(in.Key),
		checkExpressions(in.ExpressionAttributeNames, in.ExpressionAttributeValues,
			expression{"ConditionExpression", in.ConditionExpression}),
		engineNumbers("ExpressionAttributeValues", in.ExpressionAttributeValues),
	); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, e := s.lookup(in.TableName)
	if e != nil {
		return nil, e
	}
	if e := t.checkKey(in.Key); e != nil {
		return nil, e
	}
	var old map[string]*av
	if in.ReturnValues == "ALL_OLD" {
		old = s.current(t, in.Key)
	}
	_, err := s.engine.DeleteItem(bg, &server.DeleteItemInput{TableName: t.shard(in.Key), Key: in.Key,
		ConditionExpression: in.ConditionExpression, ExpressionAttributeNames: in.ExpressionAttributeNames,
		ExpressionAttributeValues: in.ExpressionAttributeValues})
	if err != nil {
		return nil, s.refused(err, t, in.Key, string(in.ReturnValuesOnConditionCheckFailure))
	}
	return itemOutput{Attributes: old}, nil
}

// current is a copy of the stored item, nil when there is none; the caller
// holds s.mu.
func (s *Server) current(t *table, key map[string]*av) map[string]*av {
	out, err := s.engine.GetItem(bg, &server.GetItemInput{TableName: t.shard(key), Key: key})
	if err != nil || len(out.Item) == 0 {
		return nil
	}
	return copyItem(out.Item)
}

// replace stores item in place of the stored one (nil: deletes it); the
// caller holds s.mu.
func (s *Server) replace(t *table, key, item map[string]*av) {
	if item == nil {
		_, _ = s.engine.DeleteItem(bg, &server.DeleteItemInput{TableName: t.shard(key), Key: key})
		return
	}
	_, _ = s.engine.PutItem(bg, &server.PutItemInput{TableName: t.shard(key), Item: item})
}

// refused is the answer to a write the engine refused: a refused condition
// carries the stored item when the request asked for it (ALL_OLD), read
// under the same lock as the condition.
func (s *Server) refused(err error, t *table, key map[string]*av, onFailure string) *apiError {
	e := engineError(err)
	if e.code == "ConditionalCheckFailedException" && onFailure == "ALL_OLD" {
		e.item = s.current(t, key)
	}
	return e
}

func firstError(errs ...*apiError) *apiError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
