package sqstest

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
)

// bodyMD5 is SQS's MD5OfMessageBody: the hex MD5 of the body's bytes.
func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is SQS's MD5OfMessageAttributes
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html#sqs-attributes-md5-message-digest-calculation):
// for each attribute, sorted by name, the name, the data type and the
// value, each length-prefixed (4 bytes, big-endian), the value after a
// transport byte: 1 for String and Number (custom types included), 2 for
// Binary.
func attributesMD5(attrs map[string]attributeValue) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	put := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, n := range names {
		v := attrs[n]
		put([]byte(n))
		put([]byte(v.DataType))
		if baseType(v.DataType) == "Binary" {
			h.Write([]byte{2})
			put(v.BinaryValue)
		} else {
			h.Write([]byte{1})
			put([]byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// baseType is a data type without its custom label: "Number" for
// "Number.float".
func baseType(dataType string) string {
	t, _, _ := strings.Cut(dataType, ".")
	return t
}
