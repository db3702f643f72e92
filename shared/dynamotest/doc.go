// Package dynamotest is an in-memory stand-in for Amazon DynamoDB, for tests,
// the local stack and the benchmarks. It speaks the AWS JSON 1.0 protocol
// the SDK's DynamoDB client uses (X-Amz-Target: DynamoDB_20120810.<Action>),
// so code under test uses the real client through AWS_ENDPOINT_URL_DYNAMODB
// (Env) or BaseEndpoint (Client). Signatures are not checked. Like the other
// stand-ins it is started with NewServer, gives its URL and stops with
// Close; CreateTable makes the project's table (DESIGN §11).
//
// Items live in github.com/truora/minidyn's engine (the one behind its HTTP
// server package), which evaluates condition, update, key-condition, filter
// and projection expressions. The stand-in answers the wire itself (minidyn's
// writer turns an empty list or map into {}, answers PutItem with the new
// item, describes tables without a status) and adds what DynamoDB does and
// minidyn v0.8.2 does not:
//   - the 400 KB item limit (MaxItemBytes, counted as DynamoDB counts it), on
//     PutItem, BatchWriteItem and the item an UpdateItem would leave;
//   - keys: missing, of the wrong type, empty, oversized, or with extra
//     attributes; a batch with one key twice;
//   - expressions: attribute names and values unused, undefined (minidyn
//     only looks for substrings), given without an expression or empty;
//     reserved words anywhere in a path; a path an update writes twice;
//   - attribute values: empty, of two types, bad or oversized numbers
//     (stored as DynamoDB spells them: "1.50" is "1.5"), empty sets, sets
//     with duplicates, a false NULL;
//   - ReturnValues on PutItem (minidyn answers the new item),
//     ReturnValuesOnConditionCheckFailure: ALL_OLD on PutItem, UpdateItem and
//     DeleteItem (the stored item in the ConditionalCheckFailedException,
//     read under the same lock as the condition);
//   - an UpdateItem is all or nothing, REMOVE of a whole attribute removes
//     it, and the attributes an update does not name stay exactly as they
//     were (minidyn drops neither, and writes every number of the item back
//     through float64);
//   - table status, ARN, billing mode and Time to Live settings;
//   - faults on demand: Fail (throttling, 500s, slow or hung answers),
//     SetDown (connections reset), and Calls to count requests.
//
// Like DynamoDB, it never deletes an item whose TTL attribute has passed
// until asked to (ExpireNow, ExpireBefore): code must check expiry itself.
//
// Actions: CreateTable, DescribeTable, DeleteTable, ListTables,
// UpdateTimeToLive, DescribeTimeToLive, PutItem, GetItem, UpdateItem,
// DeleteItem, BatchWriteItem, BatchGetItem, Query and Scan. Others answer
// UnknownOperationException.
//
// Known differences from DynamoDB, each refused loudly where it could
// otherwise answer wrongly:
//   - minidyn computes with numbers as float64: a number of more than 15
//     significant digits in ExpressionAttributeValues, or in an attribute an
//     UpdateItem writes, is refused (ValidationException naming dynamotest);
//     stored, such numbers keep every digit. Fractional sums may show float
//     residue (0.1 + 0.2 is 0.30000000000000004, DynamoDB's 0.3).
//   - A condition comparing values of different types (a number < a string)
//     is refused with a ValidationException; DynamoDB evaluates it false.
//   - UPDATED_OLD and UPDATED_NEW return whole top-level attributes where
//     DynamoDB returns only the part a nested path (a.b, l[0]) names.
//   - Expression syntax errors carry minidyn's wording.
//   - Refused as unsupported: secondary indexes, transactions, the legacy
//     parameters (Expected, AttributeUpdates, AttributesToGet,
//     KeyConditions, QueryFilter, ScanFilter, ConditionalOperator), Select
//     other than ALL_ATTRIBUTES, parallel scans, UpdateItem without an
//     UpdateExpression.
//   - Query and Scan have no 1 MB page; batches never leave items
//     unprocessed; tables are ACTIVE at once.
package dynamotest
