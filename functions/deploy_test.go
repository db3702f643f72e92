// Package functions_test checks what breaks deployments: the SAM template,
// the Makefile targets sam build calls, and what the binaries link.
package functions_test

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
)

type template struct {
	Globals struct {
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
	js, err := intrinsics.ProcessYAML(raw, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{"Ref": ref}})
	if err != nil {
		t.Fatalf("template.yaml does not parse: %v", err)
	}
	var tpl template
	if err := json.Unmarshal(js, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// prop reads a function property, falling back to Globals.Function.
func prop(tpl template, fn, key string) any {
	if v, ok := tpl.Resources[fn].Properties[key]; ok {
		return v
	}
	return tpl.Globals.Function[key]
}

var functions = []string{"WebhookFunction", "ScheduledFunction"}

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
		policies, _ := prop(tpl, fn, "Policies").([]any)
		if len(policies) == 0 {
			t.Errorf("%s: no SSM read policy", fn)
		}
		for _, p := range policies {
			pm, _ := p.(map[string]any)
			pol, ok := pm["SSMParameterReadPolicy"].(map[string]any)
			if !ok {
				continue
			}
			name, _ := pol["ParameterName"].(string)
			if name == "" || strings.HasPrefix(name, "/") {
				t.Errorf("%s: SSMParameterReadPolicy ParameterName %q must be set and have no leading slash", fn, name)
			}
		}
	}
	if to, _ := prop(tpl, "WebhookFunction", "Timeout").(float64); to <= 0 || to >= 30 {
		t.Errorf("WebhookFunction Timeout %v must be under API Gateway's 30 s", to)
	}
	eic, _ := prop(tpl, "ScheduledFunction", "EventInvokeConfig").(map[string]any)
	if n, ok := eic["MaximumRetryAttempts"].(float64); !ok || n > 2 {
		t.Errorf("ScheduledFunction async retries must be bounded, got %v", eic)
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

func TestTemplateAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	var canary, auth bool
	for _, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := r.Properties
		dims, _ := json.Marshal(p["Dimensions"])
		switch {
		case p["Namespace"] == "AWS/Lambda" && p["MetricName"] == "Errors" && strings.Contains(string(dims), "ScheduledFunction"):
			canary = p["Period"].(float64) <= 900
		case p["Namespace"] == "GalxeLambda" && p["MetricName"] == "GalxeErrors" && strings.Contains(string(dims), "AUTHENTICATION"):
			auth = p["Period"].(float64) <= 900
		}
	}
	if !canary || !auth {
		t.Errorf("want alarms on canary failures and on AUTHENTICATION errors within one canary period (canary %v, auth %v)", canary, auth)
	}
}

func TestMakefileHasSAMBuildTargets(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range functions {
		re := regexp.MustCompile(`(?m)^build-` + fn + `:\s*\n\t.*CGO_ENABLED=0.*GOARCH=arm64.*|(?m)^build-` + fn + `:\s*\n\t\$\(LAMBDA_ENV\).*\$\(LAMBDA_FLAGS\).*\$\(ARTIFACTS_DIR\)/bootstrap`)
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

// The binaries link only what they use: no stand-ins, no test or tool modules.
func TestBinariesLinkNoTestOnlyPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./webhook", "./scheduled").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, forbidden := range []string{"galxetest", "ssmtest", "graph-gophers", "goformation", "testing"} {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, forbidden) {
				t.Errorf("a function links %s", line)
			}
		}
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
