package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vendorgate/vendorgate/internal/auth"
	"github.com/vendorgate/vendorgate/internal/sqlstore"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// openStore opens the shared store's caller tables.
func openStore(ctx context.Context, url string) (*auth.Store, func(), error) {
	if url == "" {
		return nil, nil, errors.New("no database: pass -database or set VENDORGATE_DATABASE_URL (the services' shared <SERVICE>_DATABASE_URL)")
	}
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	st, err := auth.OpenStore(ctx, db, "admin", nil)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return st, func() { _ = db.Close() }, nil
}

func callersCmd(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("callers: want put or list\n%s", usageText)
	}
	if isHelp(args[0]) {
		fmt.Fprintln(out, usageText)
		return nil
	}
	fs := flag.NewFlagSet("callers "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The default is applied after parsing, so that -h never prints a
	// database password.
	database := fs.String("database", "", "the shared store (default $VENDORGATE_DATABASE_URL)")
	name := fs.String("name", "", "the caller's name")
	var allow stringList
	fs.Var(&allow, "allow", "an allowed RPC pattern, e.g. vendorgate.delivery.v1.DeliveryService/* (repeatable)")
	rate := fs.Float64("rate", 0, "requests per second per service; 0 is no limit")
	capYuan := fs.String("cap", "", "daily spend cap per service in yuan; empty is no cap")
	if help, err := parseFlags(fs, args[1:], out); help || err != nil {
		return err
	}
	if *database == "" {
		*database = getenv("VENDORGATE_DATABASE_URL")
	}
	st, closeStore, err := openStore(ctx, *database)
	if err != nil {
		return err
	}
	defer closeStore()
	switch args[0] {
	case "put":
		c := auth.Caller{Name: *name, Allow: allow, RatePerSecond: *rate, DailySpendCapYuan: *capYuan}
		if err := st.PutCaller(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(out, "caller %s stored; create its key with: vendorgate-admin keys add -caller %s\n", c.Name, c.Name)
		return nil
	case "list":
		callers, err := st.Callers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKEYS\tRATE\tCAP_YUAN\tALLOW")
		for _, c := range callers {
			fmt.Fprintf(tw, "%s\t%d\t%g\t%s\t%s\n", c.Name, len(c.Keys), c.RatePerSecond, c.DailySpendCapYuan, strings.Join(c.Allow, " "))
		}
		return tw.Flush()
	}
	return fmt.Errorf("callers: unknown command %q", args[0])
}

func keysCmd(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("keys: want add or revoke\n%s", usageText)
	}
	if isHelp(args[0]) {
		fmt.Fprintln(out, usageText)
		return nil
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The default is applied after parsing, so that -h never prints a
	// database password.
	database := fs.String("database", "", "the shared store (default $VENDORGATE_DATABASE_URL)")
	caller := fs.String("caller", "", "the caller's name")
	key := fs.String("key", "", "revoke: the key, or its sha256:<hex> hash")
	if help, err := parseFlags(fs, args[1:], out); help || err != nil {
		return err
	}
	if *database == "" {
		*database = getenv("VENDORGATE_DATABASE_URL")
	}
	if *caller == "" {
		return errors.New("keys: -caller is required")
	}
	st, closeStore, err := openStore(ctx, *database)
	if err != nil {
		return err
	}
	defer closeStore()
	switch args[0] {
	case "add":
		k, err := st.AddKey(ctx, *caller)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", k)
		return nil
	case "revoke":
		if *key == "" {
			return errors.New("keys revoke: -key is required (the key or its sha256:<hex> hash)")
		}
		if err := st.RevokeKey(ctx, *caller, *key); err != nil {
			return err
		}
		fmt.Fprintf(out, "key revoked; services stop accepting it within AUTH_RELOAD_INTERVAL\n")
		return nil
	}
	return fmt.Errorf("keys: unknown command %q", args[0])
}
