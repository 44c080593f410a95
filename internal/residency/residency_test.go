package residency

import (
	"strings"
	"testing"
)

// A position-independent build's smaps, abridged: its RELRO segment is
// read-only but relocated (Anonymous), and must never be released.
const smaps = `00400000-00e5c000 r-xp 00000000 fd:01 1234 /srv/vehicle
Size:              10608 kB
Rss:                9280 kB
Anonymous:             0 kB
00e5c000-01d6d000 r--p 00a5c000 fd:01 1234 /srv/vehicle
Size:              15428 kB
Rss:               12100 kB
Anonymous:             0 kB
01d6d000-01d9a000 r--p 0196d000 fd:01 1234 /srv/vehicle
Size:                180 kB
Rss:                 180 kB
Anonymous:           176 kB
01d9a000-01dd1000 rw-p 0199a000 fd:01 1234 /srv/vehicle
Size:                220 kB
Rss:                 140 kB
Anonymous:            96 kB
01dd1000-01e00000 rw-p 00000000 00:00 0
Size:                188 kB
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000010000 r--p 00000000 fd:01 99 /srv/other file.db
Size:                 64 kB
Rss:                  64 kB
Anonymous:             0 kB
7f0000010000-7f0000020000 r--p 00000000 fd:01 1234 /srv/vehicle
Size:                 64 kB
Rss:                   0 kB
Anonymous:             0 kB
7f0000020000-7f0000030000 r-xp 00000000 fd:01 1233 /srv/vehicle (deleted)
Size:                 64 kB
Rss:                  64 kB
Anonymous:             0 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  12 kB
Anonymous:            12 kB
`

func TestOnlyTheBinarysCleanReadOnlyPagesAreReleasable(t *testing.T) {
	maps, err := parseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 9 {
		t.Fatalf("parsed %d mappings, want 9: %+v", len(maps), maps)
	}
	var got []string
	for _, m := range maps {
		if m.releasable("/srv/vehicle") {
			got = append(got, m.perms)
		}
	}
	if strings.Join(got, " ") != "r-xp r--p r-xp" {
		t.Errorf("releasable: %v, want the code and the clean read-only data only, of the binary as it was started too", got)
	}
	if maps[5].path != "/srv/other file.db" || maps[2].anonKB != 176 || maps[1].rssKB != 12100 {
		t.Errorf("fields: %+v", maps)
	}
}

func TestParseSmapsRefusesAFieldBeforeAMapping(t *testing.T) {
	if _, err := parseSmaps(strings.NewReader("Rss: 4 kB\n")); err == nil {
		t.Error("no error")
	}
	if _, err := parseSmaps(strings.NewReader("00400000-00e5c000 r-xp 0 fd:01 1 /x\nRss: lots kB\n")); err == nil {
		t.Error("no error for an unreadable size")
	}
}
