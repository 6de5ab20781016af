package outbound

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rmad/rmad/config"
)

// hungRelay accepts connections and never answers, as a relay that hangs does.
func hungRelay(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln
}

// serveAt runs a plain go-smtp server for be on addr.
func serveAt(t *testing.T, be *recorder, addr string) {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// A relay that accepts the connection and never greets is given up after one command's time
// (not the two minutes of a whole delivery), as a relay that is down; the Sender then probes
// it, and once a good relay listens there WaitRelay returns and the probe's session carries the
// next message.
func TestHungRelayThenGoodRelay(t *testing.T) {
	t.Parallel()
	hung := hungRelay(t)
	addr := hung.Addr().String()
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	s.Timeout = 0 // the per-command timeouts decide
	s.CommandTimeout, s.ProbeMin, s.ProbeMax = 300*time.Millisecond, 20*time.Millisecond, 200*time.Millisecond
	t.Cleanup(s.Close)

	start := time.Now()
	err := s.Send(context.Background(), testMessage())
	took := time.Since(start)
	if err == nil || !IsRelayDown(err) || IsPermanent(err) {
		t.Fatalf("Send to a hung relay = %v; want a temporary relay-down error", err)
	}
	if took > 10*time.Second {
		t.Errorf("Send gave up on a relay that never greets after %s; the command timeout is 300ms", took)
	}
	if up, since, why := s.Relay(); up || since.IsZero() || why == nil {
		t.Errorf("Relay() = %v %v %v while it hangs; want down, since when, why", up, since, why)
	}
	waiting, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	s.WaitRelay(waiting)
	cancel()
	if waiting.Err() == nil {
		t.Fatal("WaitRelay returned while the relay hangs")
	}

	hung.Close() // the hung relay goes; a good one listens on its address
	be := &recorder{}
	serveAt(t, be, addr)
	back := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.WaitRelay(ctx)
	if ctx.Err() != nil {
		t.Fatal("WaitRelay did not return after the good relay came back")
	}
	t.Logf("relay seen up %s after its return (hung-relay Send gave up after %s)", time.Since(back).Round(time.Millisecond), took.Round(time.Millisecond))
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send after the relay is back: %v", err)
	}
	if sessions, _ := be.counts(); sessions != 1 || len(be.messages()) != 1 {
		t.Errorf("good relay: %d sessions, %d messages; want the probe's session to carry the message", sessions, len(be.messages()))
	}
}

// A relay that hangs after DATA is given up after the data's time (a command's time plus the
// size at the slowest rate); a relay that does not answer is the relay's fault (relayFault).
func TestDataTimeoutScalesWithSize(t *testing.T) {
	t.Parallel()
	be := &recorder{dataHang: 15 * time.Second}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	// 2 s per command: the greeting and EHLO must not time out on a loaded machine, or the
	// relay counts as down and the test proves nothing about the data timeout.
	s.Timeout, s.CommandTimeout, s.MinDataRate = 0, 2*time.Second, 1<<20
	t.Cleanup(s.Close)
	m := testMessage()
	if got, want := s.dataTimeout(m), 2*time.Second+time.Duration(len(m.Raw))*time.Second/(1<<20); got != want {
		t.Errorf("dataTimeout = %s, want %s", got, want)
	}
	big := Message{Raw: make([]byte, 10<<20)}
	if got := s.dataTimeout(big); got < 10*time.Second {
		t.Errorf("dataTimeout of 10 MiB at 1 MiB/s = %s; want at least 10s", got)
	}
	start := time.Now()
	err := s.Send(context.Background(), m)
	if err == nil || !IsRelayDown(err) || IsPermanent(err) {
		t.Fatalf("Send to a relay hanging after DATA = %v; want a temporary error of the relay", err)
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("Send waited %s for a reply the data timeout (%s) gave up on", took, s.dataTimeout(m))
	}
}

