package testenv

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/rmad/rmad/internal/recovered"
)

// Main runs a package's tests; every package's TestMain calls it:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// It fails the run when code under test recovered from a panic (and logged it) that no test
// caused on purpose with a Deliberate value: the daemon survives such a panic, so without this
// a bug would pass unseen. It also stops the redis-server RedisAddr started, if any.
func Main(m *testing.M) {
	var (
		mu         sync.Mutex
		unexpected []string
	)
	recovered.OnPanic(func(v any) {
		if IsDeliberate(v) {
			return
		}
		mu.Lock()
		unexpected = append(unexpected, fmt.Sprint(v))
		mu.Unlock()
	})
	code := m.Run()
	stopSharedRedis()
	mu.Lock()
	defer mu.Unlock()
	if len(unexpected) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d panic(s) recovered during the tests (see the logged stack); a recovered panic is still a bug:\n", len(unexpected))
		for _, v := range unexpected {
			fmt.Fprintf(os.Stderr, "\tpanic: %s\n", v)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Deliberate is the panic value of a test that makes code panic on purpose, to test how it
// recovers; Main does not count it. It is an error, so it survives recoverers that wrap a
// panic into an error (robfig/cron's Recover keeps an error value as it is).
type Deliberate string

func (d Deliberate) Error() string { return "deliberate test panic: " + string(d) }

// IsDeliberate reports whether a recovered panic value is (or wraps) a Deliberate one.
func IsDeliberate(v any) bool {
	if _, ok := v.(Deliberate); ok {
		return true
	}
	var d Deliberate
	err, ok := v.(error)
	return ok && errors.As(err, &d)
}
