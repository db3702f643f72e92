package sqstest

// RecordSize exposes recordSize to the tests.
var RecordSize = recordSize