// Failures of a session that opened fine: a 421, a temporary refusal of MAIL FROM, a dropped
// connection or no answer in time are the relay's (IsRelayDown: not the message's attempt; the
// relay is down and probed until it takes mail again, WaitRelay returns then and the message
// goes); a refusal of a recipient or of the data is the message's, temporary or permanent,
// and leaves the relay up.
func TestRelayFaultsAfterTheSessionOpened(t *testing.T) {
	t.Parallel()
	code := func(c int, e1, e2, e3 int, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: msg}
	}
	to := "service@alfa-computers.gr"
	tests := []struct {
		name              string
		be                *recorder
		relays, permanent bool
	}{
		{"421 at MAIL FROM", &recorder{mailErr: code(421, 4, 3, 2, "service shutting down")}, true, false},
		{"451 at MAIL FROM (names only rmad's sender)", &recorder{mailErr: code(451, 4, 3, 0, "local error")}, true, false},
		{"421 at RCPT", &recorder{rcptErr: map[string]error{to: code(421, 4, 4, 5, "too busy")}}, true, false},
		{"421 after DATA", &recorder{dataErr: code(421, 4, 3, 0, "closing")}, true, false},
		{"connection dropped at DATA", &recorder{dropFor: map[string]bool{to: true}}, true, false},
		{"connection dropped in the middle of the MAIL/RCPT/DATA group", &recorder{dropRcpt: map[string]bool{to: true}}, true, false},
		{"no answer after DATA in time", &recorder{dataHang: 5 * time.Second}, true, false},
		{"451 at RCPT is the message's", &recorder{rcptErr: map[string]error{to: code(451, 4, 2, 1, "mailbox busy")}}, false, false},
		{"452 after DATA is the message's", &recorder{dataErr: code(452, 4, 3, 1, "too big for now")}, false, false},
		{"550 at RCPT is the message's, for good", &recorder{rcptErr: map[string]error{to: code(550, 5, 1, 1, "no such user")}}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, _ := startServer(t, tt.be, plainServer)
			s := newTestSender(addr, config.TLSNone, nil, "", "")
			s.Timeout, s.CommandTimeout = 0, time.Second
			s.ProbeMin, s.ProbeMax = 20*time.Millisecond, 100*time.Millisecond
			t.Cleanup(s.Close)
			err := s.Send(context.Background(), testMessage(to))
			if err == nil {
				t.Fatal("Send succeeded; want the server's failure")
			}
			if IsRelayDown(err) != tt.relays || IsPermanent(err) != tt.permanent {
				t.Fatalf("Send = %v: IsRelayDown %v, IsPermanent %v; want %v, %v", err, IsRelayDown(err), IsPermanent(err), tt.relays, tt.permanent)
			}
			up, since, why := s.Relay()
			if up == tt.relays {
				t.Fatalf("relay up = %v after %v (why %v)", up, err, why)
			}
			if !tt.relays {
				return
			}
			if since.IsZero() || why == nil {
				t.Errorf("relay down without since (%v) or why (%v)", since, why)
			}
			tt.be.healed.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s.WaitRelay(ctx) // the probe opens a session
			if ctx.Err() != nil {
				t.Fatal("WaitRelay did not return once the relay opened sessions again")
			}
			if err := s.Send(context.Background(), testMessage(to)); err != nil {
				t.Fatalf("Send after the relay healed: %v", err)
			}
			if len(tt.be.messages()) != 1 {
				t.Errorf("server has %d messages, want 1", len(tt.be.messages()))
			}
		})
	}
}

// A message the relay drops every time, while it takes the others, is the message's trouble: the
// first drop is the relay's (nothing else went through since), the next one, after another
// message was delivered, is the message's own temporary failure (an attempt, so that it ends in
// the dead letters rather than holding the relay down forever).
func TestAFaultThatFollowsOneMessageIsItsOwn(t *testing.T) {
	t.Parallel()
	be := &recorder{dropFor: map[string]bool{"filter-crasher@example.com": true}}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	s.ProbeMin, s.ProbeMax = 20*time.Millisecond, 100*time.Millisecond
	t.Cleanup(s.Close)
	poison := testMessage("filter-crasher@example.com")
	poison.ID = "poison@distributor.example"
	if err := s.Send(context.Background(), poison); !IsRelayDown(err) {
		t.Fatalf("first drop: %v; want the relay's fault", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.WaitRelay(ctx)
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("another message: %v", err)
	}
	err := s.Send(context.Background(), poison)
	if err == nil || IsRelayDown(err) || IsPermanent(err) {
		t.Fatalf("second drop after another message went through: %v; want the message's temporary failure", err)
	}
	if up, _, _ := s.Relay(); !up {
		t.Error("the relay is marked down for one message's trouble")
	}
}
