package sqstest

import (
	"encoding/json"
	"net/http"
)

// The wire protocol: AWS JSON 1.0 requests read field by field, answers
// and errors written as SQS writes them.

// apiError is an SQS error in the JSON protocol: the shape's name in
// __type, and the query-compatible code in x-amzn-query-error, which the
// SDK reports as the error code.
type apiError struct {
	status     int
	shape      string // __type, without the namespace
	queryCode  string // "" : the shape's name
	senderSide bool
	message    string
}

func senderError(shape, queryCode, msg string) *apiError {
	return &apiError{status: 400, shape: shape, queryCode: queryCode, senderSide: true, message: msg}
}

// code is what the SDK reports as the error's code, and what a batch's
// failed entry carries.
func (e *apiError) code() string {
	if e.queryCode != "" {
		return e.queryCode
	}
	return e.shape
}

func writeError(w http.ResponseWriter, e *apiError) {
	side := "Receiver"
	if e.senderSide {
		side = "Sender"
	}
	w.Header().Set("x-amzn-query-error", e.code()+";"+side)
	writeJSON(w, e.status, map[string]string{"__type": "com.amazonaws.sqs#" + e.shape, "message": e.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("x-amzn-RequestId", newID())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// field reads a request's member; false when absent or not of type T.
func field[T any](in map[string]json.RawMessage, name string) (T, bool) {
	var v T
	raw, ok := in[name]
	if !ok {
		return v, false
	}
	return v, json.Unmarshal(raw, &v) == nil
}

func missingParameter(name string) *apiError {
	return senderError("MissingParameter", "", "The request must contain the parameter "+name+".")
}

// attributeValue is a message attribute on the wire (MessageAttributeValue).
type attributeValue struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty"`
}

type sendEntry struct {
	ID                string                    `json:"Id"`
	MessageBody       *string                   `json:"MessageBody"`
	DelaySeconds      *int                      `json:"DelaySeconds"` // nil: the queue's
	MessageAttributes map[string]attributeValue `json:"MessageAttributes"`
}

// received is a message as ReceiveMessage answers it.
type received struct {
	MessageID              string                    `json:"MessageId"`
	ReceiptHandle          string                    `json:"ReceiptHandle"`
	MD5OfBody              string                    `json:"MD5OfBody"`
	Body                   string                    `json:"Body"`
	Attributes             map[string]string         `json:"Attributes,omitempty"`
	MessageAttributes      map[string]attributeValue `json:"MessageAttributes,omitempty"`
	MD5OfMessageAttributes string                    `json:"MD5OfMessageAttributes,omitempty"`
}

type receiptEntry struct {
	ID                string `json:"Id"`
	ReceiptHandle     string `json:"ReceiptHandle"`
	VisibilityTimeout *int   `json:"VisibilityTimeout"`
}

type failedEntry struct {
	ID          string `json:"Id"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
	SenderFault bool   `json:"SenderFault"`
}

// failed is e as a batch's failed entry.
func failed(id string, e *apiError) failedEntry {
	return failedEntry{ID: id, Code: e.code(), Message: e.message, SenderFault: e.senderSide}
}
