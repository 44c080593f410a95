// Package crashpointtest kills the process at a crashpoint. It is imported
// only by tests, so the kill is never compiled into a service binary.
package crashpointtest

import (
	"fmt"
	"os"

	"github.com/vendorgate/vendorgate/internal/crashpoint"
)

// ExitCode is the exit status of a process killed at its crashpoint.
const ExitCode = 86

// ExitAt makes the process exit at once, with ExitCode and without running
// deferred functions or flushing anything, when crashpoint.Hit(name) runs:
// as close to a power cut as a test can get.
func ExitAt(name string) {
	crashpoint.SetHook(func(hit string) {
		if hit == name {
			fmt.Fprintf(os.Stderr, "crashpointtest: exiting at %s\n", name)
			os.Exit(ExitCode)
		}
	})
}
