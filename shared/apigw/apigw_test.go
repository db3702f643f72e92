package apigw

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestParseBothVersions(t *testing.T) {
	v2 := `{"version":"2.0","rawPath":"/live/health","headers":{"webhook-id":"a"},"body":"e30=","isBase64Encoded":true,
		"requestContext":{"stage":"live","requestId":"r2","http":{"method":"GET"}}}`
	r, err := Parse([]byte(v2))
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
	r, err = Parse([]byte(`{"httpMethod":"POST","path":"/x","body":"%%%","isBase64Encoded":true,"requestContext":{"requestId":"r"}}`))
	if !errors.Is(err, ErrBadBase64) || r == nil || r.RequestID != "r" {
		t.Fatalf("%v", err)
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
