package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
)

// relayOutage is how long the relay stays away in TestRelayOutageDrainsOnReturn:
// RMAD_TEST_RELAY_OUTAGE (a Go duration, e.g. 60s) for the full length, else 5 s.
func relayOutage(t *testing.T) time.Duration {
	if v := os.Getenv("RMAD_TEST_RELAY_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("RMAD_TEST_RELAY_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return 5 * time.Second
}

// queueRelayTestMails puts n distinct mails on the daemon's outbox.
func queueRelayTestMails(t *testing.T, d *Daemon, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("relay-%d-%d@distributor.example", time.Now().UnixNano(), i)
		msg := outbound.Message{ID: id, From: "rma@distributor.example", To: []string{"partner@example.com"},
			Raw: []byte("Message-Id: <" + id + ">\r\nSubject: relay test\r\n\r\nbody\r\n")}
		if err := d.pipe.send(context.Background(), "", msg); err != nil {
			t.Fatal(err)
		}
	}
}

// outboxAttempts sums the attempt counters of the outbox entries.
func outboxAttempts(t *testing.T, d *Daemon) int {
	t.Helper()
	stream := d.cfg.Redis.KeyPrefix + queue.Outbox
	all, err := d.rdb.HGetAll(context.Background(), stream+":meta{"+stream+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for k, v := range all {
		if strings.HasSuffix(k, ":n") {
			n, _ := strconv.Atoi(v)
			sum += n
		}
	}
	return sum
}

// While the relay refuses connections, no message spends an attempt: the couriers hold them
// and the Sender probes the relay; when it listens again every waiting reply goes out at once
// (not each after its own backoff), each once, no dead letter.
func TestRelayOutageDrainsOnReturn(t *testing.T) {
	t.Parallel()
	const n = 200
	e := newSchEnv(t, schNever)
	d, logs := e.start("relay-outage", Options{})
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.Tail(16<<10))
		}
	}()
	e.smtp.Stop()
	queueRelayTestMails(t, d, n)
	testenv.Eventually(t, 30*time.Second, "relay seen down", func() bool { up, _, _ := d.courier.smtp.Relay(); return !up })
	time.Sleep(relayOutage(t)) // the outage itself: nothing is asserted on time here
	if got := outboxAttempts(t, d); got > 4 {
		t.Errorf("%d attempts counted during the relay outage; want none but those in flight (at most 4)", got)
	}
	if strings.Contains(logs.String(), `"attempt failed"`) {
		t.Error("a message's attempt was counted as failed for the relay outage")
	}
	if err := e.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("all %d replies sent within 20 s of the relay's return", n), func() bool {
		return len(e.smtp.Mails()) >= n
	})
	t.Logf("after a %s outage: %d replies sent %s after the relay's return", relayOutage(t), n, time.Since(back).Round(10*time.Millisecond))
	testenv.Eventually(t, 30*time.Second, "outbox empty", func() bool { p, err := d.Pending(context.Background()); return err == nil && p == 0 })
	seen := map[string]int{}
	for _, m := range e.smtp.Mails() {
		seen[string(m.Data[:strings.Index(string(m.Data), "\r\n")])]++
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s sent %d times", id, k)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct replies sent, want %d", len(seen), n)
	}
	if dead, err := d.outbox.DeadLetterCount(context.Background()); err != nil || dead != 0 {
		t.Errorf("outbox dead letters: %d, %v; want none", dead, err)
	}
}

