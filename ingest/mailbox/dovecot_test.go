package mailbox

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

// dovecotBox is a set of folders of its own on the test Dovecot (scripts/dovecot.sh), so that
// tests and benchmarks sharing the server do not see each other's mail.
type dovecotBox struct {
	t                     testing.TB
	addr, user, pass      string
	in, processed, reject string
	c                     *imapclient.Client // the test's own client: appends and counts
}

func newDovecotBox(t testing.TB, addr, user, pass string) *dovecotBox {
	t.Helper()
	p := fmt.Sprintf("t%d", time.Now().UnixNano())
	b := &dovecotBox{t: t, addr: addr, user: user, pass: pass,
		in: p + "/in", processed: p + "/done", reject: p + "/rejected"}
	b.c = dialLogin(t, addr, user, pass)
	if err := b.c.Create(b.in, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", b.in, err)
	}
	t.Cleanup(func() {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if c.Login(user, pass).Wait() != nil {
			return
		}
		for _, m := range []string{b.in, b.processed, b.reject, p} {
			c.Delete(m).Wait()
		}
	})
	return b
}

func (b *dovecotBox) config() config.Mailbox {
	return config.Mailbox{
		Name: "dovecot", Address: b.addr, TLS: config.TLSNone, Username: b.user, Password: config.Secret(b.pass),
		Mailbox: b.in, ProcessedMailbox: b.processed, RejectedMailbox: b.reject, PollInterval: time.Hour,
	}
}

func (b *dovecotBox) append(raw []byte) {
	b.t.Helper()
	cmd := b.c.Append(b.in, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		b.t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		b.t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		b.t.Fatalf("append to %s: %v", b.in, err)
	}
}

func (b *dovecotBox) count(mbox string) int {
	st, err := b.c.Status(mbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// TestDovecot runs the deliver-and-move path end to end against a real server: folders created,
// dispositions, a too-large mail, then IDLE waking on an APPEND from a second client.
func TestDovecot(t *testing.T) {
	addr, user, pass := testenv.IMAPServer(t)
	box := newDovecotBox(t, addr, user, pass)
	normal := mail(1, "RMA request", 2000)
	auto := mail(2, "Automatic reply: out of office", 300)
	big := mail(3, "photos of the damage", 300<<10)
	for _, raw := range [][]byte{normal, auto, big} {
		box.append(raw)
	}

	sink := newSink()
	sink.setDecide(func(m Mail) (Disposition, error) {
		if bytes.Contains(m.Header, []byte("Automatic reply")) {
			return Rejected, nil
		}
		return Processed, nil
	})
	cur := newCursor()
	w := newTestWatcher(t, box.config(), config.Limits{MaxMessageBytes: 64 << 10}, sink, cur, nil)
	run(t, w)

	got := []Mail{sink.next(t), sink.next(t), sink.next(t)}
	if !bytes.Equal(got[0].Raw, normal) || !bytes.Equal(got[1].Raw, auto) {
		t.Errorf("raw bytes differ from what was appended")
	}
	if !got[2].TooLarge || got[2].Raw != nil || got[2].Size != int64(len(big)) ||
		!bytes.Equal(got[2].Header, headerOf(big)) {
		t.Errorf("too-large mail: too_large=%v raw=%d size=%d header=%q", got[2].TooLarge, len(got[2].Raw), got[2].Size, got[2].Header)
	}
	testenv.Eventually(t, waitTimeout, "mails moved", func() bool {
		return box.count(box.in) == 0 && box.count(box.processed) == 1 && box.count(box.reject) == 2
	})
	st := w.State()
	if uv, last := cur.get("dovecot"); uv != st.UIDValidity || last != got[2].UID || uv == 0 {
		t.Errorf("cursor %d/%d, state %+v", uv, last, st)
	}
	if !st.IdleCapable {
		t.Fatalf("Dovecot offers IDLE but the watcher does not use it: %+v", st)
	}

	// IDLE: a new mail from another client wakes the watcher (the poll interval is an hour).
	testenv.Eventually(t, waitTimeout, "watcher idling", func() bool { return w.State().Idle })
	raw := mail(4, "new RMA while idling", 500)
	start := time.Now()
	box.append(raw)
	m := sink.next(t)
	t.Logf("Dovecot IDLE: delivered %v after the APPEND", time.Since(start))
	if !bytes.Equal(m.Raw, raw) {
		t.Error("wrong mail delivered after IDLE")
	}
	testenv.Eventually(t, waitTimeout, "moved after IDLE", func() bool { return box.count(box.processed) == 2 && box.count(box.in) == 0 })
	if n := len(sink.delivered()); n != 4 {
		t.Errorf("%d deliveries for 4 mails", n)
	}
}
