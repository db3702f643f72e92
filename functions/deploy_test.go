// Package functions_test checks what breaks deployments: the SAM template,
// the Makefile targets sam build calls, and what the binaries link.
package functions_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/galxe-lambda/galxe-lambda/shared/config"
	"github.com/galxe-lambda/galxe-lambda/shared/pushqueue"
	"github.com/galxe-lambda/galxe-lambda/shared/secret"
)

type template struct {
	Parameters map[string]map[string]any `json:"Parameters"`
	Globals    struct {
		Function map[string]any `json:"Function"`
	} `json:"Globals"`
	Resources map[string]struct {
		Type       string         `json:"Type"`
		Metadata   map[string]any `json:"Metadata"`
		Properties map[string]any `json:"Properties"`
	} `json:"Resources"`
	Outputs map[string]any `json:"Outputs"`
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	raw, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Resolve !Ref against the parameters' defaults; a reference to a
	// resource becomes its logical id.
	ref := func(_ string, input, tpl any) any {
		name, _ := input.(string)
		root, _ := tpl.(map[string]any)
		params, _ := root["Parameters"].(map[string]any)
		if p, ok := params[name].(map[string]any); ok {
			if d, ok := p["Default"]; ok {
				return d
			}
		}
		return name
	}
	// !GetAtt Resource.Attr becomes "Resource.Attr".
	getAtt := func(_ string, input, _ any) any {
		switch v := input.(type) {
		case string:
			return v
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			return strings.Join(parts, ".")
		}
		return nil
	}
	// !Sub replaces ${Name} as !Ref does, ${Resource.Attr} as !GetAtt,
	// and the pseudo parameters with placeholders: a number parameter's
	// default is written as a number (goformation's own Sub leaves it, and
	// resources, unresolved).
	pseudo := map[string]string{"AWS::Region": "us-east-1", "AWS::StackName": "galxe-lambda", "AWS::AccountId": "123456789012",
		"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
	variable := regexp.MustCompile(`\$\{(!?)([^}]+)\}`)
	sub := func(_ string, input, tpl any) any {
		src, vars := "", map[string]any{}
		switch v := input.(type) {
		case string:
			src = v
		case []any:
			if len(v) != 2 {
				return nil
			}
			src, _ = v[0].(string)
			vars, _ = v[1].(map[string]any)
		}
		return variable.ReplaceAllStringFunc(src, func(m string) string {
			parts := variable.FindStringSubmatch(m)
			name := parts[2]
			var val any
			switch v, local := vars[name]; {
			case parts[1] == "!":
				return "${" + name + "}"
			case local:
				val = v
			case pseudo[name] != "":
				val = pseudo[name]
			case strings.Contains(name, "."):
				val = getAtt("Fn::GetAtt", name, tpl)
			default:
				val = ref("Ref", name, tpl)
			}
			if f, ok := val.(float64); ok {
				return strconv.FormatFloat(f, 'f', -1, 64)
			}
			return fmt.Sprint(val)
		})
	}
	js, err := intrinsics.ProcessYAML(raw, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref, "Fn::GetAtt": getAtt, "Fn::Sub": sub}})
	if err != nil {
		t.Fatalf("template.yaml does not parse: %v", err)
	}
	var tpl template
	if err := json.Unmarshal(js, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// prop reads a function property as SAM applies Globals.Function: the
// function's own value wins, and maps are merged key by key.
func prop(tpl template, fn, key string) any {
	own, ok := tpl.Resources[fn].Properties[key]
	global := tpl.Globals.Function[key]
	if !ok {
		return global
	}
	om, isMap := own.(map[string]any)
	gm, globalIsMap := global.(map[string]any)
	if !isMap || !globalIsMap {
		return own
	}
	merged := map[string]any{}
	for k, v := range gm {
		merged[k] = v
	}
	for k, v := range om {
		merged[k] = v
	}
	return merged
}

var functions = []string{"WebhookFunction", "ScheduledFunction", "PusherFunction"}

func TestTemplateFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	for _, fn := range functions {
		r, ok := tpl.Resources[fn]
		if !ok || r.Type != "AWS::Serverless::Function" {
			t.Fatalf("%s missing", fn)
		}
		if prop(tpl, fn, "Handler") != "bootstrap" {
			t.Errorf("%s: Handler must be bootstrap", fn)
		}
		if prop(tpl, fn, "Runtime") != "provided.al2023" {
			t.Errorf("%s: Runtime must be provided.al2023", fn)
		}
		if a, _ := prop(tpl, fn, "Architectures").([]any); len(a) != 1 || a[0] != "arm64" {
			t.Errorf("%s: Architectures must be [arm64], got %v", fn, a)
		}
		if r.Metadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: BuildMethod must be makefile", fn)
		}
		if lc, _ := prop(tpl, fn, "LoggingConfig").(map[string]any); lc["LogFormat"] != "JSON" {
			t.Errorf("%s: JSON logging expected, got %v", fn, lc)
		}
		if prop(tpl, fn, "Tracing") != "Active" {
			t.Errorf("%s: Tracing must be Active", fn)
		}
	}
	if to, _ := prop(tpl, "WebhookFunction", "Timeout").(float64); to <= 0 || to >= 30 {
		t.Errorf("WebhookFunction Timeout %v must be under API Gateway's 30 s", to)
	}
	// The README says a failed job (the canary above all) is not retried by
	// Lambda: its record goes to the dead-letter queue at once.
	eic, _ := prop(tpl, "ScheduledFunction", "EventInvokeConfig").(map[string]any)
	if n, ok := eic["MaximumRetryAttempts"].(float64); !ok || n != 0 {
		t.Errorf("ScheduledFunction: Lambda must not retry a failed job, got %v", eic)
	}
}