// A relay that accepts connections but never answers holds the couriers only for one command's
// time: it is then treated as down and probed, and when a good relay listens on its address
// the first reply goes out at once, although connections to the hung one are still open.
func TestHungRelayFirstReplyPromptly(t *testing.T) {
	t.Parallel()
	e := newSchEnv(t, schNever)
	addr := e.smtp.Addr
	e.smtp.Stop()
	hung, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stuck []net.Conn // never answered, never closed until the test ends
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			stuck = append(stuck, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range stuck {
			c.Close()
		}
	})
	d, logs := e.start("hung-relay", Options{SMTPTimeouts: func(s *outbound.Sender) { s.CommandTimeout = time.Second }})
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.Tail(16<<10))
		}
	}()
	const n = 10
	queueRelayTestMails(t, d, n)
	testenv.Eventually(t, 30*time.Second, "hung relay seen down", func() bool { up, _, _ := d.courier.smtp.Relay(); return !up })
	testenv.Eventually(t, 30*time.Second, "couriers let go of the hung relay", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(stuck) >= 4
	})
	hung.Close()
	if err := e.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	testenv.Eventually(t, 15*time.Second, "first reply within 15 s of a good relay", func() bool { return len(e.smtp.Mails()) >= 1 })
	first := time.Since(back)
	testenv.Eventually(t, 30*time.Second, "every reply sent", func() bool { return len(e.smtp.Mails()) >= n })
	t.Logf("hung relay replaced: first reply %s, all %d after %s", first.Round(10*time.Millisecond), n, time.Since(back).Round(10*time.Millisecond))
	if got := outboxAttempts(t, d); got != 0 {
		t.Errorf("%d attempts left counted after the hung relay", got)
	}
}

// A relay that opens sessions but fails every message as a relay in trouble does, after the
// session opened (421 after the data, or the connection dropped at DATA), is down: that is not
// the messages' fault, so no attempt is counted and nothing nears the dead letters however long
// it lasts; once it takes mail again every waiting reply goes, once.
func TestRelayFaultAfterSessionOpenIsNotAnAttempt(t *testing.T) {
	t.Parallel()
	for _, fault := range []string{sandbox.Fault421, sandbox.FaultDrop} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			const n = 20
			e := newSchEnv(t, schNever)
			d, logs := e.start("relay-fault-"+fault, Options{})
			defer func() {
				if t.Failed() {
					t.Logf("log:\n%s", logs.Tail(16<<10))
				}
			}()
			e.smtp.SetRelayFault(fault)
			queueRelayTestMails(t, d, n)
			testenv.Eventually(t, 30*time.Second, "relay seen down", func() bool { up, _, _ := d.courier.smtp.Relay(); return !up })
			// Several rounds of probe, release and the same fault (nothing is asserted on time).
			testenv.Eventually(t, 30*time.Second, "the fault met again after a probe", func() bool {
				return strings.Count(logs.String(), "the SMTP relay answers again") >= 2
			})
			if got := outboxAttempts(t, d); got > 4 {
				t.Errorf("%d attempts counted while the relay failed every message; want none but those in flight (at most 4)", got)
			}
			if strings.Contains(logs.String(), `"attempt failed"`) {
				t.Error("a message's attempt was counted as failed for the relay's fault")
			}
			if len(e.smtp.Mails()) != 0 {
				t.Fatalf("%d mails accepted by a relay failing every one", len(e.smtp.Mails()))
			}
			e.smtp.SetRelayFault("")
			healed := time.Now()
			testenv.Eventually(t, 30*time.Second, fmt.Sprintf("all %d replies sent once the relay takes mail", n), func() bool {
				return len(e.smtp.Mails()) >= n
			})
			t.Logf("relay failing every message (%s): all %d replies sent %s after it took mail again", fault, n, time.Since(healed).Round(10*time.Millisecond))
			testenv.Eventually(t, 30*time.Second, "outbox empty", func() bool { p, err := d.Pending(context.Background()); return err == nil && p == 0 })
			seen := map[string]int{}
			for _, m := range e.smtp.Mails() {
				seen[string(m.Data[:strings.Index(string(m.Data), "\r\n")])]++
			}
			if len(seen) != n || len(e.smtp.Mails()) != n {
				t.Errorf("%d mails, %d distinct; want %d, each once", len(e.smtp.Mails()), len(seen), n)
			}
			if dead, err := d.outbox.DeadLetterCount(context.Background()); err != nil || dead != 0 {
				t.Errorf("outbox dead letters: %d, %v; want none", dead, err)
			}
		})
	}
}
