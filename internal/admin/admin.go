// Package admin is vendorgate-admin: it reads the usage ledger of every
// service through their GetUsage RPCs and manages the callers and API keys
// kept in the shared store. cmd/vendorgate-admin is its command line.
package admin

import (
	"context"
	"fmt"
	"io"
)

const usageText = `usage:
  vendorgate-admin usage [-services name=url,…] [-key KEY] [-start DAY|RFC3339] [-end DAY|RFC3339] [-format table|csv]
  vendorgate-admin callers put -database URL -name NAME -allow PATTERN [-allow PATTERN…] [-rate N] [-cap YUAN]
  vendorgate-admin callers list -database URL
  vendorgate-admin keys add -database URL -caller NAME
  vendorgate-admin keys revoke -database URL -caller NAME -key KEY_OR_HASH`

// Run executes one command line (without the program name), writing to
// out; getenv reads the environment (os.Getenv).
func Run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usageText)
	}
	switch args[0] {
	case "usage":
		return usageCmd(ctx, args[1:], out, getenv)
	case "callers":
		return callersCmd(ctx, args[1:], out, getenv)
	case "keys":
		return keysCmd(ctx, args[1:], out, getenv)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(out, usageText)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usageText)
}
