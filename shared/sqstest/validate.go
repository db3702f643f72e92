package sqstest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// What SQS refuses in a message, in its words where they are known
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html,
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html).

// validBody reports whether SQS accepts the text's characters: #x9, #xA,
// #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF.
func validBody(b string) bool {
	for _, r := range b {
		ok := r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
		if !ok {
			return false
		}
	}
	return true
}

// entrySize is what counts toward the size limit: the body and each
// attribute's name, type and value.
func entrySize(e sendEntry) int {
	n := 0
	if e.MessageBody != nil {
		n = len(*e.MessageBody)
	}
	for k, v := range e.MessageAttributes {
		n += len(k) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
	}
	return n
}

// checkEntry is SQS's verdict on a message for a queue whose messages may
// have maxBytes.
func checkEntry(e sendEntry, maxBytes int) *apiError {
	switch {
	case e.MessageBody == nil || *e.MessageBody == "":
		return missingParameter("MessageBody")
	case entrySize(e) > maxBytes:
		return senderError("InvalidParameterValue", "", fmt.Sprintf("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxBytes))
	case !validBody(*e.MessageBody):
		return senderError("InvalidMessageContents", "", "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	case e.DelaySeconds != nil && (*e.DelaySeconds < 0 || *e.DelaySeconds > 900):
		return senderError("InvalidParameterValue", "", "Value for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.")
	}
	return checkAttributes(e.MessageAttributes)
}

// maxAttributes is how many message attributes a message may have.
const maxAttributes = 10

// checkAttributes applies SQS's rules to message attributes: at most ten;
// a name of letters, digits, '_', '-' and '.', not at either end nor
// twice in a row, at most 256, not beginning with AWS. or Amazon. in any
// case; a type String, Number or Binary, with an optional custom label
// after a '.'; a non-empty value of that type, a Number's a number.
func checkAttributes(attrs map[string]attributeValue) *apiError {
	if len(attrs) > maxAttributes {
		return senderError("InvalidParameterValue", "", fmt.Sprintf("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), maxAttributes))
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names) // the same error for the same request
	for _, name := range names {
		v := attrs[name]
		invalid := func(msg string) *apiError { return senderError("InvalidParameterValue", "", msg) }
		switch t := baseType(v.DataType); {
		case !validAttributeName(name):
			return invalid("Message attribute name '" + name + "' is invalid.")
		case v.DataType == "":
			return invalid("The message attribute '" + name + "' must contain non-empty message attribute type.")
		case t != "String" && t != "Number" && t != "Binary" || len(v.DataType) > 256 || !validBody(v.DataType):
			return invalid("The message attribute '" + name + "' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
		case t == "Binary" && len(v.BinaryValue) == 0 || t != "Binary" && v.StringValue == "":
			return invalid("The message attribute '" + name + "' must contain non-empty message attribute value for message attribute type '" + t + "'.")
		case t != "Binary" && !validBody(v.StringValue):
			return invalid("The message attribute '" + name + "' contains characters outside the allowed set.")
		case t == "Number" && !validNumber(v.StringValue):
			return invalid("Can't cast the value of message (user) attribute '" + name + "' to a number.")
		}
	}
	return nil
}

func validAttributeName(name string) bool {
	lower := strings.ToLower(name)
	if name == "" || len(name) > 256 || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") ||
		strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return false
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == ""
}

// validNumber applies SQS's rule for a Number attribute: a decimal
// number (sign, digits, point, exponent) of at most 38 significant
// digits, zero or between 10^-128 and 10^+126 in magnitude.
func validNumber(s string) bool {
	mantissa, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:]) // an optional sign and digits
		if err != nil {
			return false
		}
		mantissa, exp = s[:i], e
	}
	if mantissa != "" && (mantissa[0] == '+' || mantissa[0] == '-') {
		mantissa = mantissa[1:]
	}
	whole, frac, _ := strings.Cut(mantissa, ".")
	digits := whole + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return true // zero
	}
	if exp < -1000 || exp > 1000 {
		return false
	}
	significant := strings.TrimRight(digits[first:], "0")
	magnitude := len(whole) - 1 - first + exp // the power of ten of the first significant digit
	return len(significant) <= 38 && magnitude >= -128 && (magnitude < 126 || magnitude == 126 && significant == "1")
}

// checkBatchIDs applies SQS's rules for a batch's entry ids: 1 to 10
// entries, distinct, alphanumeric, hyphens and underscores, at most 80.
func checkBatchIDs(action string, ids []string) *apiError {
	switch {
	case len(ids) == 0:
		return senderError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one "+action+"RequestEntry in the request.")
	case len(ids) > 10:
		return senderError("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", fmt.Sprintf("Maximum number of entries per request are 10. You have sent %d.", len(ids)))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || len(id) > 80 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return senderError("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return senderError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id "+id+" repeated.")
		}
		seen[id] = true
	}
	return nil
}

// validQueueName applies SQS's rule for a standard queue's name: 1 to 80
// letters, digits, hyphens and underscores.
func validQueueName(name string) bool {
	return name != "" && len(name) <= 80 && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}
