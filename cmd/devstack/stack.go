package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/dynamotest"
	"github.com/galxe-lambda/galxe-lambda/shared/galxetest"
	"github.com/galxe-lambda/galxe-lambda/shared/sqstest"
	"github.com/galxe-lambda/galxe-lambda/shared/ssmtest"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The parameter names the stack stores the secrets under, as deployed.
const (
	TokenParameter  = "/galxe-lambda/access-token"
	SecretParameter = "/galxe-lambda/webhook-secret"
)

// Functions are the project's functions, by short name.
var Functions = []string{"webhook", "scheduled", "pusher"}

// The queues the stack makes, named as the template's would be.
const (
	PushQueueName       = "galxe-lambda-PushQueue"
	PushDeadLetterQueue = "galxe-lambda-PushDeadLetterQueue"
	// PusherConcurrency is the event source's MaximumConcurrency, as in the template.
	PusherConcurrency = 2
	// StateTableName is the shared-state table, as a deployed stack's would be named.
	StateTableName = "galxe-lambda-StateTable"
)

// Options configure a Stack.
type Options struct {
	// Bootstraps are the built functions, by short name (BuildFunctions).
	Bootstraps map[string]string
	// RIE is the aws-lambda-rie binary.
	RIE string
	// Timeouts are the functions' timeouts in seconds (AWS_LAMBDA_FUNCTION_TIMEOUT).
	Timeouts map[string]int
	// Galxe configures the stand-in; ignored with RealEndpoint.
	Galxe galxetest.Options
	// RealEndpoint, with RealToken, points the functions at the real Galxe
	// instead of the stand-in; the token still travels through SSM.
	RealEndpoint, RealToken string
	// Env adds or overrides variables, by function.
	Env map[string]map[string]string
	// Instances is how many instances of each function may run at once
	// (Lambda's concurrency); 0 means DefaultInstances.
	Instances int
	// LiveLogs, when set, receives every line the functions write as it
	// comes, prefixed by the function's name and instance.
	LiveLogs io.Writer
	// Synchronous leaves PUSH_QUEUE_URL unset: the webhook pushes to Galxe
	// itself, and no event source runs.
	Synchronous bool
	// BatchWindow is the event source's batching window; 0: 1 s (the
	// template's default is 10 s; a shorter one keeps local runs brisk).
	BatchWindow time.Duration
	// NoSharedState leaves STATE_TABLE unset: each process keeps its own
	// memory, as a deployment without the table would.
	NoSharedState bool
}

// DefaultInstances is how many instances of a function run at most.
const DefaultInstances = 4

// Stack is the whole system on loopback: the Galxe and SSM stand-ins and
// each function under the emulator.
type Stack struct {
	Galxe         *galxetest.Server // nil against the real Galxe
	SSM           *ssmtest.Server
	SQS           *sqstest.Server
	DynamoDB      *dynamotest.Server // the shared-state table's stand-in
	SharedState   bool               // the functions have STATE_TABLE
	PushQueueURL  string
	DeadLetterURL string
	Events        *sqstest.EventSource // nil when Synchronous
	Endpoint      string
	Token         string // the Galxe token the functions read from SSM
	WebhookSecret string
	Functions     map[string]*Function

	front      *http.Server // Serve's, when started
	stopEvents context.CancelFunc
	eventsDone chan struct{}
}

// deployedTimeouts are the template's Timeout of each function, in seconds.
var deployedTimeouts = map[string]int{"webhook": 25, "scheduled": 120, "pusher": 120}

