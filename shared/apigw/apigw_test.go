package apigw

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestParseBothVersions(t *testing.T) {
	v2 := `{"version":"2.0","rawPath":"/live/health","headers":{"webhook-id":"a"},"body":"e30=","isBase64Encoded":true,
		"requestContext":{"stage":"live","requestId":"r2","http":{"method":"GET"}}}`
	r, err := Parse([]byte(v2))
	if err == nil {
		err = r.DecodeBody()
	}
	if err != nil || r.Version != V2 || r.Path != "/health" || r.Method != "GET" || string(r.Body) != "{}" ||
		r.Header.Get("Webhook-Id") != "a" || r.RequestID != "r2" {
		t.Fatalf("%+v %v", r, err)
	}
	v1 := `{"httpMethod":"POST","path":"/operations/health","headers":{"WEBHOOK-ID":"b"},
		"multiValueHeaders":{"Webhook-Signature":["v1,x","v1,y"]},"body":"{}","requestContext":{"requestId":"r1"}}`
	r, err = Parse([]byte(v1))
	if err != nil || r.Version != V1 || r.Path != "/operations/health" || r.Header.Get("webhook-id") != "b" ||
		len(r.Header.Values("webhook-signature")) != 2 || r.RequestID != "r1" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := Parse([]byte(`{"source":"aws.events"}`)); !errors.Is(err, ErrNotAPIGateway) {
		t.Fatalf("got %v", err)
	}
	// The body is decoded only when asked: an unknown route or an unsigned
	// request never pays for it, and invalid base64 is found then.
	r, err = Parse([]byte(`{"httpMethod":"POST","path":"/x","body":"%%%","isBase64Encoded":true,"requestContext":{"requestId":"r"}}`))
	if err != nil || r.RequestID != "r" {
		t.Fatalf("%v", err)
	}
	if err := r.DecodeBody(); !errors.Is(err, ErrBadBase64) {
		t.Fatalf("%v", err)
	}
}

// A named stage is a whole first segment of an HTTP API's rawPath.
func TestStageIsAPathSegment(t *testing.T) {
	for _, c := range []struct{ stage, raw, want string }{
		{"prod", "/prod/health", "/health"},
		{"prod", "/prodoperations/credential", "/prodoperations/credential"},
		{"v", "/v1/health", "/v1/health"},
		{"v", "/v/v1/health", "/v1/health"},
		{"prod", "/prod", "/"},
		{"$default", "/health", "/health"},
	} {
		ev := `{"version":"2.0","rawPath":"` + c.raw + `","requestContext":{"stage":"` + c.stage + `","http":{"method":"GET"}}}`
		r, err := Parse([]byte(ev))
		if err != nil || r.Path != c.want {
			t.Errorf("stage %q, rawPath %q: got %q (%v), want %q", c.stage, c.raw, r.Path, err, c.want)
		}
	}
}

// An event of a known version that cannot be read names the field, and
// keeps its version so the answer takes the event's own shape.
func TestMalformedEventsNameTheField(t *testing.T) {
	for _, c := range []struct {
		event string
		v     Version
		says  string
	}{
		{`{"version":"2.0","rawPath":"/health"}`, V2, "requestContext.http.method"},
		{`{"version":"2.0","requestContext":{"http":{"method":"GET"}}}`, V2, "rawPath"},
		{`{"version":"2.0","rawPath":"/health","requestContext":{"http":{"method":7}}}`, V2, "requestContext.http.method must be a string"},
		{`{"version":"2.0","rawPath":"/health","headers":[],"requestContext":{"http":{"method":"GET"}}}`, V2, "headers must be an object"},
		{`{"httpMethod":"POST","path":"/health","body":42}`, V1, "body must be a string"},
		{`{"httpMethod":5,"path":"/health"}`, V1, "httpMethod must be a string"},
		{`{"httpMethod":"GET"}`, V1, "no path"},
	} {
		r, err := Parse([]byte(c.event))
		var ee *EventError
		if !errors.As(err, &ee) || r == nil || r.Version != c.v || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %+v, %v; want version %d and an error saying %q", c.event, r, err, c.v, c.says)
		}
	}
}

func TestResponseShapes(t *testing.T) {
	resp := JSON(429, map[string]string{"a": "<b>"})
	resp.Header = map[string]string{"Retry-After": "3"}
	v1 := resp.For(V1).(events.APIGatewayProxyResponse)
	v2 := resp.For(V2).(events.APIGatewayV2HTTPResponse)
	for _, h := range []map[string]string{v1.Headers, v2.Headers} {
		if h["Content-Type"] != "application/json" || h["Retry-After"] != "3" {
			t.Fatalf("headers %v", h)
		}
	}
	if v1.Body != `{"a":"<b>"}` || v2.StatusCode != 429 {
		t.Fatalf("%q %d", v1.Body, v2.StatusCode)
	}
	if !json.Valid([]byte(v2.Body)) {
		t.Fatal("body not JSON")
	}
}