// environment merges a function's variables over the Globals'.
func environment(tpl template, fn string) map[string]string {
	vars := map[string]string{}
	for _, src := range []any{tpl.Globals.Function["Environment"], tpl.Resources[fn].Properties["Environment"]} {
		env, _ := src.(map[string]any)
		vv, _ := env["Variables"].(map[string]any)
		for k, v := range vv {
			vars[k] = fmt.Sprint(v)
		}
	}
	return vars
}

// Every variable naming a parameter holds SSM's fully qualified name (SSM
// refuses "a/b" in every call), and the role may read exactly that
// parameter: SSMParameterReadPolicy makes "parameter/${ParameterName}", so
// its name has no leading slash (else the ARN reads "parameter//a/b").
func TestTemplateParameterNamesAndPolicies(t *testing.T) {
	tpl := loadTemplate(t)
	for _, fn := range functions {
		var allowed []string
		for _, st := range statements(tpl, fn) {
			if strings.HasPrefix(st.action, "ssm:") && st.action != "ssm:GetParameter" {
				t.Errorf("%s: grants %s on %s (it only reads its parameters)", fn, st.action, st.resource)
			}
			if i := strings.Index(st.resource, ":parameter/"); st.action == "ssm:GetParameter" && i >= 0 {
				allowed = append(allowed, st.resource[i+1:])
			} else if st.action == "ssm:GetParameter" {
				t.Errorf("%s: ssm:GetParameter on %q, not on a parameter", fn, st.resource)
			}
		}
		for _, p := range prop(tpl, fn, "Policies").([]any) {
			if _, ok := p.(map[string]any)["SSMParameterReadPolicy"]; ok {
				t.Errorf("%s: SSMParameterReadPolicy also grants ssm:DescribeParameters on every parameter", fn)
			}
		}
		named := 0
		for k, v := range environment(tpl, fn) {
			if !strings.HasSuffix(k, "_PARAMETER") {
				continue
			}
			named++
			if err := secret.CheckParameterName(v); err != nil || !strings.HasPrefix(v, "/") {
				t.Errorf("%s: %s=%q is not a fully qualified SSM name (%v)", fn, k, v, err)
			}
			arn := "parameter/" + strings.TrimPrefix(v, "/")
			if !slices.Contains(allowed, arn) {
				t.Errorf("%s: %s=%q is read as %s, but the policies allow only %v", fn, k, v, arn, allowed)
			}
		}
		if named == 0 {
			t.Errorf("%s: no variable names an SSM parameter", fn)
		}
		for _, a := range allowed {
			if strings.HasPrefix(a, "parameter//") {
				t.Errorf("%s: the policy names %s (a leading slash in the parameter's template value)", fn, a)
			}
		}
	}
}

// statement is one action on one resource that a function's inline policy
// statements allow.
type statement struct{ action, resource string }

func statements(tpl template, fn string) []statement {
	var out []statement
	policies, _ := prop(tpl, fn, "Policies").([]any)
	for _, p := range policies {
		list, _ := p.(map[string]any)["Statement"].([]any)
		for _, st := range list {
			sm, _ := st.(map[string]any)
			if sm["Effect"] != "Allow" {
				continue
			}
			actions, resources := sm["Action"], sm["Resource"]
			for _, a := range asList(actions) {
				for _, r := range asList(resources) {
					out = append(out, statement{a, r})
				}
			}
		}
	}
	return out
}

func asList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	}
	return nil
}

// The defaults a user expects from sam deploy (DESIGN.md §9).
func TestTemplateProductionDefaults(t *testing.T) {
	tpl := loadTemplate(t)
	raw, _ := os.ReadFile("../template.yaml")
	for _, fn := range functions {
		// The function writes to a group the stack creates first: a group
		// named after the function would be created after it, and an
		// invocation in between (a schedule, the event source) makes Lambda
		// create it and the deploy fail with "already exists".
		lc, _ := prop(tpl, fn, "LoggingConfig").(map[string]any)
		group, _ := lc["LogGroup"].(string)
		if r, ok := tpl.Resources[group]; !ok || r.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup %q is not a log group of the stack", fn, group)
			continue
		}
		if regexp.MustCompile(`LogGroupName: !Sub "[^"]*\$\{` + fn + `\}`).Match(raw) {
			t.Errorf("%s: its log group's name refers to the function (created after it)", fn)
		}
	}
	groups := 0
	for _, r := range tpl.Resources {
		if r.Type == "AWS::Logs::LogGroup" {
			groups++
			if d, _ := r.Properties["RetentionInDays"].(float64); d <= 0 {
				t.Errorf("a log group without retention: %v", r.Properties)
			}
		}
	}
	if groups < len(functions) {
		t.Errorf("%d log groups for %d functions", groups, len(functions))
	}
	eic, _ := prop(tpl, "ScheduledFunction", "EventInvokeConfig").(map[string]any)
	onFailure, _ := eic["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)
	if onFailure["Type"] != "SQS" || onFailure["Destination"] == nil {
		t.Errorf("ScheduledFunction: a failed job needs an SQS OnFailure destination, got %v", eic)
	}
	evs, _ := tpl.Resources["ScheduledFunction"].Properties["Events"].(map[string]any)
	for name, e := range evs {
		ev := e.(map[string]any)
		if ev["Type"] != "ScheduleV2" {
			continue
		}
		p, _ := ev["Properties"].(map[string]any)
		if p["DeadLetterConfig"] == nil {
			t.Errorf("schedule %s: no DeadLetterConfig", name)
		}
	}
}

