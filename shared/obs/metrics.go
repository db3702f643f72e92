package obs

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/galxe"
)

// Namespace is the CloudWatch namespace of the functions' metrics.
const Namespace = "GalxeLambda"

// Metrics writes one Embedded Metric Format line per request to Galxe:
// GalxeRequests, GalxeRetries, GalxeRateLimited, GalxeLatency (ms) and, on
// failure, GalxeErrors with the Category dimension. CloudWatch Logs turns
// the lines into metrics; nothing is sent from the function. Each metric is
// also given by FunctionName, so that two stacks in one account never feed
// each other's alarms.
type Metrics struct {
	mu       sync.Mutex
	w        io.Writer
	function string
	now      func() time.Time
}

// NewMetrics writes to w (stdout in Lambda); function is the function's
// name (AWS_LAMBDA_FUNCTION_NAME), or "" outside Lambda.
func NewMetrics(w io.Writer, function string) *Metrics {
	return &Metrics{w: w, function: function, now: time.Now}
}

// dimensions are the dimension sets of a metric: by keys alone and, when
// the function's name is known, by keys and FunctionName.
func (m *Metrics) dimensions(keys ...string) [][]string {
	sets := [][]string{append([]string{}, keys...)} // [] rather than null for no keys
	if m.function != "" {
		sets = append(sets, append(append([]string(nil), keys...), "FunctionName"))
	}
	return sets
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

// Attempt records one request to Galxe, as a metric line and in the
// invocation's Upstream tally if ctx has one; it fits galxe.Config.OnAttempt.
func (m *Metrics) Attempt(ctx context.Context, a galxe.Attempt) {
	UpstreamFrom(ctx).add(a)
	line := map[string]any{
		"Operation":     a.Operation,
		"GalxeRequests": 1,
		"GalxeLatency":  float64(a.Latency.Microseconds()) / 1000,
	}
	defs := []metricDef{{"GalxeRequests", "Count"}, {"GalxeLatency", "Milliseconds"}}
	if a.Number > 1 {
		line["GalxeRetries"] = 1
		defs = append(defs, metricDef{"GalxeRetries", "Count"})
	}
	if m.function != "" {
		line["FunctionName"] = m.function
	}
	directives := []directive{{Namespace: Namespace, Dimensions: m.dimensions(), Metrics: defs}}
	if a.Err != nil {
		line["Category"] = string(a.Err.Category)
		line["Code"] = a.Err.Code
		line["GalxeErrors"] = 1
		directives = append(directives, directive{Namespace: Namespace, Dimensions: m.dimensions("Category"),
			Metrics: []metricDef{{"GalxeErrors", "Count"}}})
		if a.Err.Category == galxe.CategoryRateLimit {
			line["GalxeRateLimited"] = 1
			directives[0].Metrics = append(directives[0].Metrics, metricDef{"GalxeRateLimited", "Count"})
		}
		if a.Err.RequestID != "" {
			line["GalxeRequestId"] = a.Err.RequestID
		}
	}
	m.write(line, directives)
}

// write adds the metadata to a line and writes it whole.
func (m *Metrics) write(line map[string]any, directives []directive) {
	line["_aws"] = map[string]any{"Timestamp": m.now().UnixMilli(), "CloudWatchMetrics": directives}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	m.mu.Lock()
	_, _ = m.w.Write(append(b, '\n'))
	m.mu.Unlock()
}

// Metric is one value (or several, for a distribution) of a named metric.
type Metric struct {
	Name   string
	Unit   string // "Count", "Milliseconds"
	Values []float64
}

// MaxValues is the most values one metric may hold in an Embedded Metric
// Format line; above it CloudWatch drops the whole line.
const MaxValues = 100

// Emit writes the metrics given as Embedded Metric Format lines, by
// FunctionName when it is known: one line, or, when a metric has more than
// MaxValues values, as many lines as its values need (each metric's
// statistics are then the same as from one array). Metrics without values
// are left out.
func (m *Metrics) Emit(metrics ...Metric) {
	for from := 0; ; from += MaxValues {
		line := map[string]any{}
		var defs []metricDef
		for _, mt := range metrics {
			if from >= len(mt.Values) {
				continue
			}
			values := mt.Values[from:min(from+MaxValues, len(mt.Values))]
			if len(values) == 1 {
				line[mt.Name] = values[0]
			} else {
				line[mt.Name] = values
			}
			defs = append(defs, metricDef{mt.Name, mt.Unit})
		}
		if len(defs) == 0 {
			return
		}
		if m.function != "" {
			line["FunctionName"] = m.function
		}
		m.write(line, []directive{{Namespace: Namespace, Dimensions: m.dimensions(), Metrics: defs}})
	}
}
