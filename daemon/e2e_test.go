package daemon_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/redis/go-redis/v9"

	_ "github.com/emersion/go-message/charset" // fixtures' subjects and bodies in cp1250/cp1253

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/store"
)

// waitLong bounds every wait for the daemon: the race detector on two shared cores is slow, and
// the tests wait for conditions, never for fixed times.
const waitLong = 90 * time.Second

// fixturesDay is "today" for the fixtures (they are dated 2 Nov 2026 and assume a date in 2026
// or 2027); the daemon's clock starts there and runs, so the test does not age with the machine.
var fixturesDay = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// resultsHeader is docs/contract.md §3's rma-results.csv header, spelled out here rather than taken from
// outbound so that a change there cannot silently change what the test expects.
var resultsHeader = []string{"line", "own_number", "ean", "serial", "result", "rma_number", "handling", "warranty", "codes", "message"}

var rmaNumber = regexp.MustCompile(`^RMA/[1-9][0-9]*/SR/20[0-9]{2}$`)

// csvDelimiter is the delimiter of the fixtures' own CSV attachments: the reply's
// rma-results.csv must use the partner's delimiter (docs/contract.md §3), ',' for mails without a CSV.
var csvDelimiter = map[string]rune{
	"02-ro-csv-cp1250.eml":        ';',
	"07-gr-csv-cp1253-header.eml": ';',
	"13-ro-scientific-ean.eml":    ',',
}

// TestEndToEndFixtures runs the real daemon against the test Dovecot, the test Redis and an SMTP
// sink: every fixture mail, appended in order and settled before the next, gets exactly the
// answer testdata/expected.json describes, and the mailbox ends empty with every mail filed.
func TestEndToEndFixtures(t *testing.T) {
	ctx := context.Background()
	h := startHarness(t)

	exp := testenv.Expected(t, "../testdata")
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range exp {
			if !yield(n) {
				return
			}
		}
	})
	files, _ := filepath.Glob("../testdata/mails/*.eml")
	if len(files) != len(names) || len(names) == 0 {
		t.Fatalf("%d mails in testdata/mails, %d entries in expected.json", len(files), len(names))
	}

	wantDone, wantRejected := map[string]bool{}, map[string]bool{}
	for _, name := range names {
		raw, orig := fixtureMail(t, name)
		sent := h.deliver(ctx, t, name, raw)
		checkAnswer(t, name, orig, exp[name], sent)
		if e := exp[name].Reply; e == "registration" || e == "none" {
			wantRejected[orig.MessageID] = true
		} else {
			wantDone[orig.MessageID] = true
		}
	}

	if n := h.box.count(h.box.in); n != 0 {
		t.Errorf("%s holds %d mails at the end, want 0", h.box.in, n)
	}
	compareSets(t, "processed folder", h.box.messageIDs(t, h.box.done), wantDone)
	compareSets(t, "rejected folder", h.box.messageIDs(t, h.box.rejected), wantRejected)
	h.checkNoDeadLetters(ctx, t)
}

