package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

const (
	testUser = "rma@example.com"
	testPass = "s3cret"
)

// waitTimeout is generous: the race detector on two shared cores is slow. Tests wait for
// events with it; they never assert that something took less than a given time.
const waitTimeout = 20 * time.Second

// memServer is go-imap's in-memory server on a loopback port, with hooks to drop connections,
// restart, and count what the server sent.
type memServer struct {
	t       testing.TB
	mem     *imapmemserver.Server
	user    *imapmemserver.User
	caps    imap.CapSet
	tlsConf *tls.Config // STARTTLS offered when set
	implTLS bool        // the listener speaks implicit TLS

	mu   sync.Mutex
	srv  *imapserver.Server
	ln   *trackListener
	addr string
}

func newMemServer(t testing.TB, caps imap.CapSet) *memServer {
	t.Helper()
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	s := &memServer{t: t, mem: imapmemserver.New(), user: imapmemserver.NewUser(testUser, testPass), caps: caps}
	s.mem.AddUser(s.user)
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// start listens on 127.0.0.1:0 (or the previous address after a restart).
func (s *memServer) start() *memServer {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // after a restart the old port may take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	if s.implTLS {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	s.addr = ln.Addr().String()
	s.ln = &trackListener{Listener: ln, conns: map[*trackConn]struct{}{}}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return pollingIdle{s.mem.NewSession().(imapserver.SessionIMAP4rev2)}, nil, nil
		},
		Caps:         s.caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0), // dropped connections are expected here
	}
	if !s.implTLS {
		opts.TLSConfig = s.tlsConf
	}
	s.srv = imapserver.New(opts)
	srv, tl := s.srv, s.ln
	go srv.Serve(tl)
	return s
}

func (s *memServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

func (s *memServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// dropConns closes every server-side connection, as a crashing server or a NAT timeout would.
func (s *memServer) dropConns() {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	ln.closeAll()
}

func (s *memServer) bytesSent() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln.written.Load()
}

func (s *memServer) accepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln.accepted.Load()
}

// appendMail puts a mail into mbox directly (as the MTA would), which also wakes IDLE sessions.
func (s *memServer) appendMail(mbox string, raw []byte, flags ...imap.Flag) uint32 {
	s.t.Helper()
	data, err := s.user.Append(mbox, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Flags: flags})
	if err != nil {
		s.t.Fatalf("append to %s: %v", mbox, err)
	}
	return uint32(data.UID)
}

