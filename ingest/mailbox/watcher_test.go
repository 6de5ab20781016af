package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

var limits = config.Limits{MaxMessageBytes: 1 << 20}

func TestDeliverAndMove(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	raws := [][]byte{mail(1, "RMA one", 300), mail(2, "RMA two", 3000), mail(3, "RMA three", 30000)}
	var uids []uint32
	for _, raw := range raws {
		uids = append(uids, srv.appendMail("INBOX", raw))
	}
	sink, cur := newSink(), newCursor()
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, cur, nil)
	run(t, w)

	for i := range raws {
		m := sink.next(t)
		if m.UID != uids[i] {
			t.Fatalf("mail %d: uid %d, want %d (UID order)", i, m.UID, uids[i])
		}
		if !bytes.Equal(m.Raw, raws[i]) {
			t.Errorf("mail %d: raw differs from what was appended", i)
		}
		if m.Size != int64(len(raws[i])) || m.TooLarge || m.Mailbox != "partners" || m.UIDValidity == 0 {
			t.Errorf("mail %d: %+v", i, Mail{Mailbox: m.Mailbox, UIDValidity: m.UIDValidity, UID: m.UID, Size: m.Size, TooLarge: m.TooLarge})
		}
		if !bytes.HasPrefix(m.Raw, m.Header) || !bytes.HasSuffix(m.Header, []byte("\r\n\r\n")) ||
			!bytes.Contains(m.Header, []byte("Subject: RMA")) || bytes.Contains(m.Header, []byte("EAN:")) {
			t.Errorf("mail %d: header block %q", i, m.Header)
		}
	}
	testenv.Eventually(t, waitTimeout, "mails moved to processed", func() bool {
		return srv.count("INBOX") == 0 && srv.count("RMA/Processed") == 3
	})
	if n := srv.count("RMA/Rejected"); n != 0 {
		t.Errorf("rejected mailbox has %d mails, want 0 (and must exist)", n)
	}
	testenv.Eventually(t, waitTimeout, "cursor", func() bool {
		uv, last := cur.get("partners")
		return uv == w.State().UIDValidity && last == uids[2]
	})
	// The state counts a sync's deliveries when the sync ends, after the moves and the cursor.
	testenv.Eventually(t, waitTimeout, "sync counted", func() bool { st := w.State(); return st.Delivered == 3 && !st.LastSync.IsZero() })
	st := w.State()
	if !st.Connected || !st.IdleCapable {
		t.Errorf("state %+v", st)
	}
	if len(sink.delivered()) != 3 {
		t.Errorf("delivered %d times, want 3", len(sink.delivered()))
	}
}

func TestDispositions(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	sink := newSink()
	sink.setDecide(func(m Mail) (Disposition, error) {
		if bytes.Contains(m.Header, []byte("Subject: Out of office")) {
			return Rejected, nil
		}
		return Processed, nil
	})
	srv.appendMail("INBOX", mail(1, "RMA request", 200))
	srv.appendMail("INBOX", mail(2, "Out of office", 200))
	srv.appendMail("INBOX", mail(3, "RMA request", 200))
	run(t, newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil))

	testenv.Eventually(t, waitTimeout, "mails sorted into folders", func() bool {
		return srv.count("INBOX") == 0 && srv.count("RMA/Processed") == 2 && srv.count("RMA/Rejected") == 1
	})
	c := dialLogin(t, srv.Addr(), testUser, testPass)
	if _, err := c.Select("RMA/Rejected", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "Out of office" {
		t.Fatalf("rejected folder holds %v, %v; want the out-of-office mail", msgs, err)
	}
}

