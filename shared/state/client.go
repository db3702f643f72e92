package state

import (
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// IdleConnections is how many connections to the table a process keeps
// open between requests: enough for the marks written at once (the
// pusher's 32), where the SDK keeps 10 and would open every further one,
// with its TLS handshake, for each write.
const IdleConnections = 64

// ClientOptions sizes the DynamoDB client's connection pool for the
// table's concurrent writes; pass it to dynamodb.NewFromConfig.
func ClientOptions(o *dynamodb.Options) {
	o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = max(t.MaxIdleConns, IdleConnections)
		t.MaxIdleConnsPerHost = IdleConnections
	})
}
