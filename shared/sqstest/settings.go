package sqstest

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A queue's settings: the attributes CreateQueue takes and what they mean.

// defaultAttributes are a new standard queue's settable attributes.
func defaultAttributes() map[string]string {
	return map[string]string{"DelaySeconds": "0", "MaximumMessageSize": strconv.Itoa(MaxMessageBytes),
		"MessageRetentionPeriod": "345600", "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30",
		"SqsManagedSseEnabled": "true"}
}

// redrivePolicyJSON is a RedrivePolicy as SQS reports it.
func redrivePolicyJSON(deadLetterARN string, maxReceives int) string {
	b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": deadLetterARN, "maxReceiveCount": maxReceives})
	return string(b)
}

// numericAttributes are CreateQueue's numeric attributes and their ranges
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html).
var numericAttributes = map[string][2]int{
	"DelaySeconds":                  {0, 900},
	"MaximumMessageSize":            {1024, 1048576},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, 20},
	"VisibilityTimeout":             {0, 43200},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400},
}

// keptAttributes are the other attributes CreateQueue takes on a standard
// queue: kept and reported, without effect here.
var keptAttributes = map[string]bool{"Policy": true, "RedriveAllowPolicy": true, "KmsMasterKeyId": true}

func invalidAttributeValue(name, reason string) *apiError {
	msg := "Invalid value for the parameter " + name + "."
	if reason != "" {
		msg += " Reason: " + reason
	}
	return senderError("InvalidAttributeValue", "", msg)
}

// queueSettings reads CreateQueue's attributes: the queue's options and
// the attributes as GetQueueAttributes reports them (a new queue's
// defaults, then these).
func (s *Server) queueSettings(given map[string]string) (QueueOptions, map[string]string, *apiError) {
	var o QueueOptions
	attrs := defaultAttributes()
	names := make([]string, 0, len(given))
	for name := range given {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := given[name]
		switch r, numeric := numericAttributes[name]; {
		case numeric:
			n, err := strconv.Atoi(v)
			if err != nil || n < r[0] || n > r[1] {
				return o, nil, invalidAttributeValue(name, "")
			}
			attrs[name] = strconv.Itoa(n)
		case name == "SqsManagedSseEnabled":
			if v != "true" && v != "false" {
				return o, nil, invalidAttributeValue(name, "")
			}
			attrs[name] = v
		case name == "RedrivePolicy":
			policy, dlq, count, err := s.redrivePolicy(v)
			if err != nil {
				return o, nil, err
			}
			o.DeadLetter, o.MaxReceiveCount, attrs[name] = dlq, count, policy
		case keptAttributes[name]:
			attrs[name] = v
		case name == "FifoQueue":
			return o, nil, &apiError{status: 400, shape: "UnsupportedOperation", queryCode: "AWS.SimpleQueueService.UnsupportedOperation", senderSide: true,
				message: "sqstest has standard queues only."}
		default: // FIFO-only, read-only and unknown names
			return o, nil, senderError("InvalidAttributeName", "", "Unknown Attribute "+name+".")
		}
	}
	visibility, _ := strconv.Atoi(attrs["VisibilityTimeout"])
	o.VisibilityTimeout = time.Duration(visibility) * time.Second
	return o, attrs, nil
}

// redrivePolicy reads a RedrivePolicy: a dead-letter queue of this
// account that exists, and a maxReceiveCount from 1 to 1,000. It returns
// the policy as SQS reports it.
func (s *Server) redrivePolicy(v string) (policy, deadLetter string, maxReceives int, err *apiError) {
	var p struct {
		Target string          `json:"deadLetterTargetArn"`
		Count  json.RawMessage `json:"maxReceiveCount"`
	}
	if json.Unmarshal([]byte(v), &p) != nil {
		return "", "", 0, invalidAttributeValue("RedrivePolicy", "Redrive policy is not a valid JSON object.")
	}
	count, convErr := strconv.Atoi(strings.Trim(string(p.Count), `"`)) // a number or a string of one, as SQS takes it
	if convErr != nil || count < 1 || count > 1000 {
		return "", "", 0, invalidAttributeValue("RedrivePolicy", "Invalid value for maxReceiveCount: "+string(p.Count)+", valid values are from 1 to 1000 both inclusive.")
	}
	name, ok := strings.CutPrefix(p.Target, "arn:aws:sqs:us-east-1:"+AccountID+":")
	if !ok || s.queues[name] == nil {
		return "", "", 0, invalidAttributeValue("RedrivePolicy", "Dead letter target does not exist.")
	}
	return redrivePolicyJSON(p.Target, count), name, count, nil
}
