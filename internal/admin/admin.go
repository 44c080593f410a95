// Package admin is vendorgate-admin: it reads the usage ledger of every
// service through their GetUsage RPCs and manages the callers and API keys
// kept in the shared store. cmd/vendorgate-admin is its command line.
package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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
	}
	if isHelp(args[0]) {
		fmt.Fprintln(out, usageText)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usageText)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// parseFlags parses args into fs. -h prints the command's flags to out and
// reports help; a bad flag is an error that lists them.
func parseFlags(fs *flag.FlagSet, args []string, out io.Writer) (help bool, err error) {
	err = fs.Parse(args)
	if err == nil {
		return false, nil
	}
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(out, "usage: vendorgate-admin %s [flags]\n%s", fs.Name(), flags.String())
		return true, nil
	}
	return false, fmt.Errorf("%s: %w\nflags:\n%s", fs.Name(), err, flags.String())
}