func TestTemplateRoutesAndSchedule(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string]bool{"POST /credentials/{credId}/items": false, "POST /operations/{name}": false, "GET /health": false}
	for name, r := range tpl.Resources {
		evs, _ := r.Properties["Events"].(map[string]any)
		for _, e := range evs {
			ev := e.(map[string]any)
			p, _ := ev["Properties"].(map[string]any)
			switch ev["Type"] {
			case "HttpApi":
				route := strings.ToUpper(p["Method"].(string)) + " " + p["Path"].(string)
				if _, ok := want[route]; !ok {
					t.Errorf("unexpected route %s", route)
				}
				if name != "WebhookFunction" {
					t.Errorf("route %s wired to %s", route, name)
				}
				want[route] = true
			case "ScheduleV2":
				if name != "ScheduledFunction" {
					t.Errorf("schedule wired to %s", name)
				}
				in, _ := p["Input"].(string)
				var job map[string]any
				if err := json.Unmarshal([]byte(in), &job); err != nil || job["job"] != "canary" {
					t.Errorf("the canary schedule needs an explicit Input with job canary, got %q", in)
				}
				if p["ScheduleExpression"] != "rate(15 minutes)" {
					t.Errorf("canary schedule %v", p["ScheduleExpression"])
				}
			}
		}
	}
	for route, seen := range want {
		if !seen {
			t.Errorf("route %s not wired", route)
		}
	}
	if _, ok := tpl.Outputs["ApiUrl"]; !ok {
		t.Error("no ApiUrl output")
	}
}

// alarmMetric is one metric an alarm watches, from either form of alarm
// (a single metric, or metric math over several).
type alarmMetric struct {
	Namespace, Name string
	Dimensions      map[string]string
	Period          float64
}

func alarmMetrics(p map[string]any) []alarmMetric {
	dims := func(v any) map[string]string {
		out := map[string]string{}
		list, _ := v.([]any)
		for _, d := range list {
			dm, _ := d.(map[string]any)
			out[fmt.Sprint(dm["Name"])] = fmt.Sprint(dm["Value"])
		}
		return out
	}
	if p["MetricName"] != nil {
		period, _ := p["Period"].(float64)
		return []alarmMetric{{fmt.Sprint(p["Namespace"]), fmt.Sprint(p["MetricName"]), dims(p["Dimensions"]), period}}
	}
	var out []alarmMetric
	list, _ := p["Metrics"].([]any)
	for _, m := range list {
		stat, _ := m.(map[string]any)["MetricStat"].(map[string]any)
		if stat == nil {
			continue
		}
		metric, _ := stat["Metric"].(map[string]any)
		period, _ := stat["Period"].(float64)
		out = append(out, alarmMetric{fmt.Sprint(metric["Namespace"]), fmt.Sprint(metric["MetricName"]), dims(metric["Dimensions"]), period})
	}
	return out
}

func TestTemplateAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	found := map[string]bool{}
	for _, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		for _, m := range alarmMetrics(r.Properties) {
			if m.Namespace == "GalxeLambda" && m.Dimensions["FunctionName"] == "" {
				t.Errorf("alarm on %s without FunctionName: another stack's metrics would count", m.Name)
			}
			switch {
			case m.Namespace == "GalxeLambda" && m.Name == "CanaryHealthy" && m.Dimensions["FunctionName"] == "ScheduledFunction":
				// Scoped to the canary, and a canary that stopped reporting alarms.
				if r.Properties["TreatMissingData"] != "breaching" || r.Properties["ComparisonOperator"] != "LessThanThreshold" || m.Period > 1800 {
					t.Errorf("canary alarm: %v", r.Properties)
				}
				found["canary"] = true
			case m.Namespace == "GalxeLambda" && m.Name == "GalxeErrors" && m.Dimensions["Category"] == "AUTHENTICATION" && m.Period <= 900:
				found["authentication/"+m.Dimensions["FunctionName"]] = true
			case m.Namespace == "GalxeLambda" && m.Name == "GalxeRateLimited":
				found["429/"+m.Dimensions["FunctionName"]] = true
			case m.Namespace == "AWS/ApiGateway" && m.Name == "5xx" && m.Dimensions["ApiId"] == "HttpApi":
				found["webhook 5xx"] = true
			case m.Namespace == "AWS/SQS" && m.Name == "ApproximateNumberOfMessagesVisible":
				found["dead letters"] = true
			}
		}
	}
	want := []string{"canary", "webhook 5xx", "dead letters"}
	for _, fn := range functions {
		want = append(want, "authentication/"+fn, "429/"+fn)
	}
	for _, w := range want {
		if !found[w] {
			t.Errorf("no alarm on %s (found %v)", w, found)
		}
	}
}

