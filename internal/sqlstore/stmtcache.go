package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds a handle's prepared statements: the services'
// statements are a few dozen fixed texts. A text past the bound is run
// unprepared, as before the cache.
const maxCachedStmts = 256

// stmtCache keeps a SQLite handle's statements prepared, one per query
// text. modernc.org/sqlite parses and plans a statement's text on every
// call that is not prepared (even a "select 1"), which runs the
// parser and planner, a large part of the engine's code, on every call and
// on every background pass of an idle service: a prepared statement is
// only executed. database/sql prepares it on each pooled connection at its
// first use there. PostgreSQL needs none: pgx caches its statements per
// connection by itself.
type stmtCache struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns query's prepared statement, preparing it on first use, or
// nil when the handle does not cache (PostgreSQL), the cache is full or
// the text does not prepare: the caller then runs the text itself, and
// gets the failure, if any, where it always did.
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	c := &db.stmts
	c.mu.Lock()
	s, ok := c.stmts[query]
	full := len(c.stmts) >= maxCachedStmts
	c.mu.Unlock()
	if ok || full {
		return s
	}
	s, err := db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if first, ok := c.stmts[query]; ok || len(c.stmts) >= maxCachedStmts {
		// Another call prepared it meanwhile, or the cache filled up.
		_ = s.Close()
		return first
	}
	if c.stmts == nil {
		c.stmts = map[string]*sql.Stmt{}
	}
	c.stmts[query] = s
	return s
}

// close closes the cached statements.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts = nil
}
