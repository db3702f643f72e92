package readcache

import (
	"strconv"
	"time"
)

// The response headers that say what the cache did (RFC 9211 and RFC
// 9111's Age).
const (
	HeaderCacheStatus = "Cache-Status"
	HeaderAge         = "Age"
)

// cacheName is this cache's name in Cache-Status.
const cacheName = "galxe-lambda"

// Why a miss was not stored, as Cache-Status's detail.
const (
	detailTooLarge         = "too-large"         // over MaxBytes
	detailStateUnavailable = "state-unavailable" // the table failed
)

// hitStatus is a hit's Cache-Status, with the seconds it still holds.
func hitStatus(ttl time.Duration) string {
	return cacheName + "; hit; ttl=" + strconv.FormatInt(int64(ttl/time.Second), 10)
}

// missStatus is a miss's Cache-Status: forwarded to Galxe, and whether
// the answer was stored, why not, and whether this request shared
// another's call (RFC 9211's collapsed).
func missStatus(stored bool, detail string, collapsed bool) string {
	s := cacheName + "; fwd=miss"
	if stored {
		s += "; stored"
	}
	if detail != "" {
		s += "; detail=" + detail
	}
	if collapsed {
		s += "; collapsed"
	}
	return s
}

// age is RFC 9111's Age: whole seconds since the answer was stored.
func age(d time.Duration) string {
	return strconv.FormatInt(int64(max(d, 0)/time.Second), 10)
}