func TestMakefileHasSAMBuildTargets(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range functions {
		re := regexp.MustCompile(`(?m)^build-` + fn + `:[^\n]*\n\t.*CGO_ENABLED=0.*GOARCH=arm64.*|(?m)^build-` + fn + `:[^\n]*\n\t\$\(LAMBDA_ENV\).*\$\(LAMBDA_FLAGS\).*\$\(ARTIFACTS_DIR\)/bootstrap`)
		if !re.Match(mk) {
			t.Errorf("Makefile lacks a build-%s target writing $(ARTIFACTS_DIR)/bootstrap", fn)
		}
	}
	for _, flag := range []string{"CGO_ENABLED=0", "GOARCH=arm64", "-tags lambda.norpc", "-trimpath", `-ldflags="-s -w"`} {
		if !strings.Contains(string(mk), flag) {
			t.Errorf("Makefile lacks %s", flag)
		}
	}
}

// Without ARTIFACTS_DIR a build target would write /bootstrap at the root of
// the file system: it refuses, saying what to set. GO is replaced by echo, so
// a broken guard prints a command instead of running it.
func TestBuildTargetsRefuseWithoutArtifactsDir(t *testing.T) {
	for _, fn := range functions {
		out, err := exec.Command("make", "-s", "-C", "..", "build-"+fn, "ARTIFACTS_DIR=", "GO=echo go").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "ARTIFACTS_DIR is not set") || strings.Contains(string(out), "/bootstrap") {
			t.Errorf("make build-%s without ARTIFACTS_DIR: err %v, output %s", fn, err, out)
		}
	}
}

// The binaries link only what they use: no stand-ins, no test or tool modules.
func TestBinariesLinkNoTestOnlyPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./webhook", "./scheduled", "./pusher").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, forbidden := range []string{"galxetest", "ssmtest", "sqstest", "awstest", "graph-gophers", "goformation", "testing"} {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, forbidden) {
				t.Errorf("a function links %s", line)
			}
		}
	}
}

// The scheduled function never queues: it does not link the SQS client.
func TestScheduledLinksNoSQS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./scheduled").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "service/sqs") {
		t.Error("the scheduled function links service/sqs")
	}
}

// The queued path (DESIGN.md §10): the queue, its dead letters, the pusher
// and its event source, as AWS documents them.
func TestTemplateQueuedPushes(t *testing.T) {
	tpl := loadTemplate(t)
	queue, dlq := tpl.Resources["PushQueue"], tpl.Resources["PushDeadLetterQueue"]
	if queue.Type != "AWS::SQS::Queue" || dlq.Type != "AWS::SQS::Queue" {
		t.Fatalf("queues: %q %q", queue.Type, dlq.Type)
	}
	timeout, _ := prop(tpl, "PusherFunction", "Timeout").(float64)
	// AWS advises a visibility timeout of at least six times the function's timeout.
	if vt, _ := queue.Properties["VisibilityTimeout"].(float64); timeout <= 0 || vt < 6*timeout {
		t.Errorf("PushQueue VisibilityTimeout %v, pusher Timeout %v", vt, timeout)
	}
	// A spent quota hides a message for at least an hour per receive
	// (pusher.MinQuotaHold): the redrive count must outlast the retention, so
	// a month's spent quota never parks a push. SQS allows 1 to 1000.
	redrive, _ := queue.Properties["RedrivePolicy"].(map[string]any)
	retention, _ := queue.Properties["MessageRetentionPeriod"].(float64)
	receives, _ := redrive["maxReceiveCount"].(float64)
	if redrive["deadLetterTargetArn"] != "PushDeadLetterQueue.Arn" || receives > 1000 || receives*3600 <= retention {
		t.Errorf("redrive policy %v with retention %v s", redrive, retention)
	}
	if r, _ := dlq.Properties["MessageRetentionPeriod"].(float64); r != 14*24*3600 || retention > r {
		t.Errorf("dead-letter retention %v, want 14 days and no less than the queue's %v", r, retention)
	}
	// The functions cut messages to 256 KiB; the queues say so too.
	for name, q := range map[string]map[string]any{"PushQueue": queue.Properties, "PushDeadLetterQueue": dlq.Properties} {
		if q["MaximumMessageSize"] != float64(pushqueue.MaxMessageBytes) {
			t.Errorf("%s MaximumMessageSize %v, want %d", name, q["MaximumMessageSize"], pushqueue.MaxMessageBytes)
		}
	}
	evs, _ := tpl.Resources["PusherFunction"].Properties["Events"].(map[string]any)
	var sqsEvent map[string]any
	for _, e := range evs {
		if ev := e.(map[string]any); ev["Type"] == "SQS" {
			sqsEvent, _ = ev["Properties"].(map[string]any)
		}
	}
	if sqsEvent == nil {
		t.Fatal("the pusher has no SQS event")
	}
	raw, _ := os.ReadFile("../template.yaml")
	types, _ := sqsEvent["FunctionResponseTypes"].([]any)
	scaling, _ := sqsEvent["ScalingConfig"].(map[string]any)
	if sqsEvent["Queue"] != "PushQueue.Arn" || sqsEvent["BatchSize"] != 10000.0 || len(types) != 1 || types[0] != "ReportBatchItemFailures" ||
		scaling["MaximumConcurrency"] != 2.0 || !strings.Contains(string(raw), "MaximumConcurrency: !Ref PusherMaxConcurrency") {
		t.Errorf("SQS event %v", sqsEvent)
	}
	// AWS: a batch size over 10 needs a batching window of at least 1 s.
	if !strings.Contains(string(raw), "MaximumBatchingWindowInSeconds: !Ref PushBatchingWindowSeconds") {
		t.Error("the batching window is not the PushBatchingWindowSeconds parameter")
	}
	if w, _ := sqsEvent["MaximumBatchingWindowInSeconds"].(float64); w < 1 || w > 300 {
		t.Errorf("batching window %v s: AWS requires 1 to 300 with a batch size over 10", w)
	}
	// Two pushers at 5 a second never pass Galxe's 10.
	qps, _ := strconv.ParseFloat(environment(tpl, "PusherFunction")["GALXE_MAX_QPS"], 64)
	if !strings.Contains(string(raw), "GALXE_MAX_QPS: !Ref PusherMaxQps") {
		t.Error("the pusher's rate is not the PusherMaxQps parameter")
	}
	if qps*scaling["MaximumConcurrency"].(float64) > 10 {
		t.Errorf("pushers may send %v requests a second", qps*scaling["MaximumConcurrency"].(float64))
	}
	if environment(tpl, "WebhookFunction")["PUSH_QUEUE_URL"] != "PushQueue" ||
		environment(tpl, "PusherFunction")["PUSH_DEAD_LETTER_QUEUE_URL"] != "PushDeadLetterQueue" {
		t.Error("the queue URLs are not given to the functions")
	}
	sendsTo := func(fn string) []string {
		var out []string
		policies, _ := prop(tpl, fn, "Policies").([]any)
		for _, p := range policies {
			if pol, ok := p.(map[string]any)["SQSSendMessagePolicy"].(map[string]any); ok {
				out = append(out, fmt.Sprint(pol["QueueName"]))
			}
		}
		return out
	}
	if !slices.Equal(sendsTo("WebhookFunction"), []string{"PushQueue.QueueName"}) || !slices.Equal(sendsTo("PusherFunction"), []string{"PushDeadLetterQueue.QueueName"}) {
		t.Errorf("send policies: webhook %v, pusher %v", sendsTo("WebhookFunction"), sendsTo("PusherFunction"))
	}
	alarms := map[string]bool{}
	for _, r := range tpl.Resources {
		if r.Type == "AWS::CloudWatch::Alarm" {
			for _, m := range alarmMetrics(r.Properties) {
				alarms[m.Name+"/"+m.Dimensions["QueueName"]] = true
			}
		}
	}
	if !alarms["ApproximateNumberOfMessagesVisible/PushDeadLetterQueue.QueueName"] || !alarms["ApproximateAgeOfOldestMessage/PushQueue.QueueName"] {
		t.Errorf("queue alarms: %v", alarms)
	}
}

