//go:build !linux

package residency

// ReleaseExecutable does nothing where /proc/self/smaps is not.
func ReleaseExecutable() (int64, error) { return 0, nil }
