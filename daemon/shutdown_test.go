package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/ingest/mailbox"
	"github.com/rmad/rmad/internal/testenv"
)

// Every mailbox failing at once (here twelve on a server that offers neither MOVE nor UIDPLUS,
// so each watcher stops with ErrNoSafeMove) stops the daemon with the first failure: no failing
// component is left blocked, so the shutdown completes instead of waiting for systemd's kill.
// READY is held back until all twelve have failed, so that every failure is reported before the
// daemon begins to stop (otherwise the later watchers may see the stop first and fail quietly).
func TestShutdownCompletesWhenEveryMailboxFails(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	addr := startIMAPWithoutMove(t, h.box.user, h.box.pass)
	one := h.cfg.IMAP[0]
	h.cfg.IMAP = nil
	for i := range 12 {
		mb := one
		mb.Name = fmt.Sprintf("box%02d", i)
		mb.Address = addr
		mb.Mailbox = "INBOX"
		h.cfg.IMAP = append(h.cfg.IMAP, mb)
	}
	allFailed := func() {
		testenv.Eventually(t, waitLong, "twelve watchers stopped", func() bool {
			return bytes.Count(h.logs.Bytes(), []byte(`"message":"stopped"`)) >= 12
		})
		time.Sleep(200 * time.Millisecond) // from the log line to the report of the failure
	}
	d, err := daemon.New(context.Background(), h.cfg, config.NewLogger(h.cfg.Log, h.logs),
		daemon.Options{Grace: time.Second, Ready: allFailed})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, mailbox.ErrNoSafeMove) {
			t.Errorf("Run = %v; want the first mailbox's ErrNoSafeMove", err)
		}
	case <-time.After(waitLong):
		t.Fatalf("the daemon did not stop within %s after every mailbox failed", waitLong)
	}
}

// startIMAPWithoutMove serves go-imap's in-memory server with IMAP4rev1 and IDLE only.
func startIMAPWithoutMove(t *testing.T, user, pass string) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, pass)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}},
		InsecureAuth: true, // loopback only
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}