func TestTooLargeIsRejectedWithoutBody(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	small := mail(1, "small", 500)
	big := mail(2, "huge attachment", 4<<20)
	srv.appendMail("INBOX", small)
	srv.appendMail("INBOX", big)
	sink := newSink()
	sink.setDecide(func(Mail) (Disposition, error) { return Processed, nil }) // the watcher overrides it
	run(t, newTestWatcher(t, mboxConfig(srv.Addr()), config.Limits{MaxMessageBytes: 64 << 10}, sink, newCursor(), nil))

	first, second := sink.next(t), sink.next(t)
	if first.TooLarge || !bytes.Equal(first.Raw, small) {
		t.Errorf("small mail: too_large=%v", first.TooLarge)
	}
	if !second.TooLarge || second.Raw != nil || second.Size != int64(len(big)) {
		t.Errorf("big mail: too_large=%v raw=%d bytes size=%d", second.TooLarge, len(second.Raw), second.Size)
	}
	if !bytes.Equal(second.Header, headerOf(big)) {
		t.Errorf("big mail header %q, want %q", second.Header, headerOf(big))
	}
	testenv.Eventually(t, waitTimeout, "big mail in rejected, small in processed", func() bool {
		return srv.count("INBOX") == 0 && srv.count("RMA/Rejected") == 1 && srv.count("RMA/Processed") == 1
	})
	// The 4 MiB body never crossed the wire: everything the server sent is far smaller.
	if sent := srv.bytesSent(); sent > 256<<10 {
		t.Errorf("server sent %d bytes: the big body was downloaded", sent)
	}
}

func TestSinkErrorLeavesMailAndRetries(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	var failing atomic.Bool
	failing.Store(true)
	var attempts atomic.Int32
	sink := newSink()
	sink.setDecide(func(m Mail) (Disposition, error) {
		if bytes.Contains(m.Header, []byte("Subject: poison")) && failing.Load() {
			attempts.Add(1)
			return 0, errors.New("redis: connection refused")
		}
		return Processed, nil
	})
	srv.appendMail("INBOX", mail(1, "poison", 200))
	srv.appendMail("INBOX", mail(2, "fine", 200))
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil)
	run(t, w)

	// The good mail is not held up by the failing one; the failing one is retried (without
	// polling: the poll interval is an hour) and stays in INBOX meanwhile.
	testenv.Eventually(t, waitTimeout, "good mail moved, failing one retried", func() bool {
		return srv.count("RMA/Processed") == 1 && attempts.Load() >= 3
	})
	if n := srv.count("INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d mails, want the failing one", n)
	}
	if st := w.State(); !strings.Contains(st.LastError, "connection refused") || !st.Connected {
		t.Errorf("state after sink errors: %+v", st)
	}
	failing.Store(false)
	testenv.Eventually(t, waitTimeout, "failing mail delivered once the sink recovers", func() bool {
		return srv.count("INBOX") == 0 && srv.count("RMA/Processed") == 2
	})
}

func TestCursorFailureDoesNotMove(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	cur := newCursor()
	cur.fail.Store(true)
	sink := newSink()
	srv.appendMail("INBOX", mail(1, "RMA", 200))
	run(t, newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, cur, nil))

	sink.next(t)
	sink.next(t) // delivered again: the cursor could not be set, so the mail was not moved
	if n := srv.count("INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d mails, want 1", n)
	}
	cur.fail.Store(false)
	testenv.Eventually(t, waitTimeout, "moved once the cursor can be set", func() bool { return srv.count("RMA/Processed") == 1 })
}

// confirmSink is a Sink whose deliveries the replicas have not confirmed while unconfirmed is set.
type confirmSink struct {
	*recSink
	unconfirmed atomic.Bool
	confirms    atomic.Int32
}

func (s *confirmSink) Confirm(context.Context) error {
	s.confirms.Add(1)
	if s.unconfirmed.Load() {
		return errors.New("redis: WAIT: 0 of 1 replicas confirmed the write")
	}
	return nil
}

