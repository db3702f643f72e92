// Package obs is the functions' observability: structured JSON logs that
// carry Lambda's request id, and CloudWatch Embedded Metric Format lines.
package obs

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// NewLogger logs to w in the format Lambda is set to (AWS_LAMBDA_LOG_FORMAT:
// JSON unless TEXT) at its level (AWS_LAMBDA_LOG_LEVEL, default INFO), with
// Lambda's key names and each record's requestId. It does what
// lambdacontext.NewLogHandler does, with a writer of the caller's (tests
// capture it) and JSON as the default, which the design asks for.
func NewLogger(w io.Writer, getenv func(string) string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level(getenv("AWS_LAMBDA_LOG_LEVEL")), ReplaceAttr: lambdacontext.ReplaceAttr}
	var h slog.Handler
	if strings.EqualFold(getenv("AWS_LAMBDA_LOG_FORMAT"), "TEXT") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

func level(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// requestIDHandler adds the invocation's request id to each record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