// count returns the number of mails in mbox (-1 when it does not exist).
func (s *memServer) count(mbox string) int {
	st, err := s.user.Status(mbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// pollingIdle is imapmemserver's session with an IDLE that also re-checks the mailbox every
// 10 ms. The memserver's own IDLE reports only changes made after IDLE began: a mail appended
// between the end of the previous command and the start of IDLE would stay unannounced until the
// next change. Real servers report pending changes when IDLE starts (Dovecot syncs there, and
// re-checks every mailbox_idle_check_interval); without this, tests that append while the
// watcher cycles between sync and IDLE would hang now and then on the server, not the watcher.
type pollingIdle struct{ imapserver.SessionIMAP4rev2 }

func (s pollingIdle) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
}

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

type trackListener struct {
	net.Listener
	mu       sync.Mutex
	conns    map[*trackConn]struct{}
	written  atomic.Int64
	accepted atomic.Int64
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	l.accepted.Add(1)
	return tc, nil
}

func (l *trackListener) closeAll() {
	l.mu.Lock()
	var all []*trackConn
	for c := range l.conns {
		all = append(all, c)
	}
	l.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

type trackConn struct {
	net.Conn
	l *trackListener
}

func (c *trackConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.written.Add(int64(n))
	return n, err
}

func (c *trackConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// recSink records deliveries; decide (optional) picks the disposition or fails.
type recSink struct {
	mu     sync.Mutex
	mails  []Mail
	calls  int
	ch     chan Mail
	decide func(Mail) (Disposition, error)
}

func newSink() *recSink { return &recSink{ch: make(chan Mail, 10000)} }

func (s *recSink) Deliver(ctx context.Context, m Mail) (Disposition, error) {
	s.mu.Lock()
	s.calls++
	decide := s.decide
	s.mu.Unlock()
	disp := Processed
	if decide != nil {
		var err error
		if disp, err = decide(m); err != nil {
			return 0, err
		}
	}
	s.mu.Lock()
	s.mails = append(s.mails, m)
	s.mu.Unlock()
	s.ch <- m
	return disp, nil
}

func (s *recSink) setDecide(f func(Mail) (Disposition, error)) {
	s.mu.Lock()
	s.decide = f
	s.mu.Unlock()
}

func (s *recSink) delivered() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// next waits for the next delivery.
func (s *recSink) next(t testing.TB) Mail {
	t.Helper()
	select {
	case m := <-s.ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no mail delivered within the timeout")
		return Mail{}
	}
}

// memCursor is the Cursor in memory.
type memCursor struct {
	mu   sync.Mutex
	m    map[string][2]uint32
	fail atomic.Bool
}

func newCursor() *memCursor { return &memCursor{m: map[string][2]uint32{}} }

func (c *memCursor) Cursor(_ context.Context, mbox string) (uint32, uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.m[mbox]
	return v[0], v[1], nil
}

func (c *memCursor) SetCursor(_ context.Context, mbox string, uv, uid uint32) error {
	if c.fail.Load() {
		return errors.New("cursor store down")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[mbox] = [2]uint32{uv, uid}
	return nil
}

func (c *memCursor) get(mbox string) (uint32, uint32) {
	uv, uid, _ := c.Cursor(context.Background(), mbox)
	return uv, uid
}

// memLocker is an in-process Locker; revoke simulates a lease that expired.
type memLocker struct {
	mu   sync.Mutex
	held map[string]chan struct{} // name → its lost channel
}

func newLocker() *memLocker { return &memLocker{held: map[string]chan struct{}{}} }

func (l *memLocker) Lock(ctx context.Context, name string) (<-chan struct{}, func(), error) {
	for {
		l.mu.Lock()
		if _, taken := l.held[name]; !taken {
			lost := make(chan struct{})
			l.held[name] = lost
			l.mu.Unlock()
			var once sync.Once
			return lost, func() {
				once.Do(func() {
					l.mu.Lock()
					if l.held[name] == lost {
						delete(l.held, name)
					}
					l.mu.Unlock()
				})
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (l *memLocker) revoke(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lost, ok := l.held[name]; ok {
		close(lost)
		delete(l.held, name)
	}
}

func testLogger(t testing.TB) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func mboxConfig(addr string) config.Mailbox {
	return config.Mailbox{
		Name:             "partners",
		Address:          addr,
		TLS:              config.TLSNone,
		Username:         testUser,
		Password:         testPass,
		Mailbox:          "INBOX",
		ProcessedMailbox: "RMA/Processed",
		RejectedMailbox:  "RMA/Rejected",
		PollInterval:     time.Hour, // tests rely on IDLE unless they say otherwise
	}
}

// newTestWatcher makes a watcher with short backoffs.
func newTestWatcher(t testing.TB, cfg config.Mailbox, limits config.Limits, sink Sink, cur Cursor, lock Locker) *Watcher {
	w := New(cfg, limits, sink, cur, lock, testLogger(t))
	w.backoffMin, w.backoffMax = 10*time.Millisecond, 200*time.Millisecond
	w.retryMin = 20 * time.Millisecond
	return w
}

// run starts w and stops it at the end of the test, checking that Run returned nil.
func run(t testing.TB, w *Watcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// mail builds a small RFC 5322 message with CRLF line ends.
func mail(i int, subject string, bodyBytes int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Partner %d <p%d@partner.example>\r\n", i, i)
	b.WriteString("To: rma@example.com\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <m%d.%d@partner.example>\r\n", i, time.Now().UnixNano())
	b.WriteString("Date: Mon, 16 Mar 2026 10:00:00 +0200\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("EAN: 5901234123457\r\nSerial: SN12345\r\nPurchase date: 2026-01-10\r\n")
	line := "Description: the device does not power on after a firmware update, tried two PSUs.\r\n"
	for b.Len() < bodyBytes {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// dialLogin logs a plain client in, for appending from "a second client" and for inspecting.
func dialLogin(t testing.TB, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}
