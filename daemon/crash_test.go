package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// crashMails is the size: 200 mails, each one submission with one accepted item.
const crashMails = 200

// TestCrashRecovery runs `rmad run` as a process against the test Dovecot and Redis and an SMTP
// sink, kills it with SIGKILL 3 to 5 times at random moments while 200 partner mails are being
// taken in, decided and answered, and restarts it each time. Then (docs/contract.md §10): nothing is left in
// the mailbox, every mail is exactly one submission with one RMA number, no number is issued
// twice, every mail is answered at least once, and a resent answer keeps its Message-ID.
//
// The kills fall in the first seconds (one in the first sync, the others in the queue work that
// follows). A restarted process has the killed one's instance name, so it takes the mailbox
// lease back once it has seen the old claim on the name go unrenewed (2½ s).
func TestCrashRecovery(t *testing.T) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	t.Logf("random seed %d", seed)

	bin := buildRmad(t)
	box := newIMAPBox(t)
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	redisAddr := testenv.RedisAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	prefix := fmt.Sprintf("rmad-crash-%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		cleanPrefix(rdb, prefix)
		rdb.Close()
	})
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, configParams{
		RedisAddr: redisAddr, Prefix: prefix, Box: box, SMTPAddr: sink.Addr, IDLE: true, Poll: 5 * time.Second,
	})

	mails := crashTestMails(t, crashMails, fmt.Sprintf("%d", seed%1_000_000))
	byID := map[string]*crashMail{}
	for _, m := range mails {
		byID[m.id] = m
	}
	replied := &replyTracker{t: t, sink: sink, byID: byID}

	// Two waves: most mails wait before the first start (a big first sync to crash into), the
	// rest arrive while the daemon is being killed and restarted.
	wave1 := crashMails * 3 / 4
	for _, m := range mails[:wave1] {
		box.append(t, m.raw)
	}

	kills := 3 + rng.IntN(3)
	var procs []*rmadProc
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s (last 6 KiB):\n%s", filepath.Base(p.log), p.logTail(6<<10))
			}
		}
	})
	start := time.Now()
	procs = append(procs, startRmad(t, bin, cfgPath, dir, 1))
	for k := 1; k <= kills; k++ {
		if k == 1 {
			// The first kill lands in the first sync, after a random number of the mails were
			// enqueued and before they were moved out of INBOX (the watcher moves a batch after
			// enqueuing it): every one of them comes again after the restart.
			target := int64(wave1/4 + rng.IntN(wave1/2))
			testenv.Eventually(t, waitLong, "first sync under way", func() bool {
				info, err := rdb.XInfoStream(ctx, prefix+"inbox").Result()
				return err == nil && info.EntriesAdded >= target
			})
		} else {
			// Later kills while the restarted process works through the queues (it waits for the
			// dead process's mailbox lease meanwhile): after a random number of further answers,
			// or after a random while when it has nothing left to do but wait.
			target, until := replied.count()+1+rng.IntN(8), time.Now().Add(time.Duration(500+rng.IntN(3500))*time.Millisecond)
			for replied.count() < target && time.Now().Before(until) {
				time.Sleep(2 * time.Millisecond)
			}
		}
		procs[len(procs)-1].kill()
		info, _ := rdb.XInfoStream(ctx, prefix+"inbox").Result()
		t.Logf("SIGKILL %d at %v: %d mails in INBOX, %d enqueued so far, %d of %d answered, inbox stream %d, outbox %d",
			k, time.Since(start).Round(time.Millisecond), box.count(box.in), info.EntriesAdded, replied.count(), crashMails,
			xlen(ctx, t, rdb, prefix+"inbox"), xlen(ctx, t, rdb, prefix+"outbox"))
		procs = append(procs, startRmad(t, bin, cfgPath, dir, k+1))
		if k == 2 {
			for _, m := range mails[wave1:] {
				box.append(t, m.raw)
			}
		}
	}

	testenv.Eventually(t, 4*time.Minute, "every mail answered after the crashes", func() bool {
		return replied.count() == crashMails && box.count(box.in) == 0 &&
			xlen(ctx, t, rdb, prefix+"inbox") == 0 && xlen(ctx, t, rdb, prefix+"outbox") == 0
	})
	t.Logf("all %d mails answered %v after the first start, %d kills", crashMails, time.Since(start).Round(time.Millisecond), kills)
	procs[len(procs)-1].stop(t)
	for _, p := range procs {
		if strings.Contains(p.logTail(1<<30), "WARNING: DATA RACE") {
			t.Errorf("%s reports a data race", filepath.Base(p.log))
		}
	}

	// Nothing left in the mailbox; every mail filed once as processed.
	if n := box.count(box.in); n != 0 {
		t.Errorf("INBOX holds %d mails", n)
	}
	want := map[string]bool{}
	for id := range byID {
		want[id] = true
	}
	compareSets(t, "processed folder", box.messageIDs(t, box.done), want)
	if n := box.count(box.rejected); n != 0 {
		t.Errorf("%d mails in the rejected folder", n)
	}

	// Every mail is exactly one RMA, numbers distinct and without more gaps than crashes.
	st := store.New(rdb, prefix)
	numbers := map[int]string{}
	year := 0
	for _, m := range mails {
		recs, err := st.Lookup(ctx, m.partner, m.own)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Errorf("own number %s (%s): %d RMAs, want 1", m.own, m.id, len(recs))
			continue
		}
		r := recs[0]
		if r.Source.MessageID != m.id || r.Decision.Item.Serial != m.serial {
			t.Errorf("own number %s: record %s from %s serial %s, want %s serial %s",
				m.own, r.Number, r.Source.MessageID, r.Decision.Item.Serial, m.id, m.serial)
		}
		n, err := rma.ParseNumber(r.Number)
		if err != nil {
			t.Errorf("own number %s: %v", m.own, err)
			continue
		}
		if prev, dup := numbers[n.N]; dup {
			t.Errorf("%s issued twice: to %s and %s", r.Number, prev, m.own)
		}
		numbers[n.N], year = m.own, n.Year
		m.number = r.Number
	}
	all, err := st.ChangedSince(ctx, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != crashMails {
		t.Errorf("%d RMA records in the store, want %d", len(all), crashMails)
	}
	highest := 0
	for n := range numbers {
		highest = max(highest, n)
	}
	if highest > crashMails+kills {
		t.Errorf("highest number RMA/%d/SR/%d: more skipped numbers than the %d crashes explain", highest, year, kills)
	}
	t.Logf("numbers 1..%d for %d RMAs (%d skipped)", highest, len(numbers), highest-len(numbers))

	// Every mail answered at least once, with its number; a resent answer has the same Message-ID.
	resent := 0
	for _, m := range mails {
		ids := map[string]bool{}
		for _, r := range m.replies {
			ids[r.MessageID] = true
			rows := readRows(t, r.CSV)
			if len(rows) != 1 || rows[0]["result"] != "accepted" || rows[0]["rma_number"] != m.number {
				t.Errorf("%s: reply rows %v, want one accepted row with %s", m.id, rows, m.number)
			}
		}
		switch {
		case len(m.replies) == 0:
			t.Errorf("%s: never answered", m.id)
		case len(ids) != 1:
			t.Errorf("%s: answered %d times with %d different Message-IDs", m.id, len(m.replies), len(ids))
		}
		resent += len(m.replies) - 1
	}
	t.Logf("%d answers sent twice or more (same Message-ID), %d mails in all at the sink", resent, len(sink.Mails()))
	checkNoDeadLetters(ctx, t, rdb, prefix)
}

