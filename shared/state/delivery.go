package state

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultIdempotencyTTL is how long a completed delivery's answer is kept:
// four days, since Standard Webhooks senders retry for about three, keeping
// the id (IDEMPOTENCY_TTL_SECONDS overrides it).
const DefaultIdempotencyTTL = 4 * 24 * time.Hour

// A delivery item's attributes besides the key and expires.
const (
	attrHash   = "hash"   // the request's fingerprint (method, path, body)
	attrState  = "state"  // stateRunning or stateDone
	attrUntil  = "until"  // a running claim's deadline, epoch ms
	attrStatus = "status" // a done delivery's HTTP status
	attrBody   = "body"   // its body's exact bytes, gzip-compressed when attrGzip
	attrGzip   = "gzip"
	attrCode   = "code" // the error code, when the body was too large to keep
)

const (
	stateRunning = "running"
	stateDone    = "done"
)

// maxAnswerBytes is what an answer may take of DynamoDB's 400 KB item,
// leaving room for the key and the other attributes.
const maxAnswerBytes = 380_000

// Fingerprint is a request's hash: the same key with another fingerprint is
// a different request reusing the key.
func Fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	io.WriteString(h, method)
	h.Write([]byte{0})
	io.WriteString(h, path)
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// ClaimOutcome is what a claim found.
type ClaimOutcome int

const (
	// Claimed: the delivery is this attempt's to run; Complete or Release it.
	Claimed ClaimOutcome = iota
	// Completed: an earlier attempt finished; its Answer is the answer.
	Completed
	// InProgress: another attempt is running it now.
	InProgress
	// KeyReused: the key came earlier with another request.
	KeyReused
)

// Answer is a completed delivery's stored answer.
type Answer struct {
	Status int
	Body   []byte // exact bytes; nil when only Code was kept
	Code   string // the error code, kept alone when the body would not fit
}

// Claim is the result of claiming a delivery.
type Claim struct {
	Outcome ClaimOutcome
	Answer  Answer // with Completed
}

func deliveryKey(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("delivery#" + key)}
}

// Claim takes the delivery for this attempt with one conditional write: the
// key is new, or its record expired, or an earlier attempt's claim outlived
// that attempt's deadline (until). A refused claim reads the stored record
// from the refusal itself (ALL_OLD), or with a consistent read where the
// table returns none.
func (t *Table) Claim(ctx context.Context, key, fingerprint string, until time.Time) (Claim, error) {
	for range 3 { // a record that vanished between the refusal and the read: claim again
		now := t.now()
		item := deliveryKey(key)
		item[attrHash] = str(fingerprint)
		item[attrState] = str(stateRunning)
		item[attrUntil] = num(until.UnixMilli())
		item[attrExpires] = num(until.Add(time.Hour).Unix())
		_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           aws.String(t.Name),
			Item:                                item,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #expires <= :nowS OR (#state = :running AND #until < :nowMs)"),
			ExpressionAttributeNames:            map[string]string{"#pk": attrKey, "#expires": attrExpires, "#state": attrState, "#until": attrUntil},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":nowS": num(now.Unix()), ":nowMs": num(now.UnixMilli()), ":running": str(stateRunning)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return Claim{Outcome: Claimed}, nil
		}
		old, refused := conditionFailed(err)
		if !refused {
			return Claim{}, failed("claim", err)
		}
		if len(old) == 0 {
			out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: deliveryKey(key), ConsistentRead: aws.Bool(true)})
			if err != nil {
				return Claim{}, failed("claim", err)
			}
			old = out.Item
		}
		if !t.live(old) {
			continue
		}
		switch {
		case getS(old, attrHash) != fingerprint:
			return Claim{Outcome: KeyReused}, nil
		case getS(old, attrState) == stateDone:
			a, err := answerOf(old)
			if err != nil {
				return Claim{}, failed("claim", err)
			}
			return Claim{Outcome: Completed, Answer: a}, nil
		case getN(old, attrUntil) < t.now().UnixMilli():
			continue // its attempt has just passed its deadline
		}
		return Claim{Outcome: InProgress}, nil
	}
	return Claim{Outcome: InProgress}, nil
}

// Complete stores the delivery's final answer for ttl, replacing this
// attempt's claim (and nothing else: a claim taken over by another attempt
// stays that attempt's).
func (t *Table) Complete(ctx context.Context, key, fingerprint string, a Answer, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = DefaultIdempotencyTTL
	}
	item := deliveryKey(key)
	item[attrHash] = str(fingerprint)
	item[attrState] = str(stateDone)
	item[attrStatus] = num(int64(a.Status))
	item[attrExpires] = num(t.now().Add(ttl).Unix())
	switch body, zipped, ok := fit(a.Body); {
	case !ok:
		item[attrCode] = str(a.Code)
	case zipped:
		item[attrBody] = &types.AttributeValueMemberB{Value: body}
		item[attrGzip] = &types.AttributeValueMemberBOOL{Value: true}
	default:
		item[attrBody] = &types.AttributeValueMemberB{Value: body}
	}
	cond, names, values := ownClaim(fingerprint)
	_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.Name), Item: item,
		ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	_, err = written("complete", err) // refused: the claim is another attempt's now
	return err
}

// Release gives the claim up, so that a retry runs the delivery (after an
// answer a retry could change: a 429 or a 5xx).
func (t *Table) Release(ctx context.Context, key, fingerprint string) error {
	cond, names, values := ownClaim(fingerprint)
	_, err := t.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(t.Name), Key: deliveryKey(key),
		ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	_, err = written("release", err) // refused: not this attempt's claim (any more)
	return err
}

// ownClaim is the condition that a delivery's record is still this
// request's running claim: only then may an attempt settle it.
func ownClaim(fingerprint string) (*string, map[string]string, map[string]types.AttributeValue) {
	return aws.String("#hash = :hash AND #state = :running"),
		map[string]string{"#hash": attrHash, "#state": attrState},
		map[string]types.AttributeValue{":hash": str(fingerprint), ":running": str(stateRunning)}
}

// fit returns the body as it is stored: as it is when it fits the item,
// gzip-compressed when only that fits; ok is false when neither does.
func fit(body []byte) (stored []byte, zipped, ok bool) {
	if len(body) <= maxAnswerBytes {
		return body, false, true
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if buf.Len() <= maxAnswerBytes {
		return buf.Bytes(), true, true
	}
	return nil, false, false
}

func answerOf(item map[string]types.AttributeValue) (Answer, error) {
	a := Answer{Status: int(getN(item, attrStatus)), Code: getS(item, attrCode)}
	b, _ := item[attrBody].(*types.AttributeValueMemberB)
	if b == nil {
		return a, nil
	}
	a.Body = b.Value
	if z, _ := item[attrGzip].(*types.AttributeValueMemberBOOL); z != nil && z.Value {
		zr, err := gzip.NewReader(bytes.NewReader(b.Value))
		if err != nil {
			return a, err
		}
		if a.Body, err = io.ReadAll(zr); err != nil {
			return a, err
		}
	}
	return a, nil
}
