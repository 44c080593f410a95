package sqlstore

// CachedStatements is how many statements db holds prepared, for the
// package's external tests.
func CachedStatements(db *DB) int { return cached(db) }
