package readcache

// OnJoin calls f each time a read has joined (or started) its flight, so
// a test knows identical reads are waiting together without sleeping.
func OnJoin(c *Cache, f func()) { c.joined = f }