// A delivery the Sink cannot confirm (the replicas do not have it) moves nothing and sets no
// cursor: the mail stays in INBOX, is delivered again, and moves once it is confirmed.
func TestUnconfirmedDeliveryDoesNotMove(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	cur := newCursor()
	sink := &confirmSink{recSink: newSink()}
	sink.unconfirmed.Store(true)
	srv.appendMail("INBOX", mail(1, "RMA", 200))
	srv.appendMail("INBOX", mail(2, "RMA", 200))
	run(t, newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, cur, nil))

	for range 4 { // both mails, twice: not confirmed, so offered again
		sink.next(t)
	}
	if n := srv.count("INBOX"); n != 2 || srv.count("RMA/Processed") != 0 {
		t.Fatalf("INBOX holds %d mails, processed %d; want 2 and 0", n, srv.count("RMA/Processed"))
	}
	if _, last := cur.get("partners"); last != 0 {
		t.Errorf("cursor at %d before the confirmation", last)
	}
	// The second round's Confirm comes after its deliveries.
	testenv.Eventually(t, waitTimeout, "Confirm asked each round", func() bool { return sink.confirms.Load() >= 2 })
	sink.unconfirmed.Store(false)
	testenv.Eventually(t, waitTimeout, "moved once confirmed", func() bool { return srv.count("RMA/Processed") == 2 })
}

func TestIdleWakesOnAppend(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	sink := newSink()
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil) // poll: 1 h
	run(t, w)
	testenv.Eventually(t, waitTimeout, "watcher idling", func() bool { return w.State().Idle })

	other := dialLogin(t, srv.Addr(), testUser, testPass)
	raw := mail(1, "new RMA", 400)
	start := time.Now()
	cmd := other.Append("INBOX", int64(len(raw)), nil)
	cmd.Write(raw)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	m := sink.next(t)
	t.Logf("IDLE: delivered %v after the APPEND", time.Since(start))
	if !bytes.Equal(m.Raw, raw) {
		t.Error("wrong mail delivered")
	}
	testenv.Eventually(t, waitTimeout, "moved and idling again", func() bool {
		return srv.count("RMA/Processed") == 1 && w.State().Idle
	})
}

func TestPollingWithoutIdle(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	cfg := mboxConfig(srv.Addr())
	no := false
	cfg.IDLE = &no
	cfg.PollInterval = 50 * time.Millisecond
	sink := newSink()
	w := newTestWatcher(t, cfg, limits, sink, newCursor(), nil)
	run(t, w)
	testenv.Eventually(t, waitTimeout, "connected", func() bool { return w.State().Connected })
	srv.appendMail("INBOX", mail(1, "polled", 200))
	sink.next(t)
	if st := w.State(); st.IdleCapable || st.Idle {
		t.Errorf("idle: false in config, state %+v", st)
	}
}

func TestReconnect(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	sink := newSink()
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil)
	run(t, w)

	srv.appendMail("INBOX", mail(1, "before drop", 200))
	sink.next(t)
	testenv.Eventually(t, waitTimeout, "idling", func() bool { return w.State().Idle })

	before := srv.accepted()
	srv.dropConns() // server-side close while the watcher is in IDLE
	testenv.Eventually(t, waitTimeout, "reconnected", func() bool { return srv.accepted() > before && w.State().Idle })
	srv.appendMail("INBOX", mail(2, "after drop", 200))
	if m := sink.next(t); !bytes.Contains(m.Header, []byte("after drop")) {
		t.Fatalf("got %q", m.Header)
	}
	testenv.Eventually(t, waitTimeout, "moved", func() bool { return srv.count("RMA/Processed") == 2 })

	srv.stop() // the server goes away for a while ...
	testenv.Eventually(t, waitTimeout, "disconnect noticed", func() bool { return !w.State().Connected })
	srv.appendMail("INBOX", mail(3, "while down", 200))
	time.Sleep(100 * time.Millisecond) // a few failed reconnects
	srv.start()                        // ... and comes back on the same address
	if m := sink.next(t); !bytes.Contains(m.Header, []byte("while down")) {
		t.Fatalf("got %q", m.Header)
	}
	testenv.Eventually(t, waitTimeout, "all moved", func() bool { return srv.count("RMA/Processed") == 3 })
	if st := w.State(); st.LastError == "" {
		t.Errorf("the drop left no error in the state: %+v", st)
	}
}