// TestEndToEndSMTPOutage: while the SMTP server refuses every message, mails are still taken in
// and decided, replies wait in the outbox and are retried; once the server is back every reply
// arrives, once, and nothing ends among the dead letters.
func TestEndToEndSMTPOutage(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	h.sink.SetFailure(true)
	h.start(t)

	fixtures := []string{"01-gr-body-router.eml", "03-fr-ubiquiti.eml", "05-en-grandstream-ticket.eml"}
	origs := map[string]mailHeader{}
	for _, name := range fixtures {
		raw, hdr := fixtureMail(t, name)
		origs[name] = hdr
		h.box.append(t, raw)
	}

	// Every mail leaves INBOX and is decided although nothing can be sent ...
	testenv.Eventually(t, waitLong, "mails taken in and decided during the outage", func() bool {
		return h.box.count(h.box.in) == 0 && h.depth(ctx, t, queue.Inbox) == 0
	})
	// ... and each reply waiting in the outbox is refused at least twice (first try and a retry).
	var waiting int64
	testenv.Eventually(t, waitLong, "every outbox entry refused twice", func() bool {
		waiting = h.depth(ctx, t, queue.Outbox)
		failed := h.failedOutboxAttempts(t)
		if waiting < int64(len(fixtures)) {
			return false
		}
		twice := 0
		for _, n := range failed {
			if n >= 2 {
				twice++
			}
		}
		return int64(twice) == waiting
	})
	if got := h.sink.Mails(); len(got) != 0 {
		t.Fatalf("%d mails arrived while the SMTP server refused every message", len(got))
	}
	// An entry holds a reply and its staff copy: the mails waiting are the entries' messages.
	entries, err := h.rdb.XRange(ctx, h.prefix+queue.Outbox, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	waitingIDs := map[string]bool{}
	for _, x := range entries {
		p, _ := x.Values["payload"].(string)
		ids, err := daemon.OutboxMessageIDs([]byte(p))
		if err != nil {
			t.Fatalf("outbox entry %s: %v", x.ID, err)
		}
		for _, id := range ids {
			waitingIDs[id] = true
		}
	}

	h.sink.SetFailure(false)
	testenv.Eventually(t, waitLong, "outbox drained after the outage", func() bool {
		p, err := h.d.Pending(ctx)
		return err == nil && p == 0
	})
	got := h.sink.Mails()
	if len(got) != len(waitingIDs) {
		t.Errorf("%d mails sent after the outage, %d were waiting (in %d entries)", len(got), len(waitingIDs), waiting)
	}
	for id := range checkSentOnce(t, got) {
		if !waitingIDs[id] {
			t.Errorf("message %s sent, but it was not waiting", id)
		}
	}
	for _, name := range fixtures {
		if replies := partnerReplies(t, origs[name], got); len(replies) != 1 {
			t.Errorf("%s: %d replies to the partner after the outage, want 1", name, len(replies))
		}
	}
	h.checkNoDeadLetters(ctx, t)
}

// checkAnswer compares what the daemon sent for one fixture with its expectation.
func checkAnswer(t *testing.T, name string, orig mailHeader, e testenv.Expectation, sent []sandbox.Mail) {
	t.Helper()
	if e.Reply == "none" {
		for _, m := range sent {
			t.Errorf("%s: expected no mail at all, got one to %v: %q", name, m.To, parseSent(t, m).Subject)
		}
		return
	}
	replies := partnerReplies(t, orig, sent)
	if len(replies) != 1 {
		t.Errorf("%s: %d answers to %s (auto-replied, In-Reply-To %s) among %d mails sent, want exactly 1",
			name, len(replies), orig.From, orig.MessageID, len(sent))
		return
	}
	r := replies[0]
	body := strings.ToLower(r.Text)
	for _, s := range e.Contains {
		if !strings.Contains(body, strings.ToLower(s)) {
			t.Errorf("%s: answer lacks %q; its text:\n%s", name, s, r.Text)
		}
	}
	for _, s := range e.NotContains {
		if strings.Contains(body, strings.ToLower(s)) {
			t.Errorf("%s: answer contains %q; its text:\n%s", name, s, r.Text)
		}
	}
	switch e.Reply {
	case "results":
		if !strings.HasPrefix(r.Subject, "Re: ") {
			t.Errorf("%s: reply subject %q does not start with \"Re: \"", name, r.Subject)
		}
		delim := ','
		if d, ok := csvDelimiter[name]; ok {
			delim = d
		}
		checkResultsCSV(t, name, r.CSV, delim, e.Rows)
	case "registration", "status", "warranty":
		if r.CSV != nil {
			t.Errorf("%s: a %s answer carries rma-results.csv", name, e.Reply)
		}
	default:
		t.Errorf("%s: unknown reply kind %q in expected.json", name, e.Reply)
	}
}

// checkResultsCSV checks rma-results.csv: header, delimiter, and the expected rows.
func checkResultsCSV(t *testing.T, name string, data []byte, delim rune, want []testenv.ExpectedRow) {
	t.Helper()
	if data == nil {
		t.Errorf("%s: the reply has no rma-results.csv", name)
		return
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if h := strings.TrimSuffix(string(first), "\r"); h != strings.Join(resultsHeader, string(delim)) {
		t.Errorf("%s: rma-results.csv header %q, want %q", name, h, strings.Join(resultsHeader, string(delim)))
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = delim
	recs, err := cr.ReadAll()
	if err != nil {
		t.Errorf("%s: rma-results.csv does not read with delimiter %q: %v\n%s", name, delim, err, data)
		return
	}
	rows := recs[1:]
	if len(rows) != len(want) {
		t.Errorf("%s: %d result rows, want %d:\n%s", name, len(rows), len(want), data)
		return
	}
	col := map[string]int{}
	for i, h := range resultsHeader {
		col[h] = i
	}
	for i, w := range want {
		row := rows[i]
		get := func(c string) string { return row[col[c]] }
		where := fmt.Sprintf("%s: row %d", name, i+1)
		if get("line") != strconv.Itoa(w.Line) {
			t.Errorf("%s: line %q, want %d", where, get("line"), w.Line)
		}
		if get("result") != string(w.Result) {
			t.Errorf("%s: result %q, want %q (message %q)", where, get("result"), w.Result, get("message"))
		}
		var codes []string
		if c := get("codes"); c != "" {
			codes = strings.Split(c, "|")
		}
		slices.Sort(codes)
		wantCodes := slices.Sorted(slices.Values(w.CodeStrings()))
		if !slices.Equal(codes, wantCodes) {
			t.Errorf("%s: codes %v, want %v (message %q)", where, codes, wantCodes, get("message"))
		}
		if w.Handling != "" && get("handling") != string(w.Handling) {
			t.Errorf("%s: handling %q, want %q", where, get("handling"), w.Handling)
		}
		if w.Warranty != "" && get("warranty") != string(w.Warranty) {
			t.Errorf("%s: warranty %q, want %q", where, get("warranty"), w.Warranty)
		}
		switch num := get("rma_number"); w.Result {
		case "accepted", "duplicate":
			if !rmaNumber.MatchString(num) {
				t.Errorf("%s: %s item with RMA number %q", where, w.Result, num)
			}
		case "rejected":
			if num != "" || get("handling") != "" {
				t.Errorf("%s: rejected item with RMA number %q, handling %q", where, num, get("handling"))
			}
		}
	}
}

// partnerReplies are the mails among sent that answer orig: To its sender, In-Reply-To its
// Message-ID, Auto-Submitted: auto-replied.
func partnerReplies(t testing.TB, orig mailHeader, sent []sandbox.Mail) []sentMail {
	t.Helper()
	var out []sentMail
	for _, m := range sent {
		p := parseSent(t, m)
		if p.AutoSubmitted != "auto-replied" || !slices.Contains(p.InReplyTo, orig.MessageID) {
			continue
		}
		if !slices.Contains(p.To, orig.From) || !slices.ContainsFunc(m.To, func(a string) bool { return strings.EqualFold(a, orig.From) }) {
			t.Errorf("answer to %s goes to %v (envelope %v), not to the sender %s", orig.MessageID, p.To, m.To, orig.From)
			continue
		}
		out = append(out, p)
	}
	return out
}

// mailHeader is what the tests need of a mail's header.
type mailHeader struct {
	MessageID string // without angle brackets
	From      string // lower-case address
}

// fixtureMail reads testdata/mails/<name> and its header.
func fixtureMail(t testing.TB, name string) ([]byte, mailHeader) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../testdata/mails", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw, readHeader(t, name, raw)
}

func readHeader(t testing.TB, name string, raw []byte) mailHeader {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer mr.Close()
	id, err := mr.Header.MessageID()
	if err != nil || id == "" {
		t.Fatalf("%s: no Message-ID (%v)", name, err)
	}
	from, err := mr.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("%s: From %v (%v)", name, from, err)
	}
	return mailHeader{MessageID: id, From: strings.ToLower(from[0].Address)}
}

// sentMail is a mail the SMTP sink received, read.
type sentMail struct {
	MessageID     string
	InReplyTo     []string
	AutoSubmitted string
	To            []string // header addresses, lower-case
	Subject       string
	Text          string // the inline text parts
	CSV           []byte // rma-results.csv; nil when absent
	Labels        []byte // rma-labels.pdf; nil when absent
}

func parseSent(t testing.TB, m sandbox.Mail) sentMail {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("mail to %v does not parse: %v", m.To, err)
	}
	defer mr.Close()
	var s sentMail
	s.MessageID, _ = mr.Header.MessageID()
	s.InReplyTo, _ = mr.Header.MsgIDList("In-Reply-To")
	s.AutoSubmitted = strings.TrimSpace(mr.Header.Get("Auto-Submitted"))
	s.Subject, _ = mr.Header.Subject()
	to, _ := mr.Header.AddressList("To")
	for _, a := range to {
		s.To = append(s.To, strings.ToLower(a.Address))
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mail %s: %v", s.MessageID, err)
		}
		data, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("mail %s: %v", s.MessageID, err)
		}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); strings.HasPrefix(ct, "text/") {
				s.Text += string(data)
			}
		case *mail.AttachmentHeader:
			switch fn, _ := h.Filename(); fn {
			case "rma-results.csv":
				s.CSV = data
			case "rma-labels.pdf":
				s.Labels = data
			}
		}
	}
	return s
}

