// Package testenv gives tests the real services that scripts/test.sh started.
package testenv

import (
	"os"
	"testing"
)

// RedisAddr returns the private redis-server's host:port. A test that needs Redis fails loudly
// without it: CI must never skip such a test silently.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("RMAD_TEST_REDIS")
	if addr == "" {
		t.Fatal("RMAD_TEST_REDIS is not set: run the tests with `make test`, which starts a private redis-server")
	}
	return addr
}
