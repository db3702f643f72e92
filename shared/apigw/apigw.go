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
	Body      []byte // decoded when the event was base64-encoded
	RequestID string // API Gateway's request id
}

// ErrNotAPIGateway is returned for events that are neither payload version.
var ErrNotAPIGateway = errors.New("the event is not an API Gateway proxy event")

// probe reads just enough to tell the versions apart.
type probe struct {
	Version    string `json:"version"`
	HTTPMethod string `json:"httpMethod"`
	RawPath    string `json:"rawPath"`
}

// Parse reads an API Gateway proxy event. The version comes from the event
// itself: "version":"2.0" with a rawPath is payload 2.0, an httpMethod is 1.0.
func Parse(raw []byte) (*Request, error) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAPIGateway, err)
	}
	var (
		req  *Request
		body string
		b64  bool
	)
	switch {
	case p.Version == "2.0" && p.RawPath != "":
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAPIGateway, err)
		}
		path := ev.RawPath
		// A named stage prefixes rawPath; $default does not.
		if st := ev.RequestContext.Stage; st != "" && st != "$default" {
			path = strings.TrimPrefix(path, "/"+st)
		}
		req = &Request{Version: V2, Method: ev.RequestContext.HTTP.Method, Path: path,
			Header: headers(ev.Headers, nil), RequestID: ev.RequestContext.RequestID}
		body, b64 = ev.Body, ev.IsBase64Encoded
	case p.HTTPMethod != "":
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotAPIGateway, err)
		}
		req = &Request{Version: V1, Method: ev.HTTPMethod, Path: ev.Path,
			Header: headers(ev.Headers, ev.MultiValueHeaders), RequestID: ev.RequestContext.RequestID}
		body, b64 = ev.Body, ev.IsBase64Encoded
	default:
		return nil, ErrNotAPIGateway
	}
	var err error
	req.Body, err = decodeBody(body, b64)
	return req, err
}

// ErrBadBase64 means the event said its body was base64 and it was not.
var ErrBadBase64 = errors.New("the body is marked base64-encoded but is not valid base64")

func decodeBody(body string, b64 bool) ([]byte, error) {
	if !b64 {
		return []byte(body), nil
	}
	out, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, ErrBadBase64
	}
	return out, nil
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
