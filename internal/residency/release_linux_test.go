package residency

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// rssFileKB is the process's resident file-backed memory.
func rssFileKB(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// The test binary's own pages are released, and the process runs on:
// what it touches next is mapped back from the page cache.
func TestReleaseExecutable(t *testing.T) {
	before := rssFileKB(t)
	released, err := ReleaseExecutable()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("RssFile %d kB → %d kB, released %d kB", before, after, released>>10)
	if released < 512<<10 {
		t.Errorf("released %d bytes, want the test binary's code and tables", released)
	}
	// Reading the status maps some pages back at once (in 64 KiB windows,
	// a large share of a small test binary): 1.1 of 2.8 MB here.
	if after > before-256 {
		t.Errorf("RssFile %d kB → %d kB after releasing %d kB", before, after, released>>10)
	}
	runtime.GC() // walks the stacks with the runtime's tables, mapped back
	if _, err := ReleaseExecutable(); err != nil {
		t.Fatal(err)
	}
}
