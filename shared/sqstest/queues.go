package sqstest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Queues: how a request names one, and the calls on them.

// QueueOptions configure a queue.
type QueueOptions struct {
	// VisibilityTimeout is how long a received message stays hidden; 0: 30 s.
	VisibilityTimeout time.Duration
	// DeadLetter names the queue messages move to after MaxReceiveCount
	// receives (the redrive policy); empty: none.
	DeadLetter      string
	MaxReceiveCount int
}

type queue struct {
	name, url, arn string
	created        time.Time
	opts           QueueOptions
	delay          time.Duration     // DelaySeconds: a message's, unless it gives its own
	wait           int               // ReceiveMessageWaitTimeSeconds: a receive's, unless it gives its own
	maxBytes       int               // MaximumMessageSize
	attrs          map[string]string // the settable ones, as GetQueueAttributes reports them
	msgs           store
	sent           int
	purged         time.Time
}

// CreateQueue makes a standard queue and returns its URL.
func (s *Server) CreateQueue(name string, o QueueOptions) string {
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.DeadLetter != "" && o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 5
	}
	attrs := defaultAttributes()
	attrs["VisibilityTimeout"] = strconv.Itoa(int(o.VisibilityTimeout.Seconds()))
	if o.DeadLetter != "" {
		attrs["RedrivePolicy"] = redrivePolicyJSON(queueARN(o.DeadLetter), o.MaxReceiveCount)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addQueue(name, o, attrs).url
}

// addQueue makes a queue with these options and attributes (defaults
// applied).
func (s *Server) addQueue(name string, o QueueOptions, attrs map[string]string) *queue {
	q := &queue{name: name, url: s.URL + "/" + AccountID + "/" + name, arn: queueARN(name), created: s.now(), opts: o, attrs: attrs}
	q.maxBytes, _ = strconv.Atoi(attrs["MaximumMessageSize"])
	delay, _ := strconv.Atoi(attrs["DelaySeconds"])
	q.delay = time.Duration(delay) * time.Second
	q.wait, _ = strconv.Atoi(attrs["ReceiveMessageWaitTimeSeconds"])
	s.queues[name] = q
	return q
}

func queueARN(name string) string { return "arn:aws:sqs:us-east-1:" + AccountID + ":" + name }

// queueByName finds a queue by its name, or by its URL's path.
func (s *Server) queueByName(nameOrURL string) *queue {
	if q := s.queues[nameOrURL]; q != nil {
		return q
	}
	return s.queueAt(nameOrURL)
}

// queueAt finds the queue a URL names by its path, /ACCOUNT/NAME, whatever
// its host: the stand-in's own URL, or the real-shaped
// https://sqs.us-east-1.amazonaws.com/ACCOUNT/NAME a function derives from
// an event's eventSourceARN. Another account's queue does not exist here.
func (s *Server) queueAt(queueURL string) *queue {
	u, err := url.Parse(queueURL)
	if err != nil {
		return nil
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || account != AccountID {
		return nil
	}
	return s.queues[name]
}

func queueDoesNotExist() *apiError {
	return senderError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

// queueOf finds the queue a request names, or SQS's error.
func (s *Server) queueOf(in map[string]json.RawMessage) (*queue, *apiError) {
	queueURL, ok := field[string](in, "QueueUrl")
	if !ok || queueURL == "" {
		return nil, missingParameter("QueueUrl")
	}
	q := s.queueAt(queueURL)
	if q == nil {
		return nil, queueDoesNotExist()
	}
	return q, nil
}

// createQueue makes a queue, or answers an existing one's URL when the
// request's attributes match the queue's: SQS refuses only a request whose
// attributes differ from those of the queue.
func (s *Server) createQueue(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	name, _ := field[string](in, "QueueName")
	if name == "" {
		return nil, missingParameter("QueueName")
	}
	if !validQueueName(name) {
		return nil, senderError("InvalidParameterValue", "", "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	given, _ := field[map[string]string](in, "Attributes")
	s.mu.Lock()
	defer s.mu.Unlock()
	o, attrs, err := s.queueSettings(given)
	if err != nil {
		return nil, err
	}
	if q := s.queues[name]; q != nil {
		for attr := range given {
			if q.attrs[attr] != attrs[attr] {
				return nil, senderError("QueueNameExists", "QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute "+attr)
			}
		}
		return map[string]string{"QueueUrl": q.url}, nil
	}
	return map[string]string{"QueueUrl": s.addQueue(name, o, attrs).url}, nil
}

func (s *Server) getQueueURL(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	name, _ := field[string](in, "QueueName")
	if name == "" {
		return nil, missingParameter("QueueName")
	}
	owner, _ := field[string](in, "QueueOwnerAWSAccountId")
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[name]
	if q == nil || owner != "" && owner != AccountID {
		return nil, queueDoesNotExist()
	}
	return map[string]string{"QueueUrl": q.url}, nil
}

// listQueues lists the queues' URLs by name, those whose name begins with
// QueueNamePrefix if given; at most 1,000, or MaxResults a page with a
// NextToken for the next.
func (s *Server) listQueues(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	prefix, _ := field[string](in, "QueueNamePrefix")
	limit, paged := field[int](in, "MaxResults")
	if paged && (limit < 1 || limit > 1000) {
		return nil, senderError("InvalidParameterValue", "", "Value for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.")
	}
	if !paged {
		limit = 1000
	}
	after := ""
	if token, ok := field[string](in, "NextToken"); ok && token != "" {
		b, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			return nil, senderError("InvalidParameterValue", "", "Invalid NextToken value.")
		}
		after = string(b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.queues {
		if strings.HasPrefix(name, prefix) && name > after {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]any{}
	if paged && len(names) > limit {
		out["NextToken"] = base64.StdEncoding.EncodeToString([]byte(names[limit-1]))
	}
	names = names[:min(limit, len(names))]
	if len(names) > 0 {
		urls := make([]string, len(names))
		for i, name := range names {
			urls[i] = s.queues[name].url
		}
		out["QueueUrls"] = urls
	}
	return out, nil
}

func (s *Server) getQueueAttributes(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	q.msgs.requeue(s.now())
	visible, inFlight, delayed := q.msgs.counts()
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inFlight),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"QueueArn":                              q.arn,
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.created.Unix(), 10),
	}
	for k, v := range q.attrs {
		all[k] = v
	}
	names, _ := field[[]string](in, "AttributeNames")
	out := map[string]string{}
	for _, n := range names {
		if n == "All" {
			out = all
			break
		}
		v, ok := all[n]
		if !ok {
			return nil, senderError("InvalidAttributeName", "", "Unknown Attribute "+n+".")
		}
		out[n] = v
	}
	return map[string]any{"Attributes": out}, nil
}

// purgeQueue deletes every message of a queue, at most once a minute, as
// SQS allows.
func (s *Server) purgeQueue(_ *http.Request, in map[string]json.RawMessage) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueOf(in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !q.purged.IsZero() && now.Sub(q.purged) < time.Minute {
		return nil, &apiError{status: 403, shape: "PurgeQueueInProgress", queryCode: "AWS.SimpleQueueService.PurgeQueueInProgress", senderSide: true,
			message: "Only one PurgeQueue operation on " + q.name + " is allowed every 60 seconds."}
	}
	q.purged, q.msgs = now, store{}
	return map[string]any{}, nil
}
