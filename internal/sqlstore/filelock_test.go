package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vendorgate/vendorgate/internal/sqlstore"
	"github.com/vendorgate/vendorgate/internal/sqlstore/sqlstoretest"
)

// TestSQLiteFileServesOneProcess: a SQLite file that is open cannot be
// opened again (flock is per open file, so a second open in this process
// stands for a second process), and can once it is closed.
func TestSQLiteFileServesOneProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := sqlstoretest.SQLiteURL(t)
	first, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if !first.OneProcessOnly() {
		t.Error("got OneProcessOnly false for SQLite")
	}
	if second, err := sqlstore.Open(ctx, url); !errors.Is(err, sqlstore.ErrSQLiteInUse) {
		if second != nil {
			_ = second.Close()
		}
		t.Fatalf("second open: got %v, want ErrSQLiteInUse", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlstore.Open(ctx, url)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	_ = again.Close()
}