// crashMail is one generated partner mail and what came of it.
type crashMail struct {
	id, partner, from, own, serial string
	raw                            []byte
	replies                        []sentMail
	number                         string
}

// crashTestMails makes n distinct valid submissions, one item each, from the partners of
// testdata/partners.yaml in turn, each with a PDF invoice (proof of purchase).
func crashTestMails(t testing.TB, n int, run string) []*crashMail {
	t.Helper()
	var pf struct {
		Partners []struct {
			ID     string   `yaml:"id"`
			Emails []string `yaml:"emails"`
		} `yaml:"partners"`
	}
	b, err := os.ReadFile("../testdata/partners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &pf); err != nil {
		t.Fatalf("partners.yaml: %v", err)
	}
	// Two in-house products of testdata/catalog.csv without a serial requirement.
	eans := []string{"4712633000024", "5204001000013"}
	bought := time.Now().AddDate(0, -2, 0).Format("2006-01-02")
	out := make([]*crashMail, n)
	for i := range out {
		p := pf.Partners[i%len(pf.Partners)]
		m := &crashMail{
			id:      fmt.Sprintf("crash-%s-%03d@rmad.test", run, i),
			partner: p.ID, from: p.Emails[0],
			own:    fmt.Sprintf("CR-%s-%03d", run, i),
			serial: fmt.Sprintf("CRS%s%03d", run, i),
		}
		var body bytes.Buffer
		fmt.Fprintf(&body, "From: %s <%s>\r\nTo: RMA Service <rma@distributor.example>\r\n", p.ID, m.from)
		fmt.Fprintf(&body, "Subject: RMA %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n",
			m.own, time.Now().Format(time.RFC1123Z), m.id)
		body.WriteString("Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n--b0undary\r\n")
		body.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		fmt.Fprintf(&body, "Own number: %s\r\nEAN: %s\r\nSerial: %s\r\nPurchase date: %s\r\n"+
			"Description: Does not power on after a firmware update, status LED stays dark.\r\n\r\n",
			m.own, eans[i%len(eans)], m.serial, bought)
		body.WriteString("--b0undary\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n")
		body.WriteString("Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n")
		body.WriteString(base64.StdEncoding.EncodeToString(invoicePDF) + "\r\n--b0undary--\r\n")
		m.raw = body.Bytes()
		out[i] = m
	}
	return out
}

