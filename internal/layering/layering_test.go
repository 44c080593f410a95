// Package layering holds the test of the services' import graph: each
// service's transport (internal/server) reaches its store and vendor
// client only through a use-case package, a use-case never reaches up to
// the transport, and proto types never reach a vendor client.
// kratos-layout's biz/service split, checked with go list.
package layering

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/vendorgate/vendorgate/"

// layers names, per service, its vendor clients and simulators (the
// packages that speak the vendor's wire), its store, and its use-case
// packages.
var layers = map[string]struct {
	vendor, useCase []string
}{
	"delivery":  {vendor: []string{"dingdang", "dingdangsim"}, useCase: []string{"dispatch", "tracking"}},
	"esign":     {vendor: []string{"fadada", "fadadasim"}, useCase: []string{"contracts", "links"}},
	"logistics": {vendor: []string{"damaijia", "damaijiasim", "post30", "post30sim"}, useCase: []string{"billing", "parcels"}},
	"vehicle":   {vendor: []string{"maintenance", "maintenancesim"}, useCase: []string{"reports"}},
}

type pkg struct {
	ImportPath string
	Imports    []string
}

// list is every package of the module with its direct imports.
func list(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/vendorgate/vendorgate/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p.Imports
	}
	return pkgs
}

func TestServicesAreLayered(t *testing.T) {
	pkgs := list(t)
	for service, l := range layers {
		internal := module + "services/" + service + "/internal/"
		server := internal + "server"
		if _, ok := pkgs[server]; !ok {
			t.Fatalf("%s has no package %s", service, server)
		}
		below := []string{internal + "store"}
		for _, v := range l.vendor {
			below = append(below, internal+v)
		}
		for _, imp := range pkgs[server] {
			if slices.Contains(below, imp) {
				t.Errorf("%s imports %s: a server reaches its store and vendor only through a use-case package (%s)",
					server, path.Base(imp), strings.Join(l.useCase, ", "))
			}
		}
		for _, uc := range l.useCase {
			p := internal + uc
			imports, ok := pkgs[p]
			if !ok {
				t.Errorf("%s has no use-case package %s", service, p)
				continue
			}
			if slices.Contains(imports, server) {
				t.Errorf("%s imports its server: the use-case sits below the transport", p)
			}
		}
		for _, v := range l.vendor {
			for _, imp := range pkgs[internal+v] {
				if strings.HasPrefix(imp, module+"gen/go/") {
					t.Errorf("%s imports %s: proto types never reach the vendor's client", internal+v, imp)
				}
			}
		}
	}
}
