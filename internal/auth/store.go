package auth

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/vendorgate/vendorgate/internal/coord"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps callers and key hashes in the shared database, managed with
// vendorgate-admin; every service re-reads it periodically.
type Store struct {
	db    *sqlstore.DB
	locks coord.Locks
	now   func() time.Time
}

// OpenStore returns the caller store in db, creating its tables when
// missing; tag names the goose version table ("<tag>_auth_goose_db_version").
func OpenStore(ctx context.Context, db *sqlstore.DB, tag string, log *slog.Logger) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := sqlstore.Migrate(ctx, db, sub, tag+"_auth_goose_db_version", log); err != nil {
		return nil, err
	}
	return &Store{db: db, locks: coord.NewLocks(db), now: time.Now}, nil
}

// ErrUnknownCaller is a key operation on a caller the store does not hold.
var ErrUnknownCaller = errors.New("auth: no such caller")

// PutCaller creates or updates caller c (its Keys are ignored: see AddKey).
func (s *Store) PutCaller(ctx context.Context, c Caller) error {
	c.Keys = nil
	if err := c.Check(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO auth_callers (name, allow, rate_per_second, daily_spend_cap_yuan, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET allow = excluded.allow, rate_per_second = excluded.rate_per_second,
			daily_spend_cap_yuan = excluded.daily_spend_cap_yuan, updated_at = excluded.updated_at`,
		c.Name, strings.Join(c.Allow, "\n"), strconv.FormatFloat(c.RatePerSecond, 'f', -1, 64), c.DailySpendCapYuan, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("auth: store caller %s: %w", c.Name, err)
	}
	return nil
}

// AddKey creates a new key for caller and stores its hash; the key itself
// is returned once and never stored. A caller holds at most
// MaxKeysPerCaller keys: revoke the old one after a rotation.
func (s *Store) AddKey(ctx context.Context, caller string) (string, error) {
	unlock, err := s.locks.Lock(ctx, "auth/keys/"+caller)
	if err != nil {
		return "", err
	}
	defer unlock()
	var exists int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_callers WHERE name = $1`, caller).Scan(&exists); err != nil {
		return "", fmt.Errorf("auth: read caller %s: %w", caller, err)
	}
	if exists == 0 {
		return "", fmt.Errorf("%w: %s", ErrUnknownCaller, caller)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_keys WHERE caller = $1`, caller).Scan(&n); err != nil {
		return "", fmt.Errorf("auth: count keys of %s: %w", caller, err)
	}
	if n >= MaxKeysPerCaller {
		return "", fmt.Errorf("auth: caller %s already has %d keys; revoke the old one first", caller, n)
	}
	key, err := NewKey(caller)
	if err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO auth_keys (hash, caller, created_at) VALUES ($1, $2, $3)`,
		HashKey(key), caller, s.now().UnixMilli()); err != nil {
		return "", fmt.Errorf("auth: store key of %s: %w", caller, err)
	}
	return key, nil
}

// RevokeKey deletes the key with hash (or, given the key itself, its hash)
// from caller.
func (s *Store) RevokeKey(ctx context.Context, caller, keyOrHash string) error {
	hash := keyOrHash
	if !keyHash.MatchString(hash) {
		hash = HashKey(keyOrHash)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM auth_keys WHERE caller = $1 AND hash = $2`, caller, hash)
	if err != nil {
		return fmt.Errorf("auth: revoke key of %s: %w", caller, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("auth: caller %s has no key %s", caller, hash)
	}
	return nil
}

// Callers returns every stored caller with its key hashes, oldest key first.
func (s *Store) Callers(ctx context.Context) ([]Caller, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, allow, rate_per_second, daily_spend_cap_yuan FROM auth_callers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("auth: read callers: %w", err)
	}
	defer rows.Close()
	var callers []Caller
	index := map[string]int{}
	for rows.Next() {
		var c Caller
		var allow, rate string
		if err := rows.Scan(&c.Name, &allow, &rate, &c.DailySpendCapYuan); err != nil {
			return nil, fmt.Errorf("auth: read callers: %w", err)
		}
		if allow != "" {
			c.Allow = strings.Split(allow, "\n")
		}
		c.RatePerSecond, _ = strconv.ParseFloat(rate, 64)
		index[c.Name] = len(callers)
		callers = append(callers, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auth: read callers: %w", err)
	}
	keys, err := s.db.QueryContext(ctx, `SELECT caller, hash FROM auth_keys ORDER BY caller, created_at, hash`)
	if err != nil {
		return nil, fmt.Errorf("auth: read keys: %w", err)
	}
	defer keys.Close()
	for keys.Next() {
		var caller, hash string
		if err := keys.Scan(&caller, &hash); err != nil {
			return nil, fmt.Errorf("auth: read keys: %w", err)
		}
		if i, ok := index[caller]; ok {
			callers[i].Keys = append(callers[i].Keys, hash)
		}
	}
	return callers, keys.Err()
}
