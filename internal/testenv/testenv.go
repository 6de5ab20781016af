// Package testenv is the tests' scaffolding in one place: the real services (the Redis and
// Dovecot scripts/test.sh started, or a redis-server of the test's own), waiting for a condition,
// a log buffer many goroutines write, fixtures, certificates, and Main, which every package's
// TestMain calls.
package testenv

import (
	"os"
	"testing"
)

// IMAPServer returns the private Dovecot's host:port and the login of its one user, started by
// scripts/test.sh (scripts/dovecot.sh). It fails loudly when they are missing.
func IMAPServer(t testing.TB) (addr, user, pass string) {
	t.Helper()
	addr, user, pass = os.Getenv("RMAD_TEST_IMAP"), os.Getenv("RMAD_TEST_IMAP_USER"), os.Getenv("RMAD_TEST_IMAP_PASS")
	if addr == "" || user == "" || pass == "" {
		t.Fatal("RMAD_TEST_IMAP, RMAD_TEST_IMAP_USER or RMAD_TEST_IMAP_PASS is not set: run the tests with `make test`, which starts a private Dovecot")
	}
	return addr, user, pass
}