// What sam build runs: each build-<LogicalId> target writes a static
// linux/arm64 bootstrap into ARTIFACTS_DIR.
func TestSAMBuildTargetsMakeArm64Bootstraps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both functions for arm64")
	}
	for _, fn := range functions {
		dir := t.TempDir()
		cmd := exec.Command("make", "-s", "-C", "..", "build-"+fn, "ARTIFACTS_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make build-%s: %v\n%s", fn, err, out)
		}
		f, err := elf.Open(dir + "/bootstrap")
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("%s: machine %v, want arm64", fn, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: dynamically linked", fn)
			}
		}
		if f.Section(".symtab") != nil {
			t.Errorf("%s: symbols not stripped (-s -w)", fn)
		}
		f.Close()
	}
}

// The README's put-parameter commands create names SSM accepts, and the
// very names the template's defaults make the functions read.
func TestREADMEParameterCommandsMatchTheTemplate(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tpl := loadTemplate(t)
	read := map[string]bool{}
	for _, fn := range functions {
		for k, v := range environment(tpl, fn) {
			if strings.HasSuffix(k, "_PARAMETER") {
				read[v] = false
			}
		}
	}
	re := regexp.MustCompile(`put-parameter\s+--name\s+(\S+)`)
	found := re.FindAllStringSubmatch(string(raw), -1)
	if len(found) == 0 {
		t.Fatal("the README shows no put-parameter command")
	}
	for _, m := range found {
		name := strings.Trim(m[1], `"'`)
		if err := secret.CheckParameterName(name); err != nil {
			t.Errorf("README: put-parameter --name %s: SSM refuses it: %v", name, err)
		}
		if _, ok := read[name]; !ok {
			t.Errorf("README creates %s, which no function reads (they read %v)", name, read)
		}
		read[name] = true
	}
	for name, created := range read {
		if !created {
			t.Errorf("the README does not create %s", name)
		}
	}
}

// sam local invoke --env-vars applies a variable only where the template
// declares it on that function (SAM ignores the rest without a word): every
// variable of the sample env file is declared on the function it names.
func TestEnvFileVariablesAreDeclared(t *testing.T) {
	raw, err := os.ReadFile("../events/env.example.json")
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]map[string]string
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("events/env.example.json: %v", err)
	}
	tpl := loadTemplate(t)
	for fn, vars := range file {
		if _, ok := tpl.Resources[fn]; !ok {
			t.Errorf("env.example.json names %s, which the template does not have", fn)
			continue
		}
		declared := environment(tpl, fn)
		for k := range vars {
			if _, ok := declared[k]; !ok {
				t.Errorf("%s: %s is not declared in the template, so SAM ignores it", fn, k)
			}
		}
		if _, ok := vars["GALXE_ACCESS_TOKEN"]; !ok {
			t.Errorf("%s: the sample env file gives no GALXE_ACCESS_TOKEN", fn)
		}
	}
	for _, fn := range functions {
		if _, ok := file[fn]; !ok {
			t.Errorf("env.example.json has no entry for %s", fn)
		}
		// Harmless when deployed: the local-only variables are empty.
		for _, k := range []string{"GALXE_ACCESS_TOKEN", "WEBHOOK_SECRET"} {
			if v, ok := environment(tpl, fn)[k]; ok && v != "" {
				t.Errorf("%s: %s=%q is deployed with a value", fn, k, v)
			}
		}
	}
	// The real file holds a token: it is never tracked.
	ignore, _ := os.ReadFile("../.gitignore")
	if !regexp.MustCompile(`(?m)^/?events/env\.json$`).Match(ignore) {
		t.Error(".gitignore does not ignore events/env.json")
	}
}