func TestOneWatcherPerMailbox(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	lock := newLocker()
	cur := newCursor()

	// Both sinks count deliveries in flight: two watchers inside Deliver at once would mean two
	// instances processing the mailbox together.
	var inFlight, overlap atomic.Int32
	var mu sync.Mutex
	byWatcher := map[string][]string{}
	mkSink := func(who string) *recSink {
		s := newSink()
		s.setDecide(func(m Mail) (Disposition, error) {
			if inFlight.Add(1) > 1 {
				overlap.Add(1)
			}
			time.Sleep(time.Millisecond)
			inFlight.Add(-1)
			mu.Lock()
			byWatcher[who] = append(byWatcher[who], string(m.Header))
			mu.Unlock()
			return Processed, nil
		})
		return s
	}
	a := newTestWatcher(t, mboxConfig(srv.Addr()), limits, mkSink("a"), cur, lock)
	b := newTestWatcher(t, mboxConfig(srv.Addr()), limits, mkSink("b"), cur, lock)

	// A monitor checks that the two never hold the lease or a connection at the same time.
	var both atomic.Int32
	monCtx, monStop := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		for monCtx.Err() == nil {
			sa, sb := a.State(), b.State()
			if (sa.Leased && sb.Leased) || (sa.Connected && sb.Connected) {
				both.Add(1)
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	t.Cleanup(func() { monStop(); <-monDone })

	stopA := run(t, a)
	testenv.Eventually(t, waitTimeout, "a holds the lease", func() bool { return a.State().Connected })
	run(t, b)
	for i := range 20 {
		srv.appendMail("INBOX", mail(i, fmt.Sprintf("batch one %d", i), 200))
	}
	testenv.Eventually(t, waitTimeout, "20 mails processed", func() bool { return srv.count("RMA/Processed") == 20 })
	mu.Lock()
	if len(byWatcher["a"]) != 20 || len(byWatcher["b"]) != 0 {
		t.Errorf("a delivered %d, b %d; want 20 and 0 (each mail once, by the lease holder)", len(byWatcher["a"]), len(byWatcher["b"]))
	}
	mu.Unlock()

	stopA() // a stops: b takes over
	testenv.Eventually(t, waitTimeout, "b takes over", func() bool { return b.State().Connected })
	for i := range 5 {
		srv.appendMail("INBOX", mail(100+i, fmt.Sprintf("batch two %d", i), 200))
	}
	testenv.Eventually(t, waitTimeout, "25 mails processed", func() bool { return srv.count("RMA/Processed") == 25 })

	// b's lease expires (as when Redis loses it): b disconnects at once, then takes it again.
	before := srv.accepted()
	lock.revoke("partners")
	testenv.Eventually(t, waitTimeout, "b reconnects under a new lease", func() bool {
		return srv.accepted() > before && b.State().Connected
	})
	srv.appendMail("INBOX", mail(200, "batch three", 200))
	testenv.Eventually(t, waitTimeout, "26 mails processed", func() bool { return srv.count("RMA/Processed") == 26 })

	if n := overlap.Load(); n > 0 {
		t.Errorf("two watchers delivered at the same time %d times", n)
	}
	if n := both.Load(); n > 0 {
		t.Errorf("both watchers held the lease or a connection at once (%d samples)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := len(byWatcher["a"]) + len(byWatcher["b"]); got != 26 {
		t.Errorf("%d deliveries for 26 mails", got)
	}
}

func TestMoveFallbackUsesUIDExpunge(t *testing.T) {
	// IMAP4rev1 with UIDPLUS but without MOVE: COPY + STORE \Deleted + UID EXPUNGE.
	srv := newMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}).start()
	t.Cleanup(srv.stop)
	// Someone else's mail, flagged \Deleted but not expunged: a plain EXPUNGE would destroy it.
	srv.appendMail("INBOX", mail(0, "user deleted this", 200), imap.FlagDeleted)
	srv.appendMail("INBOX", mail(1, "RMA", 200))
	srv.appendMail("INBOX", mail(2, "RMA", 200))
	sink := newSink()
	run(t, newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil))

	testenv.Eventually(t, waitTimeout, "mails copied to processed and expunged", func() bool {
		return srv.count("RMA/Processed") == 2 && srv.count("INBOX") == 1
	})
	for _, m := range sink.delivered() {
		if bytes.Contains(m.Header, []byte("user deleted this")) {
			t.Error("a \\Deleted mail was delivered")
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := srv.count("INBOX"); n != 1 {
		t.Errorf("INBOX holds %d mails, want the other \\Deleted mail kept", n)
	}
}

func TestNoMoveNoUIDPlusRefused(t *testing.T) {
	srv := newMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}}).start()
	t.Cleanup(srv.stop)
	srv.appendMail("INBOX", mail(1, "RMA", 200))
	sink := newSink()
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := w.Run(ctx)
	if !errors.Is(err, ErrNoSafeMove) {
		t.Fatalf("Run = %v, want ErrNoSafeMove", err)
	}
	if !strings.Contains(err.Error(), "neither MOVE nor UIDPLUS") || !strings.Contains(err.Error(), "partners") {
		t.Errorf("error not clear enough: %v", err)
	}
	if n := len(sink.delivered()); n != 0 || srv.count("INBOX") != 1 {
		t.Errorf("delivered %d, INBOX %d; want nothing touched", n, srv.count("INBOX"))
	}
	if w.State().LastError == "" {
		t.Error("state has no error")
	}
}

