package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vendorgate/vendorgate/internal/tokenbroker"
)

// Locker takes a lock that spans the service's replicas (coord.Locks):
// Lock waits until the lock on key is held or ctx ends.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// SharedToken keeps a vendor's login token in the store for every
// replica: a tokenbroker.Shared. The token is a secret: no error or log
// of this type contains it.
type SharedToken struct {
	store  *Store
	vendor string
	locks  Locker
	log    *slog.Logger
	now    func() time.Time
}

// SharedToken returns vendor's shared token, renewed under locks; log
// (nil: discarded) learns when a new token could not be stored.
func (s *Store) SharedToken(vendor string, locks Locker, log *slog.Logger) *SharedToken {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SharedToken{store: s, vendor: vendor, locks: locks, log: log, now: time.Now}
}

var _ tokenbroker.Shared = (*SharedToken)(nil)

// Renew implements tokenbroker.Shared: under the vendor's token lock, it
// returns the stored token unless it is missing or stale, and otherwise
// logs in and stores the new token.
func (t *SharedToken) Renew(ctx context.Context, stale string, login tokenbroker.Login) (string, error) {
	unlock, err := t.locks.Lock(ctx, "logistics.token:"+t.vendor)
	if err != nil {
		return "", fmt.Errorf("store: lock the %s token: %w", t.vendor, err)
	}
	defer unlock()
	token, err := t.load(ctx)
	if err != nil {
		return "", err
	}
	if token != "" && token != stale {
		return token, nil
	}
	token, err = login(ctx)
	if err != nil {
		return "", err
	}
	if _, err := t.store.db.ExecContext(ctx, `
		INSERT INTO logistics_vendor_tokens (vendor, token, obtained_at) VALUES ($1, $2, $3)
		ON CONFLICT (vendor) DO UPDATE SET token = excluded.token, obtained_at = excluded.obtained_at`,
		t.vendor, token, t.now().UnixMilli()); err != nil {
		// The new token still serves this replica; the others log in
		// again when they find the stored one refused.
		t.log.ErrorContext(ctx, "could not store the new vendor token for the other replicas", "vendor", t.vendor, "error", err.Error())
		return token, nil
	}
	return token, nil
}

// load reads the stored token ("" when there is none).
func (t *SharedToken) load(ctx context.Context) (string, error) {
	var token string
	err := t.store.db.QueryRowContext(ctx, `SELECT token FROM logistics_vendor_tokens WHERE vendor = $1`, t.vendor).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: read the %s token: %w", t.vendor, err)
	}
	return token, nil
}
