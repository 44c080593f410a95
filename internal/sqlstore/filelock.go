package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrSQLiteInUse is opening a SQLite file that another process has open.
var ErrSQLiteInUse = errors.New("is in use by another process; SQLite serves one process only: give each process its own file, or point every replica at PostgreSQL")

// lockSQLiteFile takes an exclusive advisory lock (flock) on a SQLite
// database file, created when missing, for as long as the database is
// open: two processes sharing one SQLite file would each trust their own
// in-process locks, so the second is refused. SQLite's own locks are POSIX
// record locks, which flock does not disturb. It returns the release.
func lockSQLiteFile(dsn string) (func(), error) {
	path, _, _ := strings.Cut(dsn, "?")
	path = strings.TrimPrefix(path, "file:")
	if path == "" || isMemory(dsn) {
		return func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open SQLite file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlstore: SQLite file %s %w", path, ErrSQLiteInUse)
		}
		return nil, fmt.Errorf("sqlstore: lock SQLite file %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil
}