// harness is one daemon with its own Dovecot folders, Redis key prefix and SMTP sink.
type harness struct {
	box     *imapBox
	sink    *sandbox.SMTP
	prefix  string
	cfgPath string
	cfg     *config.Config
	logs    *testenv.SyncBuffer
	rdb     *redis.Client
	st      *store.Store // the daemon's store under the harness's prefix
	d       *daemon.Daemon
	clock   *testenv.Clock
}

type harnessOptions struct {
	idle *bool         // nil: IDLE on
	poll time.Duration // default 30s (IDLE does the work; polling is the safety net)
	// clock is the daemon's clock; nil: fixturesDay plus the time since the start.
	clock *testenv.Clock
}

func newHarness(t *testing.T, opt harnessOptions) *harness {
	t.Helper()
	redisAddr := testenv.RedisAddr(t)
	h := &harness{box: newIMAPBox(t), logs: &testenv.SyncBuffer{}, clock: opt.clock}
	h.prefix = fmt.Sprintf("rmad-%s-%d:", strings.ToLower(t.Name()), time.Now().UnixNano())
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	h.sink = sink
	h.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
	h.st = store.New(h.rdb, h.prefix)
	t.Cleanup(func() {
		cleanPrefix(h.rdb, h.prefix)
		h.rdb.Close()
	})
	idle := true
	if opt.idle != nil {
		idle = *opt.idle
	}
	if opt.poll == 0 {
		opt.poll = 30 * time.Second
	}
	h.cfgPath = writeConfig(t, t.TempDir(), configParams{
		RedisAddr: redisAddr, Prefix: h.prefix, Box: h.box, SMTPAddr: sink.Addr, IDLE: idle, Poll: opt.poll,
	})
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		t.Fatalf("config: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (last 16 KiB):\n%s", h.logs.Tail(16<<10))
		}
	})
	return h
}

