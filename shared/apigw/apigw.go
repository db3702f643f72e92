// Package apigw turns API Gateway proxy events of both payload versions (HTTP
// API 2.0, REST API 1.0) into one Request, and a Response back into the
// shape the event's version expects.
package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Version is the payload format of an event.
type Version int

const (
	V1 Version = 1 // REST API, and HTTP API with payload format 1.0
	V2 Version = 2 // HTTP API, payload format 2.0
)

// Request is what a route needs of an event, whatever its version.
type Request struct {
	Version   Version
	Method    string
	Path      string // without the stage
	Header    http.Header
	Body      []byte // filled by DecodeBody
	RequestID string // API Gateway's request id

	rawBody   string
	base64    bool
	decodedOK bool
}

// ErrNotAPIGateway is returned for events that are neither payload version.
var ErrNotAPIGateway = errors.New("the event is not an API Gateway proxy event")

// EventError is an API Gateway event that cannot be read: a field of the
// wrong type, or a required field missing. It names the field.
type EventError struct{ Message string }

func (e *EventError) Error() string { return e.Message }

// probe reads just enough to tell the versions apart, whatever the types.
type probe struct {
	Version    json.RawMessage `json:"version"`
	HTTPMethod json.RawMessage `json:"httpMethod"`
}

// Parse reads an API Gateway proxy event. The version comes from the event
// itself: "version":"2.0" is payload 2.0, an httpMethod is 1.0. An event of
// a known version that cannot be read returns a Request with that Version
// (so the answer takes the event's own shape) and an *EventError. The body
// is left encoded: DecodeBody decodes it when the route needs it.
func Parse(raw []byte) (*Request, error) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAPIGateway, err)
	}
	switch {
	case string(p.Version) == `"2.0"`:
		return parseV2(raw)
	case len(p.HTTPMethod) > 0:
		return parseV1(raw)
	}
	return nil, ErrNotAPIGateway
}

func parseV2(raw []byte) (*Request, error) {
	req := &Request{Version: V2}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		req.RequestID = requestIDOf(raw)
		return req, eventError(err)
	}
	req.RequestID = ev.RequestContext.RequestID
	switch {
	case ev.RawPath == "":
		return req, &EventError{"the event has no rawPath"}
	case ev.RequestContext.HTTP.Method == "":
		return req, &EventError{"the event has no requestContext.http.method"}
	}
	req.Method, req.Path = ev.RequestContext.HTTP.Method, withoutStage(ev.RawPath, ev.RequestContext.Stage)
	req.Header = headers(ev.Headers, nil)
	req.rawBody, req.base64 = ev.Body, ev.IsBase64Encoded
	return req, nil
}

func parseV1(raw []byte) (*Request, error) {
	req := &Request{Version: V1}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		req.RequestID = requestIDOf(raw)
		return req, eventError(err)
	}
	req.RequestID = ev.RequestContext.RequestID
	switch {
	case ev.HTTPMethod == "":
		return req, &EventError{"the event's httpMethod is empty"}
	case ev.Path == "":
		return req, &EventError{"the event has no path"}
	}
	// A REST API's path is the resource path, without the stage.
	req.Method, req.Path = ev.HTTPMethod, ev.Path
	req.Header = headers(ev.Headers, ev.MultiValueHeaders)
	req.rawBody, req.base64 = ev.Body, ev.IsBase64Encoded
	return req, nil
}

// withoutStage removes a named stage from an HTTP API's rawPath: it is a
// whole first segment ("/prod/health"), never a mere prefix ("/prodhealth").
// $default adds none.
func withoutStage(path, stage string) string {
	if stage == "" || stage == "$default" {
		return path
	}
	prefix := "/" + stage
	switch {
	case path == prefix:
		return "/"
	case strings.HasPrefix(path, prefix+"/"):
		return path[len(prefix):]
	}
	return path
}

// requestIDOf reads API Gateway's request id from an event that did not
// decode whole, so that even its error answer carries the id.
func requestIDOf(raw []byte) string {
	var ev struct {
		RequestContext struct {
			RequestID json.RawMessage `json:"requestId"`
		} `json:"requestContext"`
	}
	var id string
	if json.Unmarshal(raw, &ev) == nil && json.Unmarshal(ev.RequestContext.RequestID, &id) == nil {
		return id
	}
	return ""
}

// eventError names the field that could not be read.
func eventError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &EventError{fmt.Sprintf("the event's field %s must be %s, not %s", te.Field, kindName(te.Type.Kind().String()), te.Value)}
	}
	return &EventError{"the event is not a JSON object of API Gateway's shape"}
}

func kindName(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a " + k
}

// ErrBadBase64 means the event said its body was base64 and it was not.
var ErrBadBase64 = errors.New("the body is marked base64-encoded but is not valid base64")

// DecodeBody decodes the body (from base64 when the event says so) into
// Body. It is called once the route and the signature headers are known to
// be worth it: an unknown route or an unsigned request never costs a decode.
func (r *Request) DecodeBody() error {
	if r.decodedOK {
		return nil
	}
	if !r.base64 {
		r.Body = []byte(r.rawBody)
	} else {
		out, err := base64.StdEncoding.DecodeString(r.rawBody)
		if err != nil {
			return ErrBadBase64
		}
		r.Body = out
	}
	r.rawBody, r.decodedOK = "", true
	return nil
}

// EncodedLen is the body's length as the event carries it (an upper bound
// of the decoded length).
func (r *Request) EncodedLen() int {
	if r.decodedOK {
		return len(r.Body)
	}
	return len(r.rawBody)
}

// headers canonicalises names: payload 2.0 lower-cases them, 1.0 keeps
// the sender's case; http.Header lookups are case-insensitive either way.
func headers(single map[string]string, multi map[string][]string) http.Header {
	h := make(http.Header, len(single))
	for k, vs := range multi {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range single {
		if _, ok := h[http.CanonicalHeaderKey(k)]; !ok {
			h.Set(k, v)
		}
	}
	return h
}

// Response is an answer with a JSON body.
type Response struct {
	Status int
	Header map[string]string
	Body   []byte
}

// JSON makes a response with v encoded as its body.
func JSON(status int, v any) Response {
	body, err := Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"INTERNAL","category":"UPSTREAM","message":"the answer could not be encoded"}}`)
	}
	return Response{Status: status, Body: body}
}

// Marshal encodes a rendered response for the runtime, leaving <, > and &
// as they are (as aws-lambda-go does).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// For renders the response in the shape of the request's payload version.
// Every response says Content-Type: application/json.
func (r Response) For(v Version) any {
	h := map[string]string{"Content-Type": "application/json"}
	for k, val := range r.Header {
		h[k] = val
	}
	if v == V1 {
		return events.APIGatewayProxyResponse{StatusCode: r.Status, Headers: h, Body: string(r.Body)}
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: r.Status, Headers: h, Body: string(r.Body)}
}
