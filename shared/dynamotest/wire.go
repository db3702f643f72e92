package dynamotest

import (
	"encoding/json"
	"errors"
	"net/http"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/truora/minidyn/server"
)

// The wire: requests decode into minidyn's request shapes (JSON-friendly
// attribute values); answers and errors are written here, because minidyn's
// own writer drops empty lists and maps ({"L":[]} becomes {}), answers
// PutItem with the new item and has no table status or TTL.

// av is an attribute value as requests carry it.
type av = server.AttributeValue

// errorNamespace precedes an error's name in __type, as DynamoDB writes it.
const errorNamespace = "com.amazonaws.dynamodb.v20120810#"

// apiError is a DynamoDB error answer.
type apiError struct {
	status  int
	code    string
	message string
	item    map[string]*av // ConditionalCheckFailedException's Item (ALL_OLD)
}

type errorBody struct {
	Type    string   `json:"__type"`
	Message string   `json:"message"`
	Item    wireItem `json:"Item,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorBody{Type: errorNamespace + e.code, Message: e.message, Item: e.item})
}

func validation(msg string) *apiError {
	return &apiError{status: 400, code: "ValidationException", message: msg}
}

// notFound is DynamoDB's answer about a table that does not exist.
func notFound() *apiError {
	return &apiError{status: 400, code: "ResourceNotFoundException", message: "Requested resource not found"}
}

// conditionFailed is a refused conditional write; item is the stored item
// when the request asked for it (ALL_OLD) and one exists.
func conditionFailed(item map[string]*av) *apiError {
	return &apiError{status: 400, code: "ConditionalCheckFailedException", message: "The conditional request failed", item: item}
}

// engineError turns minidyn's answer into DynamoDB's. Anything that is not
// an API error is the engine's own failure: a 500, so it shows.
func engineError(err error) *apiError {
	if _, ok := errors.AsType[*ddbtypes.ConditionalCheckFailedException](err); ok {
		return conditionFailed(nil)
	}
	if api, ok := errors.AsType[smithy.APIError](err); ok {
		status := 400
		if api.ErrorCode() == "InternalServerError" {
			status = 500
		}
		return &apiError{status: status, code: api.ErrorCode(), message: api.ErrorMessage()}
	}
	return &apiError{status: 500, code: "InternalServerError", message: "dynamotest: " + err.Error()}
}

// wireItem writes an item in DynamoDB's JSON, each value with exactly its
// one type (an empty list stays a list).
type wireItem map[string]*av

func (m wireItem) MarshalJSON() ([]byte, error) {
	out := make(map[string]wireValue, len(m))
	for k, v := range m {
		out[k] = wireValue{v}
	}
	return json.Marshal(out)
}

func wireItems(items []map[string]*av) []wireItem {
	out := make([]wireItem, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

type wireValue struct{ v *av }

func (w wireValue) MarshalJSON() ([]byte, error) {
	v := w.v
	switch {
	case v == nil:
		return nil, errors.New("dynamotest: a nil attribute value")
	case v.S != nil:
		return json.Marshal(map[string]string{"S": *v.S})
	case v.N != nil:
		return json.Marshal(map[string]string{"N": *v.N})
	case v.B != nil:
		return json.Marshal(map[string][]byte{"B": v.B})
	case v.BOOL != nil:
		return json.Marshal(map[string]bool{"BOOL": *v.BOOL})
	case v.NULL != nil:
		return []byte(`{"NULL":true}`), nil
	case v.SS != nil:
		return json.Marshal(map[string][]string{"SS": derefs(v.SS)})
	case v.NS != nil:
		return json.Marshal(map[string][]string{"NS": derefs(v.NS)})
	case v.BS != nil:
		return json.Marshal(map[string][][]byte{"BS": v.BS})
	case v.L != nil:
		l := make([]wireValue, len(v.L))
		for i, e := range v.L {
			l[i] = wireValue{e}
		}
		return json.Marshal(map[string][]wireValue{"L": l})
	case v.M != nil:
		return json.Marshal(map[string]wireItem{"M": v.M})
	}
	return nil, errors.New("dynamotest: an attribute value with no type")
}

func derefs(ps []*string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// copyItem is a deep copy that keeps empty lists and maps as they are.
func copyItem(m map[string]*av) map[string]*av {
	if m == nil {
		return nil
	}
	out := make(map[string]*av, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v *av) *av {
	if v == nil {
		return nil
	}
	c := &av{S: copyString(v.S), N: copyString(v.N), BOOL: copyBool(v.BOOL), NULL: copyBool(v.NULL), M: copyItem(v.M)}
	if v.B != nil {
		c.B = append([]byte{}, v.B...)
	}
	if v.SS != nil {
		c.SS = copyStrings(v.SS)
	}
	if v.NS != nil {
		c.NS = copyStrings(v.NS)
	}
	if v.BS != nil {
		c.BS = make([][]byte, len(v.BS))
		for i, b := range v.BS {
			c.BS[i] = append([]byte{}, b...)
		}
	}
	if v.L != nil {
		c.L = make([]*av, len(v.L))
		for i, e := range v.L {
			c.L[i] = copyValue(e)
		}
	}
	return c
}

func copyString(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

func copyBool(p *bool) *bool {
	if p == nil {
		return nil
	}
	b := *p
	return &b
}

func copyStrings(ps []*string) []*string {
	out := make([]*string, len(ps))
	for i, p := range ps {
		out[i] = copyString(p)
	}
	return out
}