// checkSentOnce fails for every Message-ID the sink got more than once, and returns how often
// each came.
func checkSentOnce(t *testing.T, sent []sandbox.Mail) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range sent {
		ids[parseSent(t, m).MessageID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("message %s sent %d times", id, n)
		}
	}
	return ids
}

// startHarness is newHarness with the default options, the daemon already running.
func startHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, harnessOptions{})
	h.start(t)
	return h
}

// start runs the daemon in-process until the test ends.
func (h *harness) start(t *testing.T) {
	t.Helper()
	start := time.Now()
	log := config.NewLogger(h.cfg.Log, h.logs)
	now := func() time.Time { return fixturesDay.Add(time.Since(start)) }
	if h.clock != nil {
		now = h.clock.Now
	}
	d, err := daemon.New(context.Background(), h.cfg, log, daemon.Options{Now: now, Grace: 5 * time.Second})
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(waitLong):
			t.Errorf("daemon did not stop within %s", waitLong)
		}
		checkLogLines(t, h.logs.Bytes())
	})
}

// checkLogLines: every line of a JSON log is one JSON object without repeated keys (journald
// and Loki pipelines keep only one of two "component" fields, and not always the same one).
func checkLogLines(t testing.TB, logs []byte) {
	t.Helper()
	bad := 0
	for _, line := range bytes.Split(bytes.TrimSpace(logs), []byte("\n")) {
		if err := jsonObjectKeysOnce(line); err != nil && bad < 3 {
			bad++
			t.Errorf("log line %s: %v", line, err)
		}
	}
}