func TestMoveStrategy(t *testing.T) {
	for _, tc := range []struct {
		caps imap.CapSet
		want moveKind
		err  error
	}{
		{imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}, moveNative, nil},
		{imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}}, moveNative, nil},
		{imap.CapSet{imap.CapIMAP4rev2: {}}, moveNative, nil}, // rev2 includes MOVE
		{imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, moveCopyUIDEx, nil},
		{imap.CapSet{imap.CapIMAP4rev1: {}}, 0, ErrNoSafeMove},
		{imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}, imap.CapCondStore: {}}, 0, ErrNoSafeMove},
	} {
		got, err := moveStrategy(tc.caps)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("moveStrategy(%v) = %v, %v; want %v, %v", tc.caps, got, err, tc.want, tc.err)
		}
	}
}

func TestUIDValidityChangeAndLeftoverMail(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	uid := srv.appendMail("INBOX", mail(1, "left behind by a crash before MOVE", 200))

	// Same UIDVALIDITY, cursor already past the mail: it is still delivered.
	uv := func() uint32 {
		c := dialLogin(t, srv.Addr(), testUser, testPass)
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		return sel.UIDValidity
	}()
	cur := newCursor()
	cur.SetCursor(context.Background(), "partners", uv, uid+100)
	sink := newSink()
	stop := run(t, newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, cur, nil))
	if m := sink.next(t); m.UID != uid {
		t.Fatalf("delivered uid %d, want %d", m.UID, uid)
	}
	testenv.Eventually(t, waitTimeout, "moved", func() bool { return srv.count("INBOX") == 0 })
	stop()

	// A different UIDVALIDITY: the cursor is reset and the mailbox rescanned.
	uid2 := srv.appendMail("INBOX", mail(2, "after uidvalidity change", 200))
	cur.SetCursor(context.Background(), "partners", uv+7, 9999)
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, cur, nil)
	run(t, w)
	if m := sink.next(t); m.UID != uid2 || m.UIDValidity != uv {
		t.Fatalf("delivered uid %d/%d, want %d/%d", m.UIDValidity, m.UID, uv, uid2)
	}
	testenv.Eventually(t, waitTimeout, "cursor reset to the new UIDVALIDITY", func() bool {
		gotUV, gotUID := cur.get("partners")
		return gotUV == uv && gotUID == uid2
	})
}

func TestTLSModes(t *testing.T) {
	cert, roots := testenv.SelfSignedCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, mode := range []string{config.TLSImplicit, config.TLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			srv := newMemServer(t, nil)
			srv.tlsConf = serverTLS
			srv.implTLS = mode == config.TLSImplicit
			srv.start()
			t.Cleanup(srv.stop)
			srv.appendMail("INBOX", mail(1, "over tls", 200))
			cfg := mboxConfig(srv.Addr())
			cfg.TLS = mode
			sink := newSink()
			w := newTestWatcher(t, cfg, limits, sink, newCursor(), nil)
			w.tlsConfig = &tls.Config{RootCAs: roots}
			run(t, w)
			sink.next(t)
		})
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := newMemServer(t, nil)
		srv.tlsConf, srv.implTLS = serverTLS, true
		srv.start()
		t.Cleanup(srv.stop)
		cfg := mboxConfig(srv.Addr())
		cfg.TLS = config.TLSImplicit
		w := newTestWatcher(t, cfg, limits, newSink(), newCursor(), nil) // system roots only
		run(t, w)
		testenv.Eventually(t, waitTimeout, "certificate error", func() bool {
			return strings.Contains(w.State().LastError, "certificate")
		})
		if w.State().Connected {
			t.Error("connected despite an untrusted certificate")
		}
	})
}

