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

// IMAPServer returns the private Dovecot's host:port and the login of its one user, started by
// scripts/test.sh (scripts/dovecot.sh). Like RedisAddr, it fails loudly when they are missing.
func IMAPServer(t testing.TB) (addr, user, pass string) {
	t.Helper()
	addr, user, pass = os.Getenv("RMAD_TEST_IMAP"), os.Getenv("RMAD_TEST_IMAP_USER"), os.Getenv("RMAD_TEST_IMAP_PASS")
	if addr == "" || user == "" || pass == "" {
		t.Fatal("RMAD_TEST_IMAP, RMAD_TEST_IMAP_USER or RMAD_TEST_IMAP_PASS is not set: run the tests with `make test`, which starts a private Dovecot")
	}
	return addr, user, pass
}
