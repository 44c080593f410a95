// Command vendorgate-admin reads the usage ledger of every service and
// manages the callers and API keys kept in the shared store.
//
//	vendorgate-admin usage [-services delivery=http://127.0.0.1:8081,…] [-key KEY] [-start 2026-11-01] [-end 2026-12-01] [-format table|csv]
//	vendorgate-admin callers put -database URL -name NAME -allow 'pkg.Service/*' [-allow …] [-rate 50] [-cap 500]
//	vendorgate-admin callers list -database URL
//	vendorgate-admin keys add -database URL -caller NAME       (prints the new key once)
//	vendorgate-admin keys revoke -database URL -caller NAME -key KEY_OR_SHA256_HASH
//
// The key of usage defaults to $VENDORGATE_KEY, the database to
// $VENDORGATE_DATABASE_URL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/vendorgate/vendorgate/internal/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := admin.Run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "vendorgate-admin:", err)
		os.Exit(1)
	}
}