func jsonObjectKeysOnce(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("key %q twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
	}
	return nil
}

// deliver appends one mail and waits until it has left the mailbox and every mail it caused has
// been sent (the mailbox and both queues empty); it returns those mails.
func (h *harness) deliver(ctx context.Context, t *testing.T, name string, raw []byte) []sandbox.Mail {
	t.Helper()
	before := len(h.sink.Mails())
	h.box.append(t, raw)
	// The watcher enqueues a mail before it moves it, and the worker queues the replies before it
	// acknowledges the mail: an empty mailbox seen before empty queues means all is done.
	testenv.Eventually(t, waitLong, name+" answered", func() bool {
		if h.box.count(h.box.in) != 0 {
			return false
		}
		p, err := h.d.Pending(ctx)
		return err == nil && p == 0
	})
	return h.sink.Mails()[before:]
}

// depth is the daemon's count of stream's entries not yet done (the stream may hold done ones
// for a moment: they are deleted in batches).
func (h *harness) depth(ctx context.Context, t testing.TB, stream string) int64 {
	t.Helper()
	n, err := h.d.QueueDepth(ctx, stream)
	if err != nil {
		t.Fatalf("depth of %s: %v", stream, err)
	}
	return n
}

// failedOutboxAttempts counts, per outbox entry, the failed attempts the daemon logged.
func (h *harness) failedOutboxAttempts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range bytes.Split(h.logs.Bytes(), []byte("\n")) {
		var e struct {
			Stream  string `json:"stream"`
			ID      string `json:"id"`
			Message string `json:"message"`
		}
		if json.Unmarshal(line, &e) == nil && e.Stream == queue.Outbox && e.Message == "attempt failed" {
			out[e.ID]++
		}
	}
	return out
}

func (h *harness) checkNoDeadLetters(ctx context.Context, t testing.TB) {
	t.Helper()
	checkNoDeadLetters(ctx, t, h.rdb, h.prefix)
}

func checkNoDeadLetters(ctx context.Context, t testing.TB, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	for _, s := range []string{queue.Inbox, queue.Outbox} {
		dl, err := queue.New(rdb, prefix, queue.Options{Stream: s}).DeadLetters(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dl {
			t.Errorf("dead letter in %s: %+v", s, d)
		}
	}
}

// cleanPrefix deletes a test's keys, so the shared test Redis does not fill up.
func cleanPrefix(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Del(ctx, keys[:n]...)
		keys = keys[n:]
	}
}

// imapBox is a set of folders of the test's own on the test Dovecot (scripts/dovecot.sh), so
// that tests sharing the server do not see each other's mail; they are deleted after the test.
type imapBox struct {
	addr, user, pass   string
	in, done, rejected string
	c                  *imapclient.Client // the test's own client: appends and checks
	mu                 sync.Mutex
}