// The shared-state table (DESIGN.md §11): on demand, key pk, TTL on
// expires, named to every function, which may use its items and nothing else.
func TestTemplateStateTable(t *testing.T) {
	tpl := loadTemplate(t)
	table, ok := tpl.Resources["StateTable"]
	if !ok || table.Type != "AWS::DynamoDB::Table" {
		t.Fatalf("StateTable: %+v", table)
	}
	p := table.Properties
	keys, _ := p["KeySchema"].([]any)
	attrs, _ := p["AttributeDefinitions"].([]any)
	ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
	if p["BillingMode"] != "PAY_PER_REQUEST" || len(keys) != 1 || len(attrs) != 1 ||
		fmt.Sprint(keys[0]) != "map[AttributeName:pk KeyType:HASH]" || fmt.Sprint(attrs[0]) != "map[AttributeName:pk AttributeType:S]" ||
		ttl["AttributeName"] != "expires" || ttl["Enabled"] != true {
		t.Errorf("StateTable properties: %v", p)
	}
	// Exactly what each function does with the table's items (DESIGN.md
	// §11): claims, marks and the budget (Get, Put), the quota and cache
	// generations (Update), releasing a claim (Delete: the webhook alone),
	// a cached answer and its generation in one read (BatchGet: the webhook's
	// read cache). Never a Scan, a Query, the table itself, or a wildcard.
	want := map[string][]string{
		"WebhookFunction":   {"dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
		"ScheduledFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
		"PusherFunction":    {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	}
	for _, fn := range functions {
		if environment(tpl, fn)["STATE_TABLE"] != "StateTable" {
			t.Errorf("%s: STATE_TABLE is %q", fn, environment(tpl, fn)["STATE_TABLE"])
		}
		var got []string
		for _, st := range statements(tpl, fn) {
			if strings.Contains(st.action, "*") || strings.Contains(st.resource, "*") {
				t.Errorf("%s: a wildcard: %s on %s", fn, st.action, st.resource)
			}
			if !strings.HasPrefix(st.action, "dynamodb:") {
				continue
			}
			if st.resource != "StateTable.Arn" {
				t.Errorf("%s: %s on %s (items of the state table only)", fn, st.action, st.resource)
			}
			got = append(got, st.action)
		}
		slices.Sort(got)
		if !slices.Equal(got, want[fn]) {
			t.Errorf("%s may %v on the state table, want exactly %v", fn, got, want[fn])
		}
	}
}

// The account's budget and quota (DESIGN.md §11) are the stack's
// parameters, given to every function alike through Globals, and the
// defaults are values the functions accept.
func TestTemplateBudgetAndQuotaParameters(t *testing.T) {
	tpl := loadTemplate(t)
	raw, _ := os.ReadFile("../template.yaml")
	params := map[string]struct {
		variable string
		def      float64
	}{
		"GalxeAccountQps":    {"GALXE_ACCOUNT_QPS", 10},
		"GalxeForegroundQps": {"GALXE_FOREGROUND_QPS", 2},
		"GalxeMonthlyQuota":  {"GALXE_MONTHLY_QUOTA", 100000},
	}
	for name, p := range params {
		if d, _ := tpl.Parameters[name]["Default"].(float64); tpl.Parameters[name]["Type"] != "Number" || d != p.def {
			t.Errorf("parameter %s: %v, want a Number defaulting to %v", name, tpl.Parameters[name], p.def)
		}
		// In Globals, from the parameter, and no function sets its own.
		if !regexp.MustCompile(`(?m)^        ` + p.variable + `: !Ref ` + name + `$`).Match(raw) {
			t.Errorf("Globals do not give %s from %s", p.variable, name)
		}
	}
	for _, fn := range functions {
		own, _ := tpl.Resources[fn].Properties["Environment"].(map[string]any)
		ownVars, _ := own["Variables"].(map[string]any)
		env := environment(tpl, fn)
		for name, p := range params {
			if _, ok := ownVars[p.variable]; ok {
				t.Errorf("%s sets its own %s: the account's budget is one for every function", fn, p.variable)
			}
			if got, _ := strconv.ParseFloat(env[p.variable], 64); got != p.def {
				t.Errorf("%s: %s=%q, want %s's default %v", fn, p.variable, env[p.variable], name, p.def)
			}
		}
		if _, ok := env["GALXE_QUOTA_RESERVE"]; !ok {
			t.Errorf("%s: GALXE_QUOTA_RESERVE is not declared (sam local would ignore it)", fn)
		}
		// What the functions read from the template's defaults.
		getenv := func(k string) string { return env[k] }
		c := config.FromEnv(getenv)
		for _, problem := range c.Problems {
			for _, v := range []string{"GALXE_ACCOUNT_QPS", "GALXE_FOREGROUND_QPS", "GALXE_MONTHLY_QUOTA", "GALXE_QUOTA_RESERVE", "READ_CACHE_SECONDS"} {
				if strings.Contains(problem, v) {
					t.Errorf("%s: the template's defaults are refused: %s", fn, problem)
				}
			}
		}
		if c.AccountQPS != 10 || c.ForegroundQPS != 2 || c.MonthlyQuota != 100000 || c.QuotaReserve != 1000 || c.ReadCacheSet {
			t.Errorf("%s reads %+v from the template's defaults", fn, c)
		}
	}
	// The read cache is the webhook's (POST /operations/{name}).
	if v, ok := environment(tpl, "WebhookFunction")["READ_CACHE_SECONDS"]; !ok || v != "" {
		t.Errorf("WebhookFunction: READ_CACHE_SECONDS declared %v, value %q; want declared and empty by default", ok, v)
	}
	if !strings.Contains(string(raw), "READ_CACHE_SECONDS: !Ref ReadCacheSeconds") || !strings.Contains(string(raw), "GALXE_QUOTA_RESERVE: !Ref GalxeQuotaReserve") {
		t.Error("READ_CACHE_SECONDS and GALXE_QUOTA_RESERVE do not come from the ReadCacheSeconds and GalxeQuotaReserve parameters")
	}
}

// QuotaAlarm fires at 80% of GalxeMonthlyQuota, read from every function's
// GalxeQuotaUsed (their largest report is the month's count).
func TestTemplateQuotaAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	quota, _ := tpl.Parameters["GalxeMonthlyQuota"]["Default"].(float64)
	var alarm map[string]any
	for _, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		for _, m := range alarmMetrics(r.Properties) {
			if m.Name == "GalxeQuotaUsed" {
				alarm = r.Properties
			}
		}
	}
	if alarm == nil {
		t.Fatal("no alarm on GalxeQuotaUsed")
	}
	ids := map[string]string{} // metric id -> function
	var expression string
	for _, q := range alarm["Metrics"].([]any) {
		qm := q.(map[string]any)
		if e, ok := qm["Expression"].(string); ok {
			if qm["ReturnData"] == false {
				t.Errorf("the expression %q is not what the alarm watches", e)
			}
			expression = e
			continue
		}
		stat := qm["MetricStat"].(map[string]any)
		metric := stat["Metric"].(map[string]any)
		if metric["Namespace"] != "GalxeLambda" || metric["MetricName"] != "GalxeQuotaUsed" || stat["Stat"] != "Maximum" || qm["ReturnData"] != false {
			t.Errorf("quota alarm metric %v", qm)
		}
		for _, d := range metric["Dimensions"].([]any) {
			if dm := d.(map[string]any); dm["Name"] == "FunctionName" {
				ids[fmt.Sprint(qm["Id"])] = fmt.Sprint(dm["Value"])
			}
		}
	}
	var fns []string
	for _, fn := range ids {
		fns = append(fns, fn)
	}
	slices.Sort(fns)
	if want := slices.Sorted(slices.Values(functions)); !slices.Equal(fns, want) {
		t.Errorf("the quota alarm reads %v, want every function %v", fns, want)
	}
	// 100 * used / quota >= 80  <=>  used >= 0.8 * quota.
	m := regexp.MustCompile(`^100 \* MAX\(\[(.*)\]\) / ([0-9.]+)$`).FindStringSubmatch(expression)
	if m == nil {
		t.Fatalf("quota alarm expression %q: want 100 * MAX([...]) / GalxeMonthlyQuota", expression)
	}
	if d, _ := strconv.ParseFloat(m[2], 64); d != quota {
		t.Errorf("the expression divides by %s, not GalxeMonthlyQuota (%v)", m[2], quota)
	}
	for id := range ids {
		if !strings.Contains(m[1], "FILL("+id+", 0)") {
			t.Errorf("the expression %q leaves out %s (or a quiet function would hide the others)", expression, id)
		}
	}
	if alarm["Threshold"] != 80.0 || alarm["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
		t.Errorf("quota alarm fires at %v %v%%, want 80%% of the quota", alarm["ComparisonOperator"], alarm["Threshold"])
	}
	raw, _ := os.ReadFile("../template.yaml")
	if !regexp.MustCompile(`(?m)^ +Expression: !Sub "100 \* MAX\(\[[^"]*\]\) / \$\{GalxeMonthlyQuota\}"$`).Match(raw) {
		t.Error("the quota alarm's expression does not follow the GalxeMonthlyQuota parameter")
	}
	// Like every alarm, it notifies AlarmTopicArn when one is given.
	alarms := 0
	for _, r := range tpl.Resources {
		if r.Type == "AWS::CloudWatch::Alarm" {
			alarms++
		}
	}
	if n := strings.Count(string(raw), "AlarmActions: !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]"); n != alarms {
		t.Errorf("%d alarms, %d of them notify AlarmTopicArn", alarms, n)
	}
}

