// Package recovered is told of every panic rmad recovers from: a queue handler's becomes a failed
// attempt, an HTTP handler's a 500, a scheduled job's a run that ended early. The daemon lives on,
// but each is still a bug, so the tests fail a run in which one happened that the test did not
// cause on purpose (internal/testenv.Main).
package recovered

import "sync/atomic"

var hook atomic.Pointer[func(v any)]

// Panic reports a recovered panic with its value; call it where the panic is logged.
func Panic(v any) {
	if h := hook.Load(); h != nil {
		(*h)(v)
	}
}

// OnPanic has f called with the value of every panic reported from now on (nil: none).
func OnPanic(f func(v any)) {
	if f == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&f)
}
