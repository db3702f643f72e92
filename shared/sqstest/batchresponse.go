package sqstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// batchItemFailures reads a function's answer as Lambda reads a partial
// batch response (ReportBatchItemFailures,
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting):
// the ids of the messages to keep. A null or empty answer, or a null or
// empty batchItemFailures, keeps none (the batch succeeded). An error means
// Lambda treats the whole batch as failed: an itemIdentifier that is empty,
// null, not a string or not a messageId of the batch, an item without
// itemIdentifier or with another key, an answer with another key than
// batchItemFailures (keys match exactly, unlike encoding/json's), or an
// answer that is not such an object.
func batchItemFailures(answer []byte, batch map[string]bool) (map[string]bool, error) {
	answer = bytes.TrimSpace(answer)
	if len(answer) == 0 || string(answer) == "null" {
		return nil, nil
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, fmt.Errorf("the function's answer is not a partial batch response: %w", err)
	}
	for key := range resp {
		if key != "batchItemFailures" {
			return nil, fmt.Errorf("the function's answer has the key %q, not batchItemFailures", key)
		}
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(resp["batchItemFailures"], &items); resp["batchItemFailures"] != nil && err != nil {
		return nil, fmt.Errorf("batchItemFailures is not a list of objects: %w", err)
	}
	failures := make(map[string]bool, len(items))
	for _, item := range items {
		for key := range item {
			if key != "itemIdentifier" {
				return nil, fmt.Errorf("a batch item failure has the key %q, not itemIdentifier", key)
			}
		}
		var id *string
		if err := json.Unmarshal(item["itemIdentifier"], &id); item["itemIdentifier"] == nil || err != nil || id == nil || *id == "" {
			return nil, errors.New("a batch item failure's itemIdentifier is missing, null, empty or not a string")
		}
		if !batch[*id] {
			return nil, fmt.Errorf("the itemIdentifier %q is not a messageId of the batch", *id)
		}
		failures[*id] = true
	}
	return failures, nil
}
