package sqstest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
)

// newID is 32 hex digits: unique and unguessable enough for a stand-in's
// ids and receipt handles, without a system call each (a backlog hands
// out tens of thousands a second).
func newID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func newUUID() string {
	h := newID()
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// A receipt handle names its queue, as SQS's do, so that the stand-in can
// tell, as SQS does, a handle it never gave out (ReceiptHandleIsInvalid)
// from one it gave out that is no longer current (an outdated handle).
const receiptPrefix = "AQEB" // how SQS's handles begin

func newReceipt(queueName string) string {
	return receiptPrefix + base64.StdEncoding.EncodeToString([]byte(queueName+"\x00"+newID()))
}

// receiptQueue is the queue a handle the stand-in gave out names; false
// for any other string.
func receiptQueue(handle string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(handle, receiptPrefix))
	if err != nil || !strings.HasPrefix(handle, receiptPrefix) {
		return "", false
	}
	name, id, ok := strings.Cut(string(b), "\x00")
	return name, ok && len(id) == 32
}