// timeout is a function's timeout in seconds: the run's, else the template's.
func (o Options) timeout(fn string) int {
	if t := o.Timeouts[fn]; t != 0 {
		return t
	}
	return deployedTimeouts[fn]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start brings the stack up. On error, whatever started is stopped.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	s = &Stack{SSM: ssmtest.NewServer(), SQS: sqstest.NewServer(), DynamoDB: dynamotest.NewServer(), Functions: map[string]*Function{}}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	secretKey := make([]byte, 24)
	_, _ = rand.Read(secretKey)
	s.WebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(secretKey)
	if o.RealEndpoint != "" {
		if o.RealToken == "" {
			return nil, errors.New("the real endpoint needs GALXE_ACCESS_TOKEN in the environment")
		}
		s.Endpoint, s.Token = o.RealEndpoint, o.RealToken
	} else {
		s.Token = "devstack_" + randomHex(16)
		gopts := o.Galxe
		gopts.Tokens = append([]string{s.Token}, gopts.Tokens...)
		s.Galxe = galxetest.NewServer(gopts)
		s.Endpoint = s.Galxe.URL
	}
	s.SSM.PutSecure(TokenParameter, s.Token)
	s.SSM.PutSecure(SecretParameter, s.WebhookSecret)
	s.DeadLetterURL = s.SQS.CreateQueue(PushDeadLetterQueue, sqstest.QueueOptions{})
	// As AWS advises for an event source, and as the template does: the
	// visibility is six times the pusher's timeout, so a batch the pusher
	// is still working on is never handed out twice. Exactly six times, no
	// more, so that a run giving the pusher a short timeout (Timeouts) also
	// sees its failures come round fast; with the default 120 s, 720 s.
	s.PushQueueURL = s.SQS.CreateQueue(PushQueueName, sqstest.QueueOptions{VisibilityTimeout: 6 * time.Duration(o.timeout("pusher")) * time.Second,
		DeadLetter: PushDeadLetterQueue, MaxReceiveCount: 400}) // as the template
	s.DynamoDB.CreateTable(StateTableName)
	s.SharedState = !o.NoSharedState

	for _, fn := range Functions {
		bootstrap := o.Bootstraps[fn]
		if bootstrap == "" {
			return nil, fmt.Errorf("no bootstrap for %s", fn)
		}
		timeout := o.timeout(fn)
		vars := map[string]string{
			"PATH":                            os.Getenv("PATH"),
			"HOME":                            os.TempDir(),
			"AWS_LAMBDA_FUNCTION_NAME":        fn,
			"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(timeout),
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
			"AWS_LAMBDA_LOG_FORMAT":           "JSON",
			"AWS_REGION":                      "us-east-1",
			"AWS_ACCESS_KEY_ID":               "AKIDDEVSTACK",
			"AWS_SECRET_ACCESS_KEY":           "devstack-not-a-real-key",
			"AWS_CONFIG_FILE":                 "/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE":     "/dev/null",
			"AWS_EC2_METADATA_DISABLED":       "true",
			"AWS_ENDPOINT_URL_SSM":            s.SSM.URL,
			"AWS_ENDPOINT_URL_SQS":            s.SQS.URL,
			"AWS_ENDPOINT_URL_DYNAMODB":       s.DynamoDB.URL,
			"GALXE_ACCESS_TOKEN_PARAMETER":    TokenParameter,
			"GALXE_ENDPOINT":                  s.Endpoint,
		}
		if s.SharedState {
			vars["STATE_TABLE"] = StateTableName
		}
		switch fn {
		case "webhook":
			vars["WEBHOOK_AUTH"] = "standard-webhooks"
			vars["WEBHOOK_SECRET_PARAMETER"] = SecretParameter
			if !o.Synchronous {
				vars["PUSH_QUEUE_URL"] = s.PushQueueURL
			}
		case "scheduled":
			vars["GOGC"] = "50" // as the template sets it
		case "pusher":
			vars["GALXE_MAX_QPS"] = "5"
			vars["GOGC"] = "50" // as the template sets it
			vars["PUSH_DEAD_LETTER_QUEUE_URL"] = s.DeadLetterURL
		}
		for k, v := range o.Env[fn] {
			vars[k] = v
		}
		instances := o.Instances
		if instances <= 0 {
			instances = DefaultInstances
		}
		if fn == "pusher" {
			instances = PusherConcurrency
		}
		var liveMu sync.Mutex
		f := newFunction(fn, instances, func(ctx context.Context, n int) (*Emulated, error) {
			env := make([]string, 0, len(vars)+1)
			for k, v := range vars {
				env = append(env, k+"="+v)
			}
			env = append(env, fmt.Sprintf("AWS_LAMBDA_LOG_STREAM_NAME=devstack/%s/%d", fn, n))
			var live io.Writer
			if o.LiveLogs != nil {
				live = &linePrefixer{mu: &liveMu, w: o.LiveLogs, prefix: fmt.Sprintf("%-9s #%d", fn, n)}
			}
			return startEmulated(ctx, fmt.Sprintf("%s #%d", fn, n), o.RIE, bootstrap, env, live)
		})
		s.Functions[fn] = f
		// The first instance now, so a broken emulator shows at start.
		e, err := f.acquire(ctx)
		if err != nil {
			return nil, err
		}
		f.release(e)
	}
	if !o.Synchronous {
		if err := s.startEvents(o.BatchWindow); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Close stops everything the stack started.
func (s *Stack) Close() {
	if s == nil {
		return
	}
	if s.front != nil {
		_ = s.front.Close()
	}
	if s.stopEvents != nil {
		s.stopEvents()
		<-s.eventsDone
	}
	for _, f := range s.Functions {
		f.Stop()
	}
	if s.Galxe != nil {
		s.Galxe.Close()
	}
	if s.SSM != nil {
		s.SSM.Close()
	}
	if s.SQS != nil {
		s.SQS.Close()
	}
	if s.DynamoDB != nil {
		s.DynamoDB.Close()
	}
}

// startEvents runs the pusher's event source against the SQS stand-in,
// through the real SDK client, as Lambda's would run against SQS.
func (s *Stack) startEvents(window time.Duration) error {
	if window <= 0 {
		window = time.Second
	}
	client, err := s.SQS.Client()
	if err != nil {
		return err
	}
	pusher := s.Functions["pusher"]
	s.Events = &sqstest.EventSource{Client: client, QueueURL: s.PushQueueURL,
		QueueARN:  "arn:aws:sqs:us-east-1:" + sqstest.AccountID + ":" + PushQueueName,
		BatchSize: 10000, Window: window, MaxConcurrency: PusherConcurrency,
		Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			inv, err := pusher.Invoke(ctx, payload)
			if err != nil {
				return nil, err
			}
			if inv.FuncErr || inv.Status != 200 {
				return nil, fmt.Errorf("the pusher failed: %s", clip(string(inv.Body), 200))
			}
			return inv.Body, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopEvents, s.eventsDone = cancel, make(chan struct{})
	go func() {
		defer close(s.eventsDone)
		s.Events.Run(ctx)
	}()
	return nil
}

// Sign adds Standard Webhooks headers, signed now with the stack's secret,
// to an API Gateway event of either payload version.
func (s *Stack) Sign(event []byte) ([]byte, error) {
	return SignEvent(event, s.WebhookSecret, "msg_"+randomHex(8), time.Now())
}

// SignEvent signs an API Gateway event's (decoded) body and adds the headers.
func SignEvent(event []byte, secret, id string, at time.Time) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	body, _ := ev["body"].(string)
	raw := []byte(body)
	if b64, _ := ev["isBase64Encoded"].(bool); b64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return nil, err
		}
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	sig, err := wh.Sign(id, at, raw)
	if err != nil {
		return nil, err
	}
	add := map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(at.Unix(), 10), "webhook-signature": sig}
	headers, _ := ev["headers"].(map[string]any)
	if headers == nil {
		headers = map[string]any{}
	}
	for k, v := range add {
		headers[k] = v
	}
	ev["headers"] = headers
	if mv, ok := ev["multiValueHeaders"].(map[string]any); ok {
		for k, v := range add {
			mv[k] = []string{v}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err = enc.Encode(ev)
	return buf.Bytes(), err
}

// BuildFunctions builds each function for this machine, as Lambda runs it
// (static, no RPC shim), into dir; it returns the bootstrap paths.
func BuildFunctions(ctx context.Context, root, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, fn := range Functions {
		path := filepath.Join(dir, fn, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", path, "./functions/"+fn)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", fn, err, b)
		}
		out[fn] = path
	}
	return out, nil
}

// BuildRIE builds the emulator from its Go module, at the version pinned
// in tools/go.mod, unless path already exists.
func BuildRIE(ctx context.Context, root, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-modfile=tools/go.mod", "-o", path,
		"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building aws-lambda-rie: %v\n%s", err, b)
	}
	return nil
}