func TestPlaintextOnlyOnLoopback(t *testing.T) {
	cfg := mboxConfig("192.0.2.10:143")
	w := New(cfg, limits, newSink(), newCursor(), nil, testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := w.Run(ctx); !errors.Is(err, ErrPlaintext) {
		t.Fatalf("Run = %v, want ErrPlaintext", err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:143": true, "[::1]:143": true, "localhost:143": true, "127.1.2.3:10143": true,
		"192.0.2.10:143": false, "imap.example.com:143": false, "localhost.example.com:143": false,
		"[::ffff:10.0.0.1]:143": false, "no-port": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*config.Mailbox){
		"no address":         func(c *config.Mailbox) { c.Address = "" },
		"no processed":       func(c *config.Mailbox) { c.ProcessedMailbox = "" },
		"processed is inbox": func(c *config.Mailbox) { c.ProcessedMailbox = "INBOX" },
		"bad tls":            func(c *config.Mailbox) { c.TLS = "ssl" },
	} {
		cfg := mboxConfig("127.0.0.1:1")
		mod(&cfg)
		err := New(cfg, limits, newSink(), newCursor(), nil, testLogger(t)).Run(context.Background())
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Run = %v, want ErrConfig", name, err)
		}
	}
}

func TestHeaderOf(t *testing.T) {
	for in, want := range map[string]string{
		"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore": "A: 1\r\nB: 2\r\n\r\n",
		"A: 1\nB: 2\n\nbody":                   "A: 1\nB: 2\n\n",
		"A: 1\nB: 2\n\nbody\r\n\r\nmore":       "A: 1\nB: 2\n\n",
		"A: 1\r\nB: 2\r\n":                     "A: 1\r\nB: 2\r\n",
		"":                                     "",
		// What the parser reads past above the header does not end it.
		"\nA: 1\n\nbody":           "\nA: 1\n\n",
		"\r\n\r\nA: 1\r\n\r\nbody": "\r\n\r\nA: 1\r\n\r\n",
		"\xef\xbb\xbfFrom a@b Mon Nov  2 09:04:00 2026\n\nA: 1\n\nb": "\xef\xbb\xbfFrom a@b Mon Nov  2 09:04:00 2026\n\nA: 1\n\n",
	} {
		if got := string(headerOf([]byte(in))); got != want {
			t.Errorf("headerOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlan(t *testing.T) {
	w := New(mboxConfig("127.0.0.1:1"), config.Limits{MaxMessageBytes: 100}, nil, nil, nil, testLogger(t))
	w.batchBytes, w.batchCount = 250, 3
	var msgs []msgInfo
	for i, size := range []int64{10, 10, 10, 10, 200, 500, 600, 90, 90, 90} {
		msgs = append(msgs, msgInfo{uid: imap.UID(i + 1), size: size})
	}
	var got []string
	for _, b := range w.plan(msgs) {
		var uids []string
		for _, m := range b.msgs {
			uids = append(uids, fmt.Sprint(m.uid))
		}
		s := strings.Join(uids, ",")
		if b.tooLarge {
			s += "(headers)"
		}
		got = append(got, s)
	}
	// Runs of whole mails are cut at 3 mails or 250 bytes; 5, 6 and 7 are over the limit.
	want := "1,2,3 | 4 | 5,6,7(headers) | 8,9 | 10"
	if g := strings.Join(got, " | "); g != want {
		t.Errorf("plan = %s, want %s", g, want)
	}
}

func TestBackoffJitter(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	steps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, step := range steps {
		step *= time.Millisecond
		d := b.next()
		if d < step/2 || d > step {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, step/2, step)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
	// Jitter: many draws at one step are not all the same.
	seen := map[time.Duration]bool{}
	for range 20 {
		b := backoff{min: time.Second, max: time.Second}
		seen[b.next()] = true
	}
	if len(seen) < 2 {
		t.Error("no jitter")
	}
}

// The reconnect backoff of a real watcher stops growing at 20 s (10–20 s with jitter).
func TestReconnectBackoffCapped(t *testing.T) {
	w := New(mboxConfig("127.0.0.1:1"), limits, newSink(), newCursor(), nil, testLogger(t))
	b := backoff{min: w.backoffMin, max: w.backoffMax}
	var longest time.Duration
	for range 40 {
		d := b.next()
		longest = max(longest, d)
		if d > 20*time.Second {
			t.Fatalf("reconnect wait %v, want at most 20 s", d)
		}
	}
	if longest < 10*time.Second {
		t.Errorf("longest wait %v: the backoff never reached its cap", longest)
	}
}

// After a 60 s outage of the IMAP server, with the production backoff, the watcher reads the
// mailbox within 10 s of the server's return (it used to wait up to two minutes).
func TestIntakeSoonAfterLongOutage(t *testing.T) {
	t.Parallel()
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	sink := newSink()
	w := New(mboxConfig(srv.Addr()), limits, sink, newCursor(), nil, testLogger(t))
	run(t, w)
	srv.appendMail("INBOX", mail(1, "before the outage", 200))
	sink.next(t)
	testenv.Eventually(t, waitTimeout, "moved", func() bool { return srv.count("RMA/Processed") == 1 })

	srv.stop()
	testenv.Eventually(t, waitTimeout, "disconnect noticed", func() bool { return !w.State().Connected })
	srv.appendMail("INBOX", mail(2, "while down", 200))
	time.Sleep(60 * time.Second)
	srv.start()
	back := time.Now()
	m := sink.next(t)
	took := time.Since(back)
	t.Logf("intake %v after the server's return from a 60 s outage", took)
	if !bytes.Contains(m.Header, []byte("while down")) {
		t.Fatalf("got %q", m.Header)
	}
	if took > 10*time.Second {
		t.Errorf("intake %v after the server's return, want within 10 s", took)
	}
}

// One mail that cannot be stored does not block the ones behind it, even when the store then
// refuses a few more in a row (memory pressure after a big mail) and the sync stops early: the
// next sync takes the other mails first and comes back to the failing one last, until it goes.
func TestFailingMailDoesNotBlockTheOthers(t *testing.T) {
	srv := newMemServer(t, nil).start()
	t.Cleanup(srv.stop)
	var failing atomic.Bool
	failing.Store(true)
	var attempts, pressure atomic.Int32
	sink := newSink()
	sink.setDecide(func(m Mail) (Disposition, error) {
		if bytes.Contains(m.Header, []byte("Subject: big")) && failing.Load() {
			attempts.Add(1)
			pressure.Store(consecutiveFailuresStop - 1) // the next ones fail too, as under memory pressure: the sync stops
			return 0, errors.New("OOM command not allowed when used memory > 'maxmemory'")
		}
		if pressure.Add(-1) >= 0 {
			return 0, errors.New("OOM command not allowed when used memory > 'maxmemory'")
		}
		return Processed, nil
	})
	srv.appendMail("INBOX", mail(1, "big", 64<<10))
	for i := 2; i <= 12; i++ {
		srv.appendMail("INBOX", mail(i, "small", 200))
	}
	w := newTestWatcher(t, mboxConfig(srv.Addr()), limits, sink, newCursor(), nil)
	run(t, w)

	testenv.Eventually(t, waitTimeout, "the small mails stored while the big one still fails", func() bool {
		return srv.count("RMA/Processed") == 11 && attempts.Load() >= 2
	})
	if n := srv.count("INBOX"); n != 1 {
		t.Fatalf("INBOX holds %d mails, want only the failing one", n)
	}
	failing.Store(false)
	testenv.Eventually(t, waitTimeout, "the failing mail stored once the store takes it", func() bool {
		return srv.count("INBOX") == 0 && srv.count("RMA/Processed") == 12
	})
}
