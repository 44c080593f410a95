// Package residency gives back to the kernel the pages of the service's
// own binary that start-up alone touched.
//
// A Go binary's code and read-only tables (.text, .rodata, the pclntab the
// runtime walks stacks with) are mapped from its file. Package
// initialisation, the migrations, the request validator and the route
// tables touch code and tables spread over the whole binary, and the
// kernel maps a file's cached pages around each fault (64 KiB windows), so
// a service that has just started keeps three quarters of a 53 MB binary
// resident: 26 of its 35 MB idle RSS, against 8 MB of memory of its own.
// Most of it never runs again.
//
// ReleaseExecutable unmaps those pages once the service serves
// (madvise MADV_DONTNEED on the binary's read-only mappings). They stay in
// the page cache, shared and reclaimable like any cached file; what the
// service touches again is mapped back on its next access, a minor fault.
// Writable mappings, and read-only ones holding pages of the process's own
// (a relocated RELRO segment of a position-independent build shows them as
// Anonymous in /proc/self/smaps), are never touched: discarding those
// would lose data.
package residency

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mapping is one of the process's file mappings, as /proc/self/smaps
// describes it.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rssKB      int64
	anonKB     int64
}

// releasable reports whether m is a mapping of exe (or of exe replaced on
// disk since, which smaps shows as "exe (deleted)") that can be unmapped
// without losing data: read-only, and with no page the process wrote or
// that was copied on write.
func (m mapping) releasable(exe string) bool {
	return (m.path == exe || m.path == exe+" (deleted)") &&
		!strings.Contains(m.perms, "w") && m.anonKB == 0 && m.rssKB > 0
}

// parseSmaps reads the mappings of an smaps file: a header line per
// mapping ("start-end perms offset dev inode [path]") followed by
// "Key:   value kB" lines.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if m, ok := header(line); ok {
			maps = append(maps, m)
			continue
		}
		if len(maps) == 0 {
			return nil, fmt.Errorf("smaps: %q before any mapping", line)
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var field *int64
		switch string(key) {
		case "Rss":
			field = &maps[len(maps)-1].rssKB
		case "Anonymous":
			field = &maps[len(maps)-1].anonKB
		default:
			continue
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(value), []byte(" kB"))), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps: %s: %w", key, err)
		}
		*field = kb
	}
	return maps, sc.Err()
}

// header parses a mapping's header line; ok is false for any other line.
func header(line []byte) (m mapping, ok bool) {
	fields := strings.Fields(string(line))
	if len(fields) < 5 {
		return m, false
	}
	lo, hi, found := strings.Cut(fields[0], "-")
	if !found {
		return m, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || end <= start {
		return m, false
	}
	m = mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
	if len(fields) >= 6 {
		// A path may hold spaces; the fields before it never do.
		m.path = strings.Join(fields[5:], " ")
	}
	return m, true
}
