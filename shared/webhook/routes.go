package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
	"github.com/galxe-lambda/galxe-lambda/shared/obs"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/readcache"
	"github.com/galxe-lambda/galxe-lambda/shared/state"
	"github.com/galxe-lambda/galxe-lambda/shared/strictjson"
)

// itemsBody is POST /credentials/{credId}/items.
type itemsBody struct {
	Operation string           `json:"operation"`
	Items     credentials.List `json:"items"`
}

// operationBody is POST /operations/{name}.
type operationBody struct {
	Variables json.RawMessage `json:"variables"`
}

// decode reads a JSON object strictly: unknown fields, wrong types and
// trailing data are the caller's mistakes, said plainly.
func decode(body []byte, v any) error {
	err := strictjson.Unmarshal(body, v)
	var (
		te *json.UnmarshalTypeError
		ue *strictjson.UnknownFieldError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return badRequest(fmt.Sprintf("field %q must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value), nil)
	case errors.As(err, &ue):
		return badRequest("the body has an unknown field "+strconv.Quote(galxe.Clip(ue.Field)), nil)
	case errors.As(err, &te):
		return badRequest("the body must be a JSON object, not "+te.Value, nil)
	}
	return badRequest("the body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: "), nil)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return goKind
}

// pushItems validates and normalises a push accepted at `accepted`, then
// queues it (APPEND and REMOVE with a queue: 202) or sends it to Galxe in
// batches (200), in order with the fleet's other pushes when the
// shared-state table is there: what a later push superseded is not sent.
func (h *Handler) pushItems(ctx context.Context, credID string, body []byte, accepted time.Time) (int, any, error) {
	if !credentials.ValidCredID(credID) {
		return 0, nil, badRequest(fmt.Sprintf("credId must be a string of digits, not %q", galxe.Clip(credID)), nil)
	}
	var in itemsBody
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	if !credentials.ValidOperation(in.Operation) {
		return 0, nil, badRequest(fmt.Sprintf("operation must be APPEND, REMOVE or REPLACE, not %q", galxe.Clip(in.Operation)), nil)
	}
	if len(in.Items) == 0 {
		return 0, nil, badRequest("items must be a non-empty array of strings", nil)
	}
	if len(in.Items) > h.maxItems {
		return 0, nil, &RequestError{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge,
			Message: fmt.Sprintf("%d items; the limit is %d a request", len(in.Items), h.maxItems)}
	}
	items, invalid := credentials.Normalize(in.Items)
	if len(invalid) > 0 {
		return 0, nil, badRequest(fmt.Sprintf("%d invalid items", len(invalid)), map[string]any{"invalid": invalid})
	}
	if in.Operation == credentials.Replace && len(items) > credentials.BatchSize {
		return 0, nil, credentials.ErrReplaceTooLarge
	}
	if (h.queue != nil || h.queueErr != nil) && pushqueue.Queueable(in.Operation) {
		return h.enqueue(ctx, credID, in.Operation, items, accepted)
	}
	if h.galxe == nil {
		return 0, nil, h.galxeErr
	}
	sum, err := credentials.PushInOrder(ctx, h.galxe, h.state, credID, in.Operation, items, accepted)
	if sum.Superseded > 0 {
		h.count("ItemsSuperseded", sum.Superseded)
	}
	return http.StatusOK, sum, err
}

// queued is the 202 answer's data.
type queued struct {
	CredID    string `json:"credId"`
	Operation string `json:"operation"`
	Items     int    `json:"items"`
	Queued    bool   `json:"queued"`
}

// enqueue puts the push, accepted at `accepted` (its messages' "at"), on
// the queue as messages of at most 256 KiB; it answers 202 only when every
// item is queued.
func (h *Handler) enqueue(ctx context.Context, credID, op string, items []string, accepted time.Time) (int, any, error) {
	if h.queueErr != nil {
		return 0, nil, h.queueErr
	}
	bodies := pushqueue.Encode(credID, op, items, accepted.UnixMilli())
	msgs := make([]pushqueue.Outgoing, len(bodies))
	for i, b := range bodies {
		msgs[i] = pushqueue.Outgoing{Body: b}
	}
	if err := h.queue.Send(ctx, msgs); err != nil {
		return 0, nil, err
	}
	h.count("ItemsQueued", len(items))
	return http.StatusAccepted, queued{CredID: credID, Operation: op, Items: len(items), Queued: true}, nil
}

// count emits a Count metric.
func (h *Handler) count(name string, n int) {
	if h.metrics != nil {
		h.metrics.Emit(obs.Metric{Name: name, Unit: "Count", Values: []float64{float64(n)}})
	}
}

// runOperation runs a persisted query, through the fleet's read cache
// when there is one; header is what the cache says it did.
func (h *Handler) runOperation(ctx context.Context, name string, body []byte) (data any, header map[string]string, err error) {
	op, err := galxe.LookupOperation(name)
	if err != nil {
		return nil, nil, err
	}
	if op.Mutation {
		// Only the items route validates, batches and limits items.
		return nil, nil, fmt.Errorf("%w: %s is a mutation; push items with POST /credentials/{credId}/items", galxe.ErrUnknownOperation, op.Name)
	}
	var in operationBody
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decode(body, &in); err != nil {
			return nil, nil, err
		}
	}
	var vars any
	if v := bytes.TrimSpace(in.Variables); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if v[0] != '{' {
			return nil, nil, badRequest(`"variables" must be an object`, nil)
		}
		vars = in.Variables
	}
	if h.galxe == nil {
		return nil, nil, h.galxeErr
	}
	a, err := h.cache.Get(ctx, name, in.Variables, func(ctx context.Context) (json.RawMessage, error) {
		res, err := h.galxe.Do(ctx, name, vars)
		if err != nil {
			return nil, err
		}
		return res.Data, nil
	})
	h.countRead(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	return a.Data, a.Headers(), nil
}

// countRead counts what the read cache did (ReadCacheHits,
// ReadCacheMisses) and a table that failed it (SharedStateErrors): the
// read went to Galxe, so only the log and the metric tell.
func (h *Handler) countRead(ctx context.Context, a readcache.Answer) {
	switch {
	case a.Hit:
		h.count("ReadCacheHits", 1)
	case a.Status != "":
		h.count("ReadCacheMisses", 1)
	}
	if a.TableErr != nil {
		h.countStateError()
		h.log.WarnContext(ctx, "read cache: the shared-state table failed; the read went to Galxe", "error", state.Detail(a.TableErr))
	}
}
