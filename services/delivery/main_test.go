package main

import (
	"testing"

	"github.com/vendorgate/vendorgate/internal/proctest"
)

// TestMain lets proctest re-execute this test binary as the service.
func TestMain(m *testing.M) { proctest.Main(m, run) }
