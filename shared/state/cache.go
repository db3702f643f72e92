package state

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The fleet-wide read cache (DESIGN.md §11) keeps two kinds of item:
//
//	read#<hash>     a query's answer: its data, when it was stored, until
//	                when it holds, and the generation of the credential it
//	                names (0 when it names none)
//	gen#<credId>    the credential's generation, bumped after every push
//	                that reached Galxe: an answer stored under an older one
//	                is stale at once, on every instance
//
// A read that names a credential reads both in one consistent
// BatchGetItem, so it cannot see an entry newer than the generation it
// compares it with.

// GenerationTTL is how long a credential's generation outlives its last
// bump. A generation that expires and is deleted reads 0 again, so it must
// outlive every entry stored under it: entries hold for at most a day
// (readcache.MaxLifetime), far less than this.
const GenerationTTL = 15 * 24 * time.Hour

// BumpTimeout bounds a bump: it follows a push that may have spent its
// invocation's budget, so it has a context of its own.
const BumpTimeout = 2 * time.Second

// The attributes of the read cache's items besides the key and expires.
const (
	attrData = "data" // the answer's exact bytes
	attrGen  = "gen"  // the credential's generation (on a gen# item, its current one)
	// attrAt is when the entry was stored (epoch ms), attrUntil when it
	// stops holding (epoch ms): expires is whole seconds, too coarse.
)

// CachedRead is one stored answer.
type CachedRead struct {
	Data     []byte
	Gen      int64     // the credential's generation when Galxe was asked
	StoredAt time.Time // when it was stored
	Until    time.Time // when it stops holding
}

// CacheLookup is what a lookup found: the entry, when there is one that
// has not expired, and the credential's current generation.
type CacheLookup struct {
	Entry *CachedRead
	Gen   int64 // 0 without a credential, or before its first bump
}

// Hit reports whether the entry answers the read: it is there, unexpired,
// and stored under the credential's current generation.
func (l CacheLookup) Hit() bool { return l.Entry != nil && l.Entry.Gen == l.Gen }

func readKey(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("read#" + key)}
}

func genKey(cred string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str("gen#" + cred)}
}

// LookupRead reads the entry stored under key (a hash of the question) and,
// when cred is not empty, the credential's generation, in one consistent
// request. An expired entry is not returned (TTL deletion runs late).
func (t *Table) LookupRead(ctx context.Context, key, cred string) (CacheLookup, error) {
	if cred == "" {
		// No generation to agree with: an eventually consistent read (half
		// the cost) at worst misses an entry stored a moment ago.
		out, err := t.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.Name), Key: readKey(key)})
		if err != nil {
			return CacheLookup{}, failed("read cache", err)
		}
		return CacheLookup{Entry: t.cachedRead(out.Item)}, nil
	}
	c := t.Client
	keys := []map[string]types.AttributeValue{readKey(key), genKey(cred)}
	var items []map[string]types.AttributeValue
	for range 3 { // DynamoDB may leave keys unprocessed under load: ask again for those
		out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			t.Name: {Keys: keys, ConsistentRead: aws.Bool(true)}}})
		if err != nil {
			return CacheLookup{}, failed("read cache", err)
		}
		items = append(items, out.Responses[t.Name]...)
		keys = out.UnprocessedKeys[t.Name].Keys
		if len(keys) == 0 {
			break
		}
	}
	if len(keys) > 0 {
		return CacheLookup{}, failed("read cache", errors.New("keys left unprocessed"))
	}
	var l CacheLookup
	for _, item := range items {
		switch getS(item, attrKey) {
		case "read#" + key:
			l.Entry = t.cachedRead(item)
		case "gen#" + cred:
			// Read whatever its expires says: a generation is never stale,
			// only gone once deleted, and that outlives every entry.
			l.Gen = getN(item, attrGen)
		}
	}
	return l, nil
}

// cachedRead is a stored entry, or nil when there is none or it expired.
func (t *Table) cachedRead(item map[string]types.AttributeValue) *CachedRead {
	until := getN(item, attrUntil)
	if len(item) == 0 || until <= t.now().UnixMilli() {
		return nil
	}
	data, _ := item[attrData].(*types.AttributeValueMemberB)
	if data == nil {
		return nil
	}
	return &CachedRead{Data: data.Value, Gen: getN(item, attrGen),
		StoredAt: time.UnixMilli(getN(item, attrAt)), Until: time.UnixMilli(until)}
}

// StoreRead keeps an answer under key for ttl, with the credential's
// generation read before Galxe was asked (so a push between the two
// leaves it stale). It overwrites whatever is there: two instances that
// asked the same question store equivalent answers. The data must fit
// DynamoDB's 400 KB item (the cache keeps at most 256 KiB).
func (t *Table) StoreRead(ctx context.Context, key string, data []byte, gen int64, ttl time.Duration) error {
	now := t.now()
	item := readKey(key)
	item[attrData] = &types.AttributeValueMemberB{Value: data}
	item[attrGen] = num(gen)
	item[attrAt] = num(now.UnixMilli())
	item[attrUntil] = num(now.Add(ttl).UnixMilli())
	// expires is rounded up: TTL deletion must never come before until.
	item[attrExpires] = num(now.Add(ttl + time.Second - 1).Unix())
	_, err := t.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.Name), Item: item})
	if err != nil {
		return failed("read cache", err)
	}
	return nil
}

// BumpGeneration makes every cached read of the credential stale at once,
// on every instance: call it after a push to the credential reached
// Galxe. It runs with a context of its own (at most BumpTimeout): the
// push may have spent the caller's budget. A nil table does nothing (no
// shared state, no cache). On failure, reads stored before the push are
// answered until they expire (at most their lifetime).
func (t *Table) BumpGeneration(ctx context.Context, cred string) error {
	if t == nil {
		return nil
	}
	ctx, cancel := AfterWork(ctx, BumpTimeout, AnswerReserve)
	defer cancel()
	_, err := t.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.Name),
		Key:                       genKey(cred),
		UpdateExpression:          aws.String("ADD #gen :one SET #expires = :expires"),
		ExpressionAttributeNames:  map[string]string{"#gen": attrGen, "#expires": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":expires": num(t.now().Add(GenerationTTL).Unix())},
	})
	if err != nil {
		return failed("generation", err)
	}
	return nil
}
