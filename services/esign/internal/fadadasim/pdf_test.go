package fadadasim

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/examples/contract.pdf")

// samplePDF is the README's sample contract, made by PDF.
const samplePDF = "../../../../docs/examples/contract.pdf"

// TestSamplePDF checks that docs/examples/contract.pdf is what PDF makes
// (-update rewrites it).
func TestSamplePDF(t *testing.T) {
	t.Parallel()
	want := PDF("vendorgate sample contract", "borrower: {borrower}", "amount: {amount}")
	if *update {
		if err := os.WriteFile(samplePDF, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(samplePDF)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got %d bytes, want the %d bytes of PDF(...); run with -update", samplePDF, len(got), len(want))
	}
}

// TestPDFCrossReference checks that every xref offset points at its
// object and startxref at the xref table: what a PDF reader relies on.
func TestPDFCrossReference(t *testing.T) {
	t.Parallel()
	pdf := PDF("a (b) \\ c", "中文")
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(pdf)
	if m == nil {
		t.Fatalf("got no startxref trailer in %q", pdf)
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(pdf[xref:], []byte("xref\n0 6\n")) {
		t.Fatalf("startxref %d: got %.12q, want the xref table", xref, pdf[xref:])
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n `).FindAllSubmatch(pdf[xref:], -1)
	if len(entries) != 5 {
		t.Fatalf("got %d xref entries, want 5", len(entries))
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		if want := strconv.Itoa(i+1) + " 0 obj"; !bytes.HasPrefix(pdf[off:], []byte(want)) {
			t.Errorf("xref entry %d at %d: got %.10q, want %q", i+1, off, pdf[off:], want)
		}
	}
}