// invoicePDF is a minimal one-page PDF, the proof of purchase every generated mail carries.
var invoicePDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj " +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

// replyTracker reads the sink's mails as they come and files the partner answers by mail.
type replyTracker struct {
	t    testing.TB
	sink *sandbox.SMTP
	byID map[string]*crashMail
	seen int
	done int // mails with at least one answer
}

func (r *replyTracker) count() int {
	all := r.sink.Mails()
	for _, sm := range all[r.seen:] {
		p := parseSent(r.t, sm)
		if p.AutoSubmitted != "auto-replied" || len(p.InReplyTo) != 1 {
			continue // staff copies
		}
		m := r.byID[p.InReplyTo[0]]
		if m == nil {
			r.t.Errorf("answer %s to an unknown mail %v", p.MessageID, p.InReplyTo)
			continue
		}
		if !slicesEqualFold(p.To, m.from) {
			r.t.Errorf("answer to %s goes to %v, not %s", m.id, p.To, m.from)
		}
		if len(m.replies) == 0 {
			r.done++
		}
		m.replies = append(m.replies, p)
	}
	r.seen = len(all)
	return r.done
}

func slicesEqualFold(got []string, want string) bool {
	return len(got) == 1 && strings.EqualFold(got[0], want)
}

func readRows(t testing.TB, data []byte) []map[string]string {
	t.Helper()
	if data == nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(data), "\r\n", "\n")), "\n")
	head := strings.Split(lines[0], ",")
	var rows []map[string]string
	for _, l := range lines[1:] {
		row := map[string]string{}
		for i, v := range strings.SplitN(l, ",", len(head)) {
			row[head[i]] = v
		}
		rows = append(rows, row)
	}
	return rows
}

func xlen(ctx context.Context, t testing.TB, rdb *redis.Client, key string) int64 {
	t.Helper()
	n, err := rdb.XLen(ctx, key).Result()
	if err != nil {
		t.Fatalf("XLEN %s: %v", key, err)
	}
	return n
}

// buildRmad builds cmd/rmad into a temp dir, with the race detector when this test has it (the
// packages are then already compiled that way, and the daemon's races show up too).
func buildRmad(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build rmad for the crash test: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "rmad")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	args = append(args, "./cmd/rmad")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = ".." // the module root
	began := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s: %v", strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
	return bin
}

// rmadProc is one `rmad run` process.
type rmadProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

func startRmad(t testing.TB, bin, cfgPath, dir string, n int) *rmadProc {
	t.Helper()
	p := &rmadProc{log: filepath.Join(dir, fmt.Sprintf("rmad-%d.log", n)), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "run", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start rmad: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	return p
}

// kill ends the process with SIGKILL (nothing runs after it: no deferred code, no grace).
func (p *rmadProc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop asks for a clean shutdown and waits for it.
func (p *rmadProc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("rmad run after SIGTERM: %v", p.err)
		}
	case <-time.After(waitLong):
		t.Errorf("rmad run did not stop within %s of SIGTERM", waitLong)
		p.kill()
	}
}

func (p *rmadProc) logTail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
