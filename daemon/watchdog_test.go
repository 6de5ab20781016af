package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
)

// notifySocket is a fake systemd: a unixgram socket in NOTIFY_SOCKET that collects what rmad
// says with sd_notify.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{t: t, conn: conn}
}

// next returns the next datagram, or "" when none comes within d.
func (n *notifySocket) next(d time.Duration) string {
	n.t.Helper()
	buf := make([]byte, 4096)
	_ = n.conn.SetReadDeadline(time.Now().Add(d))
	k, err := n.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ""
	}
	if err != nil {
		n.t.Fatal(err)
	}
	return string(buf[:k])
}

// expect reads datagrams until one equals want, failing on any other except those skipped.
func (n *notifySocket) expect(want string, within time.Duration, skip ...string) {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			n.t.Fatalf("no %q within %s", want, within)
		}
		got := n.next(left)
		switch {
		case got == want:
			return
		case got == "":
			n.t.Fatalf("no %q within %s", want, within)
		case !schHas(skip, got):
			n.t.Fatalf("sd_notify %q while waiting for %q", got, want)
		}
	}
}

func schHas(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// quiet checks that nothing but the allowed datagrams arrive for d.
func (n *notifySocket) quiet(d time.Duration, allowed ...string) {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := n.next(time.Until(deadline)); got != "" && !schHas(allowed, got) {
			n.t.Fatalf("unexpected sd_notify %q", got)
		}
	}
}

func TestNotifyReadyThenStopping(t *testing.T) {
	sock := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "")
	e := newSchEnv(t, schNever)
	_, logs := e.start("d1", Options{Ready: NotifyReady, Stopping: NotifyStopping})
	sock.expect("READY=1", 60*time.Second)
	// Everything was started before READY: the schedule too.
	schContains(t, "log at READY", logs.String(), "schedule started")
	sock.quiet(300 * time.Millisecond) // one READY, no watchdog without WATCHDOG_USEC
	logs.stop()
	sock.expect("STOPPING=1", 5*time.Second)
	sock.quiet(200 * time.Millisecond)
}

// READY waits for Redis; the watchdog pings at half WATCHDOG_USEC only while Redis answers and
// the consumers run, and resumes when Redis is back; STOPPING at the end.
func TestReadyAndWatchdogFollowHealth(t *testing.T) {
	sock := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "400000") // ping every 200 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	r := testenv.StartRedis(t, "--appendonly", "yes") // to take away and bring back
	e := newSchEnvAt(t, schNever, r.Addr)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	port, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	logs := &schLog{}
	d, err := New(context.Background(), cfg, config.NewLogger(cfg.Log, logs),
		Options{Now: e.clock.Now, Grace: time.Second, Workers: 1, Ready: NotifyReady, Stopping: NotifyStopping})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop() // Redis goes away between start-up checks and Run
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	sock.quiet(1500 * time.Millisecond) // not READY, no watchdog pings: Redis does not answer
	r.Start()
	sock.expect("READY=1", 30*time.Second, "WATCHDOG=1")
	for range 3 {
		sock.expect("WATCHDOG=1", 2*time.Second)
	}

	r.Stop()
	sock.quiet(time.Second, "WATCHDOG=1") // a ping already under way may still arrive
	sock.quiet(1500 * time.Millisecond)   // then none while Redis is away
	if !strings.Contains(logs.String(), "watchdog pings withheld") {
		t.Errorf("the withheld pings were not logged:\n%s", logs.String())
	}

	r.Start()
	sock.expect("WATCHDOG=1", 30*time.Second)
	cancel()
	sock.expect("STOPPING=1", 5*time.Second, "WATCHDOG=1")
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

// A watchdog without its consumers withholds the pings.
func TestUnhealthyWithoutConsumers(t *testing.T) {
	e := newSchEnv(t, schNever)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), cfg, config.NewLogger(cfg.Log, &schLog{}), Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if why := d.unhealthy(ctx, time.Second); !strings.Contains(why, "inbox consumer is not running") {
		t.Fatalf("unhealthy = %q", why)
	}
	d.live.enter("inbox")
	d.live.enter("outbox")
	if why := d.unhealthy(ctx, time.Second); why != "" {
		t.Fatalf("unhealthy = %q with consumers and Redis", why)
	}
	d.live.leave("outbox")
	if why := d.unhealthy(ctx, time.Second); !strings.Contains(why, "outbox") {
		t.Fatalf("unhealthy = %q", why)
	}
}

// SIGHUP: RELOADING=1 with the monotonic clock systemd 253+ asks for, then READY=1 (cmd_run).
func TestNotifyReloading(t *testing.T) {
	sock := listenNotify(t)
	NotifyReloading()
	got := sock.next(5 * time.Second)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("reloading notification %q", got)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec <= 0 {
		t.Fatalf("MONOTONIC_USEC %q: %v", lines[1], err)
	}
	NotifyReady()
	if got := sock.next(5 * time.Second); got != "READY=1" {
		t.Fatalf("after the reload: %q", got)
	}
}
