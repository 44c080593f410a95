package residency

import (
	"os"
	"syscall"
)

// ReleaseExecutable unmaps the resident pages of the running binary's
// read-only mappings and returns how many bytes were resident in them.
func ReleaseExecutable() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	maps, err := parseSmaps(f)
	if err != nil {
		return 0, err
	}
	var released int64
	for _, m := range maps {
		if !m.releasable(exe) {
			continue
		}
		// The mapping's own addresses, not Go memory: no pointer is made
		// of them.
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return released, os.NewSyscallError("madvise", errno)
		}
		released += m.rssKB << 10
	}
	return released, nil
}