// The stack's dashboard: its body is JSON once !Sub has run, and it shows
// every metric the operators look at, scoped to this stack's resources.
func TestTemplateDashboard(t *testing.T) {
	tpl := loadTemplate(t)
	var dash map[string]any
	name := ""
	for id, r := range tpl.Resources {
		if r.Type == "AWS::CloudWatch::Dashboard" {
			dash, name = r.Properties, id
		}
	}
	if dash == nil {
		t.Fatal("no AWS::CloudWatch::Dashboard")
	}
	if n := fmt.Sprint(dash["DashboardName"]); !strings.Contains(n, "galxe-lambda") {
		t.Errorf("DashboardName %q is not named after the stack", n)
	}
	body, _ := dash["DashboardBody"].(string)
	if strings.Contains(body, "${") {
		t.Errorf("the body keeps an unresolved variable: %s", regexp.MustCompile(`\$\{[^}]*\}`).FindString(body))
	}
	var parsed struct {
		Widgets []struct {
			Type                string
			X, Y, Width, Height int
			Properties          map[string]any
		}
	}
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		t.Fatalf("DashboardBody is not JSON after !Sub: %v", err)
	}
	quota, _ := tpl.Parameters["GalxeMonthlyQuota"]["Default"].(float64)
	seen := map[string]bool{} // "Namespace/Metric/DimValue" and "Namespace/Metric"
	expressions := ""
	var quotaWidget map[string]any
	for _, w := range parsed.Widgets {
		if w.X < 0 || w.Width <= 0 || w.X+w.Width > 24 {
			t.Errorf("widget %v outside the dashboard's 24 columns", w.Properties["title"])
		}
		metrics, _ := w.Properties["metrics"].([]any)
		if w.Type == "metric" && (len(metrics) == 0 || w.Properties["region"] != "us-east-1") {
			t.Errorf("widget %v: metrics %v in region %v", w.Properties["title"], metrics, w.Properties["region"])
		}
		ids := map[string]bool{}
		for _, row := range metrics {
			r := row.([]any)
			if opts, ok := r[len(r)-1].(map[string]any); ok {
				if id, ok := opts["id"].(string); ok {
					ids[id] = true
				}
				if e, ok := opts["expression"].(string); ok {
					expressions += e + "\n"
					for _, id := range regexp.MustCompile(`\b[a-z][A-Za-z0-9_]*\b`).FindAllString(e, -1) {
						if !ids[id] {
							t.Errorf("expression %q names %s, not a metric of its widget", e, id)
						}
					}
					continue
				}
			}
			ns, _ := r[0].(string)
			metric, _ := r[1].(string)
			dims := map[string]string{}
			for i := 2; i+1 < len(r); i += 2 {
				k, _ := r[i].(string)
				v, _ := r[i+1].(string)
				dims[k] = v
			}
			if ns == "GalxeLambda" && !slices.Contains(functions, dims["FunctionName"]) {
				t.Errorf("%s without one of the stack's functions as FunctionName: %v", metric, dims)
			}
			seen[ns+"/"+metric] = true
			for _, v := range dims {
				seen[ns+"/"+metric+"/"+v] = true
			}
			if metric == "GalxeQuotaUsed" {
				quotaWidget = w.Properties
			}
		}
	}
	want := []string{"AWS/SQS/ApproximateNumberOfMessagesVisible/PushQueue.QueueName",
		"AWS/SQS/ApproximateAgeOfOldestMessage/PushQueue.QueueName",
		"AWS/SQS/ApproximateNumberOfMessagesVisible/PushDeadLetterQueue.QueueName",
		"AWS/SQS/ApproximateNumberOfMessagesVisible/ScheduledDeadLetterQueue.QueueName",
		"AWS/ApiGateway/4xx/HttpApi", "AWS/ApiGateway/5xx/HttpApi",
		"GalxeLambda/ReadCacheHits", "GalxeLambda/ReadCacheMisses"}
	for _, m := range []string{"GalxeRequests", "GalxeRateLimited", "GalxeLatency", "GalxeQuotaUsed", "BudgetWaitMs"} {
		for _, fn := range functions {
			want = append(want, "GalxeLambda/"+m+"/"+fn)
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("the dashboard does not show %s", w)
		}
	}
	if !strings.Contains(expressions, "hits / (hits + misses)") {
		t.Errorf("no read cache hit rate ReadCacheHits / (ReadCacheHits + ReadCacheMisses) among %q", expressions)
	}
	// Quota used against the month's limit: a line at GalxeMonthlyQuota and
	// one at 80% of it, the alarm's threshold.
	if quotaWidget == nil {
		t.Fatal("no quota widget")
	}
	ann, _ := quotaWidget["annotations"].(map[string]any)
	axes, _ := quotaWidget["yAxis"].(map[string]any)
	axisMax := func(side string) float64 {
		a, _ := axes[side].(map[string]any)
		v, _ := a["max"].(float64)
		return v
	}
	atLimit, at80 := false, false
	for _, h := range ann["horizontal"].([]any) {
		hm := h.(map[string]any)
		v, _ := hm["value"].(float64)
		side, _ := hm["yAxis"].(string)
		if side == "" {
			side = "left"
		}
		// On the right axis a value is a percentage of the left's range.
		if side == "right" && axisMax("right") > 0 && axisMax("left") > 0 {
			v = v / axisMax("right") * axisMax("left")
		} else if side == "right" {
			continue
		}
		atLimit = atLimit || v == quota
		at80 = at80 || v == 0.8*quota
	}
	if !atLimit || !at80 {
		t.Errorf("quota widget annotations %v, axes %v: want lines at GalxeMonthlyQuota (%v) and at 80%% of it", ann, axes, quota)
	}
	// The console URL of the dashboard after sam deploy.
	out, _ := tpl.Outputs["DashboardUrl"].(map[string]any)
	if v := fmt.Sprint(out["Value"]); v != "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/"+name {
		t.Errorf("DashboardUrl %q", v)
	}
}
