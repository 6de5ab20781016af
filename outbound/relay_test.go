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
// size at the slowest rate), and that is the message's failed attempt, not a relay outage.
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
	if err == nil || IsRelayDown(err) || IsPermanent(err) {
		t.Fatalf("Send to a relay hanging after DATA = %v; want a temporary error of the message", err)
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Errorf("Send waited %s for a reply the data timeout (%s) gave up on", took, s.dataTimeout(m))
	}
	if up, _, _ := s.Relay(); !up {
		t.Error("a hang after DATA marked the relay down")
	}
}
