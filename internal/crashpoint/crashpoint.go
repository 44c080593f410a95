// Package crashpoint marks the places where a process dying would hurt
// most: after a vendor applied a call and before the local commit that
// records it. Production code calls Hit at those places; it does nothing
// unless a test installed a hook (package crashpointtest, imported only by
// tests), which then kills the process there to prove that a restart
// neither loses nor repeats the vendor's work.
package crashpoint

import "sync/atomic"

// hook is the test's function, or nil.
var hook atomic.Pointer[func(name string)]

// Hit marks the named point. Names read "<package>.<step>", e.g.
// "idempotency.before-commit:CreateOrder".
func Hit(name string) {
	if h := hook.Load(); h != nil {
		(*h)(name)
	}
}

// SetHook installs f, called by every Hit; nil removes it. Only tests do
// this, through package crashpointtest.
func SetHook(f func(name string)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}
