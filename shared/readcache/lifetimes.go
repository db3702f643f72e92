package readcache

import (
	"encoding/json"
	"time"

	"github.com/galxe-lambda/galxe-lambda/shared/credentials"
)

// The design's lifetimes (DESIGN.md §11): an eligibility or a single
// object changes rarely within a minute; a list moves as holders and
// quests come and go, so it is kept half as long.
const (
	ObjectLifetime = 60 * time.Second
	ListLifetime   = 30 * time.Second
)

// MaxLifetime caps READ_CACHE_SECONDS: a credential's generation must
// outlive every entry stored under it (state.GenerationTTL), and an
// answer kept for longer than a day is no longer a cache.
const MaxLifetime = 24 * time.Hour

// rule is what the cache does with one operation.
type rule struct {
	lifetime time.Duration
	// credVar names the variable holding the credential the read is about
	// (a push to it makes the answer stale); empty: none.
	credVar string
}

// rules lists the cacheable operations: queries only. health is never
// cached (it checks that Galxe answers), nor is the credentialItems
// mutation. An operation missing here is not cached.
var rules = map[string]rule{
	"credentialEligibility": {lifetime: ObjectLifetime, credVar: "id"},
	"credential":            {lifetime: ObjectLifetime, credVar: "id"},
	"credentialHolders":     {lifetime: ListLifetime, credVar: "id"},
	"questEligibility":      {lifetime: ObjectLifetime},
	"quest":                 {lifetime: ObjectLifetime},
	"spaceQuests":           {lifetime: ListLifetime},
	"spaceLeaderboard":      {lifetime: ListLifetime},
}

// Cacheable reports whether an operation's answers are cached at all.
func Cacheable(op string) bool {
	_, ok := rules[op]
	return ok
}

// Lifetime is how long an operation's answers are kept by default (0 for
// an operation that is not cached).
func Lifetime(op string) time.Duration { return rules[op].lifetime }

// credentialOf is the credential a read names, from its parsed variables:
// the id as a string of digits (an ID may be sent as a string or a
// number, and the items route names credentials by their digits). ok is
// false when the operation names a credential but the variables give none
// that a push could name: such a read is not cached (it could not be
// invalidated; Galxe refuses it anyway).
func credentialOf(op string, vars any) (cred string, ok bool) {
	name := rules[op].credVar
	if name == "" {
		return "", true
	}
	obj, _ := vars.(map[string]any)
	switch id := obj[name].(type) {
	case string:
		cred = id
	case json.Number:
		cred = id.String()
	}
	// With a leading zero, the same credential could be named two ways
	// (0123 and 123), and a push to one would not invalidate the other.
	return cred, credentials.ValidCredID(cred) && (cred == "0" || cred[0] != '0')
}