func newIMAPBox(t testing.TB) *imapBox {
	t.Helper()
	addr, user, pass := testenv.IMAPServer(t)
	root := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	b := &imapBox{addr: addr, user: user, pass: pass, in: root + "/in", done: root + "/done", rejected: root + "/rejected"}
	b.c = dialIMAP(t, addr, user, pass)
	if err := b.c.Create(b.in, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", b.in, err)
	}
	t.Cleanup(func() {
		for _, m := range []string{b.in, b.done, b.rejected, root} {
			_ = b.c.Delete(m).Wait()
		}
		b.c.Close()
	})
	return b
}

func dialIMAP(t testing.TB, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("imap dial %s: %v", addr, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		t.Fatalf("imap login: %v", err)
	}
	return c
}

func (b *imapBox) append(t testing.TB, raw []byte) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := appendMail(b.c, b.in, raw); err != nil {
		t.Fatal(err)
	}
}

func appendMail(c *imapclient.Client, folder string, raw []byte) error {
	cmd := c.Append(folder, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return fmt.Errorf("append to %s: %w", folder, err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("append to %s: %w", folder, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("append to %s: %w", folder, err)
	}
	return nil
}

// count is the number of mails in folder; 0 when it does not exist (yet), -1 on other errors.
func (b *imapBox) count(folder string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		if strings.Contains(err.Error(), "NONEXISTENT") || strings.Contains(strings.ToLower(err.Error()), "doesn't exist") {
			return 0
		}
		return -1
	}
	return int(*st.NumMessages)
}

// messageIDs lists the Message-IDs of the mails in folder.
func (b *imapBox) messageIDs(t testing.TB, folder string) map[string]bool {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]bool{}
	sel, err := b.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	defer func() { _ = b.c.Unselect().Wait() }()
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	msgs, err := b.c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	for _, m := range msgs {
		if m.Envelope == nil || m.Envelope.MessageID == "" {
			t.Errorf("%s: message %d without Message-ID", folder, m.SeqNum)
			continue
		}
		if out[m.Envelope.MessageID] {
			t.Errorf("%s: Message-ID %s twice", folder, m.Envelope.MessageID)
		}
		out[m.Envelope.MessageID] = true
	}
	return out
}

func compareSets(t testing.TB, what string, got, want map[string]bool) {
	t.Helper()
	for id := range want {
		if !got[id] {
			t.Errorf("%s lacks %s", what, id)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("%s holds %s, which does not belong there", what, id)
		}
	}
}

// configParams are what differs between the tests' configs; the routing and policy are those of
// config.sample.yaml, which testdata/expected.json assumes.
type configParams struct {
	RedisAddr, Prefix string
	Box               *imapBox
	SMTPAddr          string
	IDLE              bool
	Poll              time.Duration
	LogLevel          string // "" for info
}

// writeConfig writes a config for p into dir and returns its path.
func writeConfig(t testing.TB, dir string, p configParams) string {
	t.Helper()
	data, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "imap-password"), []byte(p.Box.pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A port of its own: the default 127.0.0.1:8080 may be taken by anything on the machine.
	httpPort, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	err = sandbox.WriteConfig(path, sandbox.Settings{
		LogLevel:  p.LogLevel,
		RedisAddr: p.RedisAddr, KeyPrefix: p.Prefix,
		IMAPAddr: p.Box.addr, IMAPUser: p.Box.user, IMAPPasswordFile: "imap-password",
		Mailbox: p.Box.in, ProcessedMailbox: p.Box.done, RejectedMailbox: p.Box.rejected, IDLE: p.IDLE, PollInterval: p.Poll,
		SMTPAddr:   p.SMTPAddr,
		HTTPListen: fmt.Sprintf("127.0.0.1:%d", httpPort),
		DataDir:    data,
		Digest:     sandbox.LeapDayDigest, Reminders: sandbox.LeapDayReminders, // no mails to partners mid-test
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}
