package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// These tests run the real daemon (test Redis, in-memory IMAP, SMTP sink) with a controllable
// clock, and run the scheduled jobs directly for chosen ticks; the cron specs in their config
// never fire (31 February) unless a test asks for real ones.

// schAthens is schedule.timezone of the tests (time/tzdata makes it independent of the host).
var schAthens, _ = time.LoadLocation("Europe/Athens")

// schAt is a time in Athens: "2026-03-11 08:00".
func schAt(t testing.TB, s string) time.Time {
	t.Helper()
	tt, err := time.ParseInLocation("2006-01-02 15:04", s, schAthens)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

type schClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *schClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *schClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type schEnv struct {
	t       *testing.T
	prefix  string
	smtp    *sandbox.SMTP
	cfgPath string
	clock   *schClock
	first   *Daemon
	seq     int
}

type schSpecs struct{ digest, reminders string }

var schNever = schSpecs{"0 0 31 2 *", "0 0 31 2 *"}

func newSchEnv(t *testing.T, specs schSpecs) *schEnv {
	t.Helper()
	return newSchEnvAt(t, specs, testenv.RedisAddr(t))
}

func newSchEnvAt(t *testing.T, specs schSpecs, redisAddr string) *schEnv {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	e := &schEnv{t: t, prefix: "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":", clock: &schClock{t: schAt(t, "2026-03-02 09:00")}}
	imapSrv, err := sandbox.StartIMAP("rma@distributor.example", "pw-"+hex.EncodeToString(rnd[:]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(imapSrv.Stop)
	if e.smtp, err = sandbox.StartSMTP(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.smtp.Stop)
	data, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "imap-password"), []byte(imapSrv.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	httpPort, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(schConfig, redisAddr, e.prefix, imapSrv.Addr, imapSrv.User, e.smtp.Addr, httpPort,
		specs.digest, specs.reminders, data, data, data)
	e.cfgPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

const schConfig = `log: {level: debug, format: json}
redis: {url: "redis://%s/0", key_prefix: "%s"}
imap:
  - {name: partners, address: "%s", tls: none, username: "%s", password_file: imap-password, idle: true, poll_interval: 30s}
smtp: {address: "%s", tls: none, from: "Example Distribution RMA <rma@distributor.example>"}
http: {listen: "127.0.0.1:%d"}
schedule: {timezone: Europe/Athens, digest: "%s", reminders: "%s"}
service_centers:
  GR: {name: "Example Distribution Service GR", address: "Example Street 1, 14451 Metamorfosi, Greece"}
  RO: {name: "Example Distribution Service RO", address: "Example Street 3, 031041 Bucharest, Romania"}
  default: GR
partners_file: %s/partners.yaml
catalog_file: %s/catalog.csv
sales_file: %s/sales.csv
routing: {default: in_house, brands: {DJI: {handling: forward, forward_to: "rma@dji.example"}}}
policy: {awaiting_goods_days: 14, customer_delay_days: 10, uncollected_days: 15}
notify: {staff: service-desk@distributor.example}
`

// start runs a daemon on the environment's config until the test ends.
func (e *schEnv) start(consumer string, opt Options) (*Daemon, *schLog) {
	e.t.Helper()
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	port, err := sandbox.FreePort() // each instance listens on a port of its own
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.HTTP.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	logs := &schLog{}
	opt.Now, opt.Consumer, opt.Grace, opt.Workers = e.clock.Now, consumer, 2*time.Second, 1
	d, err := New(context.Background(), cfg, config.NewLogger(cfg.Log, logs), opt)
	if err != nil {
		e.t.Fatal(err)
	}
	d.sched.poll = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("daemon %s: %v", consumer, err)
			}
		}
	}
	e.t.Cleanup(stop)
	logs.stop = stop
	if e.first == nil {
		e.first = d
	}
	return d, logs
}

// schLog keeps a daemon's JSON log lines.
type schLog struct {
	mu   sync.Mutex
	b    bytes.Buffer
	stop func()
}

func (l *schLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *schLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// seed commits one accepted item for partner at at and returns its RMA number.
func (e *schEnv) seed(partner, own string, h rma.Handling, at time.Time) string {
	e.t.Helper()
	e.seq++
	it := rma.Item{Line: 1, EAN: "5204001000013", Serial: fmt.Sprintf("SN-%d", e.seq), OwnNumber: own,
		PurchaseDate: "2026-01-10", Description: "does not power on after the firmware update"}
	sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: partner, Items: []rma.Item{it},
		Source: rma.Source{Channel: "mail", Mailbox: "partners", MessageID: fmt.Sprintf("req-%d@%s.example", e.seq, strings.ToLower(partner))}}
	d := rma.Decision{Line: 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: h},
		Warranty: rma.Warranty{Status: rma.WarrantyIn}, ClaimType: "defective", Quantity: 1,
		Product: &rma.Product{EAN: it.EAN, Brand: "TP-Link", Model: "Archer AX55", WarrantyMonths: 36}}
	if h == rma.HandlingForward {
		d.Route.ForwardTo = "rma@dji.example"
	}
	out, err := e.first.Store().Commit(context.Background(), sub, []rma.Decision{d}, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Decisions[0].Number
}

// set moves an RMA on as staff would (`rmad set-status`).
func (e *schEnv) set(number string, to rma.Status, note string, at time.Time) {
	e.t.Helper()
	if _, err := e.first.Store().SetStatus(context.Background(), number, to, "cli:maria", note, nil, at); err != nil {
		e.t.Fatal(err)
	}
}

func (e *schEnv) run(d *Daemon, job string, tick time.Time) JobReport {
	e.t.Helper()
	e.clock.Set(tick)
	rep, err := d.RunJob(context.Background(), job, tick, false)
	if err != nil {
		e.t.Fatalf("%s at %s: %v", job, tick, err)
	}
	return rep
}

// settle waits until the sink holds n mails and no daemon has outbox work left, then checks
// that no more came: it returns exactly the n mails.
func (e *schEnv) settle(n int, ds ...*Daemon) []schMail {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := e.smtp.Wait(ctx, n); err != nil {
		e.t.Fatalf("%v; got: %v", err, schIDs(e.mails()))
	}
	if len(ds) == 0 {
		ds = []*Daemon{e.first}
	}
	for {
		var pending int64
		for _, d := range ds {
			p, err := d.Pending(ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			pending += p
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("outbox not drained: %d entries", pending)
		case <-time.After(20 * time.Millisecond):
		}
	}
	got := e.mails()
	if len(got) != n {
		e.t.Fatalf("%d mails at the sink, want %d: %v", len(got), n, schIDs(got))
	}
	return got
}

type schMail struct {
	ID, Subject, Lang, Body string
	To                      []string
	Files                   map[string][]byte
	Refs                    []string
}

func (e *schEnv) mails() []schMail {
	e.t.Helper()
	var out []schMail
	for _, m := range e.smtp.Mails() {
		r, err := mail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			e.t.Fatalf("sent mail unreadable: %v", err)
		}
		id, _ := r.Header.MessageID()
		subj, _ := r.Header.Subject()
		refs, _ := r.Header.MsgIDList("References")
		sm := schMail{ID: id, Subject: subj, Lang: r.Header.Get("Content-Language"), To: m.To, Files: map[string][]byte{}, Refs: refs}
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				e.t.Fatalf("part: %v", err)
			}
			b, _ := io.ReadAll(p.Body)
			switch h := p.Header.(type) {
			case *mail.InlineHeader:
				sm.Body += string(b)
			case *mail.AttachmentHeader:
				name, _ := h.Filename()
				sm.Files[name] = b
			}
		}
		out = append(out, sm)
	}
	return out
}

func schIDs(ms []schMail) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID+" → "+strings.Join(m.To, ","))
	}
	return ids
}

// schFind returns the mails whose Message-ID starts with kind and that go to addr.
func schFind(ms []schMail, kind, addr string) []schMail {
	var out []schMail
	for _, m := range ms {
		if strings.HasPrefix(m.ID, kind+".") && slices.Contains(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

func schCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("rma-status.csv: %v\n%s", err, b)
	}
	return rows
}

func schContains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

const (
	grMail    = "service@alfa-computers.gr"
	roMail    = "rma@nova-it.ro"
	frMail    = "sav@telecompro.fr"
	enMail    = "returns@cyprusnet.example"
	staffMail = "service-desk@distributor.example"
)

func TestDigestJob(t *testing.T) {
	e := newSchEnv(t, schNever)
	d, _ := e.start("d1", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	a := e.seed("P-GR-001", "ALFA-1", rma.HandlingInHouse, t0)
	b := e.seed("P-GR-001", "=cmd|' /C calc'!A0", rma.HandlingInHouse, t0)
	c := e.seed("P-RO-002", "NOVA-1", rma.HandlingInHouse, t0)
	dd := e.seed("P-FR-003", "TP-1", rma.HandlingInHouse, t0)

	// New RMAs alone are no news: their replies told the partners.
	if rep := e.run(d, JobDigest, schAt(t, "2026-03-09 08:00")); len(rep.Mails) != 0 || rep.Skipped != "" {
		t.Fatalf("digest without status changes: %+v", rep)
	}

	e.set(a, rma.StatusReceived, "parcel complete, PSU included", schAt(t, "2026-03-10 09:00"))
	e.set(c, rma.StatusReceived, "", schAt(t, "2026-03-10 11:00"))
	e.set(c, rma.StatusDiagnosing, "checking the PSU", schAt(t, "2026-03-10 15:00"))
	rep := e.run(d, JobDigest, schAt(t, "2026-03-11 08:00"))
	if len(rep.Mails) != 2 || rep.Mails[0].Partner != "P-GR-001" || rep.Mails[1].Partner != "P-RO-002" {
		t.Fatalf("report %+v", rep)
	}
	ms := e.settle(2)

	gr := schFind(ms, "digest", grMail)
	if len(gr) != 1 {
		t.Fatalf("Greek partner got %d digests", len(gr))
	}
	g := gr[0]
	if g.Lang != "el" || !strings.Contains(g.Subject, "Κατάσταση των RMA σας στις 2026-03-11") {
		t.Errorf("Greek digest: %q %q", g.Lang, g.Subject)
	}
	schContains(t, "Greek digest", g.Body, a, b, "received — Παραλήφθηκε", "parcel complete, PSU included",
		"2026-03-10 09:00", "awaiting_goods — Αναμονή παραλαβής", "Άλλαξαν από την προηγούμενη ενημέρωση (1)", "Ανοιχτά, χωρίς αλλαγή (1)")
	rows := schCSV(t, g.Files["rma-status.csv"])
	want := [][]string{
		{"rma_number", "own_number", "ean", "serial", "status", "updated_at", "note"},
		{a, "ALFA-1", "5204001000013", "SN-1", "received", "2026-03-10T09:00:00+02:00", "parcel complete, PSU included"},
		{b, "'=cmd|' /C calc'!A0", "5204001000013", "SN-2", "awaiting_goods", "2026-03-02T10:00:00+02:00", ""},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rma-status.csv:\n%v\nwant\n%v", rows, want)
	}
	ro := schFind(ms, "digest", roMail)
	if len(ro) != 1 || ro[0].Lang != "ro" {
		t.Fatalf("Romanian digests: %v", schIDs(ro))
	}
	schContains(t, "Romanian digest", ro[0].Body, c, "received — Recepționat", "diagnosing — În diagnosticare", "checking the PSU")
	if len(schFind(ms, "digest", frMail)) != 0 {
		t.Fatal("the French partner had no change but got a digest")
	}

	// The same tick again (another instance, a retry): done already.
	if rep := e.run(d, JobDigest, schAt(t, "2026-03-11 08:00")); rep.Skipped == "" || len(rep.Mails) != 0 {
		t.Fatalf("rerun: %+v", rep)
	}
	// An admin's run a minute later, and the next day's: nothing changed since, no mail.
	for _, at := range []string{"2026-03-11 08:01", "2026-03-12 08:00"} {
		if rep := e.run(d, JobDigest, schAt(t, at)); len(rep.Mails) != 0 {
			t.Fatalf("digest at %s without changes: %+v", at, rep)
		}
	}

	// A change just after a tick belongs to the next digest, and is told once.
	e.set(b, rma.StatusReceived, "", schAt(t, "2026-03-12 09:00"))
	e.set(dd, rma.StatusReceived, "colis reçu", schAt(t, "2026-03-13 08:00").Add(30*time.Second))
	rep = e.run(d, JobDigest, schAt(t, "2026-03-13 08:00"))
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-GR-001" {
		t.Fatalf("report %+v", rep)
	}
	rep = e.run(d, JobDigest, schAt(t, "2026-03-16 08:00"))
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-FR-003" {
		t.Fatalf("report %+v", rep)
	}
	ms = e.settle(4)
	gr = schFind(ms, "digest", grMail)
	if len(gr) != 2 || gr[0].ID == gr[1].ID {
		t.Fatalf("Greek digests %v", schIDs(gr))
	}
	// The second lists b's change only; a, told before, is among the open ones.
	schContains(t, "second Greek digest", gr[1].Body, "Άλλαξαν από την προηγούμενη ενημέρωση (1)", "Ανοιχτά, χωρίς αλλαγή (1)")
	if i, j := strings.Index(gr[1].Body, b), strings.Index(gr[1].Body, a); i < 0 || j < 0 || i > j {
		t.Errorf("second digest: %s should come first (changed), %s after (open):\n%s", b, a, gr[1].Body)
	}
	fr := schFind(ms, "digest", frMail)
	if len(fr) != 1 || fr[0].Lang != "fr" {
		t.Fatalf("French digests %v", schIDs(fr))
	}
	schContains(t, "French digest", fr[0].Body, dd, "received — Reçu", "colis reçu")
}

// A run cut off in the middle — by a crash after a mail was queued, or before — is finished by
// the next attempt for the same tick, and no partner gets a digest twice.
func TestDigestCrashMidRun(t *testing.T) {
	e := newSchEnv(t, schNever)
	d, _ := e.start("d1", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	for _, p := range []string{"P-GR-001", "P-RO-002", "P-FR-003"} {
		n := e.seed(p, "X-1", rma.HandlingInHouse, t0)
		e.set(n, rma.StatusReceived, "", t0.Add(24*time.Hour))
	}
	tick := schAt(t, "2026-03-05 08:00")
	normal := d.sched.emit
	crash := errors.New("killed")
	d.sched.emit = func(ctx context.Context, m outbound.Message) error {
		switch {
		case slices.Contains(m.To, roMail): // queued, then the process died before recording it
			if err := normal(ctx, m); err != nil {
				return err
			}
			return crash
		case slices.Contains(m.To, frMail): // died before queueing
			return crash
		}
		return normal(ctx, m)
	}
	e.clock.Set(tick)
	if _, err := d.RunJob(context.Background(), JobDigest, tick, false); !errors.Is(err, crash) {
		t.Fatalf("cut-off run: %v", err)
	}
	e.settle(2) // GR's and RO's digests went out before the "crash"
	d.sched.emit = normal
	rep := e.run(d, JobDigest, tick)
	if len(rep.Mails) != 2 || rep.Mails[0].Partner != "P-FR-003" || rep.Mails[1].Partner != "P-RO-002" {
		t.Fatalf("rerun should redo RO (same Message-ID) and FR: %+v", rep)
	}
	ms := e.settle(3)
	for _, a := range []string{grMail, roMail, frMail} {
		if n := len(schFind(ms, "digest", a)); n != 1 {
			t.Errorf("%s got %d digests, want 1", a, n)
		}
	}
	if rep := e.run(d, JobDigest, tick); rep.Skipped == "" {
		t.Fatalf("run not marked done: %+v", rep)
	}
}

// A run that a previous process started and did not finish is caught up when rmad starts again.
func TestDigestCaughtUpAfterRestart(t *testing.T) {
	e := newSchEnv(t, schSpecs{"0 8 * * 1-5", "30 8 * * *"})
	d1, logs1 := e.start("d1", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	for _, p := range []string{"P-GR-001", "P-RO-002"} {
		n := e.seed(p, "X-1", rma.HandlingInHouse, t0)
		e.set(n, rma.StatusReceived, "", t0.Add(24*time.Hour))
	}
	tick := schAt(t, "2026-03-05 08:00")
	normal := d1.sched.emit
	d1.sched.emit = func(ctx context.Context, m outbound.Message) error {
		if slices.Contains(m.To, roMail) {
			return errors.New("killed")
		}
		return normal(ctx, m)
	}
	e.clock.Set(tick)
	if _, err := d1.RunJob(context.Background(), JobDigest, tick, false); err == nil {
		t.Fatal("the cut-off run succeeded")
	}
	e.settle(1)
	logs1.stop()

	e.clock.Set(tick.Add(7 * time.Minute)) // systemd restarted rmad a few minutes later
	d2, logs2 := e.start("d2", Options{})
	ms := e.settle(2, d2)
	if len(schFind(ms, "digest", roMail)) != 1 || len(schFind(ms, "digest", grMail)) != 1 {
		t.Fatalf("mails %v", schIDs(ms))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs2.String(), `"message":"run done"`) {
		if time.Now().After(deadline) {
			t.Fatalf("catch-up run not done; logs:\n%s", logs2.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	schContains(t, "restart log", logs2.String(), "the last run did not finish: catching it up", `"tick":"2026-03-05T08:00:00+02:00"`)
	if rep := e.run(d2, JobDigest, tick); rep.Skipped == "" {
		t.Fatalf("caught-up run not marked done: %+v", rep)
	}
}

func TestRemindersJob(t *testing.T) {
	e := newSchEnv(t, schNever)
	d, _ := e.start("d1", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	goods := e.seed("P-GR-001", "ALFA-9", rma.HandlingInHouse, t0)
	acc := e.seed("P-RO-002", "NOVA-9", rma.HandlingInHouse, t0)
	e.set(acc, rma.StatusReceived, "", schAt(t, "2026-03-03 10:00"))
	e.set(acc, rma.StatusAwaitingAccessories, "the power supply is missing", schAt(t, "2026-03-03 11:00"))
	fixed := e.seed("P-FR-003", "TP-9", rma.HandlingInHouse, t0)
	e.set(fixed, rma.StatusReceived, "", schAt(t, "2026-03-03 10:00"))
	e.set(fixed, rma.StatusDiagnosing, "", schAt(t, "2026-03-03 12:00"))
	e.set(fixed, rma.StatusRepaired, "new capacitor", schAt(t, "2026-03-04 10:00"))
	vendor := e.seed("P-EN-004", "CY-9", rma.HandlingForward, t0) // the manufacturer ships it back
	e.set(vendor, rma.StatusRepaired, "", schAt(t, "2026-03-03 10:00"))

	type step struct {
		at      string
		applied []string // "rule number"
		mails   int
	}
	steps := []step{
		{"2026-03-13 08:30", nil, 0},                                    // accessories 9d21h: not yet
		{"2026-03-14 08:30", []string{"accessories_timeout " + acc}, 2}, // 10d21h: returned unchecked, partner + staff
		{"2026-03-16 08:30", nil, 0},                                    // goods 13d22h
		{"2026-03-17 08:30", []string{"goods_reminder " + goods}, 1},    // goods 14d22h: reminder
		{"2026-03-18 08:30", nil, 0},                                    // reminded already; repaired 13d22h
		{"2026-03-19 08:30", nil, 0},                                    // repaired 14d22h
		{"2026-03-20 08:30", []string{"uncollected " + fixed}, 1},       // repaired 15d22h: staff, credit note
		{"2026-03-21 08:30", nil, 0},                                    // every rule once
		{"2026-03-30 08:30", nil, 0},                                    // goods 27d22h
		{"2026-03-31 08:30", []string{"goods_expired " + goods}, 2},     // 28d22h: expired, partner + staff
		{"2026-04-01 08:30", nil, 0},
		{"2026-05-01 08:30", nil, 0},
	}
	total := 0
	for _, s := range steps {
		rep := e.run(d, JobReminders, schAt(t, s.at))
		var applied []string
		for _, a := range rep.Applied {
			applied = append(applied, a.Rule+" "+a.RMA)
		}
		if fmt.Sprint(applied) != fmt.Sprint(s.applied) || len(rep.Mails) != s.mails {
			t.Fatalf("%s: applied %v with %d mails, want %v with %d", s.at, applied, len(rep.Mails), s.applied, s.mails)
		}
		total += s.mails
		e.settle(total)
	}
	if rep := e.run(d, JobReminders, schAt(t, "2026-03-31 08:30")); rep.Skipped == "" {
		t.Fatalf("rerun of a done tick: %+v", rep)
	}

	ms := e.settle(total)
	st := d.Store()
	ctx := context.Background()

	// Goods: reminded once, then expired; both in the history with the partner's language.
	r, err := st.Get(ctx, goods)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != rma.StatusExpired || len(r.History) != 3 {
		t.Fatalf("%s: %s, history %+v", goods, r.Status, r.History)
	}
	rem, exp := r.History[1], r.History[2]
	if rem.Actor != outbound.ScheduleActor || rem.Status != rma.StatusAwaitingGoods || rem.Extra["rule"] != "goods_reminder" ||
		!strings.Contains(rem.Note, "υπενθύμιση") || !rem.At.Equal(schAt(t, "2026-03-17 08:30")) {
		t.Errorf("reminder event %+v", rem)
	}
	if exp.Actor != outbound.ScheduleActor || exp.Status != rma.StatusExpired || !strings.Contains(exp.Note, "28") {
		t.Errorf("expiry event %+v", exp)
	}
	gm := schFind(ms, "remind", grMail)
	if len(gm) != 2 {
		t.Fatalf("Greek partner mails %v", schIDs(gm))
	}
	schContains(t, "goods reminder", gm[0].Subject+gm[0].Body, "Υπενθύμιση", goods, "2026-03-30", "Example Street 1")
	schContains(t, "expiry", gm[1].Subject+gm[1].Body, "έληξε", goods, "28 ημέρες")
	if len(gm[0].Refs) != 1 || gm[0].Refs[0] != r.Source.MessageID {
		t.Errorf("reminder references %v, want the partner's request %s", gm[0].Refs, r.Source.MessageID)
	}

	// Accessories: returned unchecked at the partner's cost, partner (ro) and staff told.
	if r, _ := st.Get(ctx, acc); r.Status != rma.StatusReturnedUnrepaired || r.History[len(r.History)-1].Actor != outbound.ScheduleActor {
		t.Errorf("%s: %s %+v", acc, r.Status, r.History)
	}
	rm := schFind(ms, "remind", roMail)
	if len(rm) != 1 || rm[0].Lang != "ro" {
		t.Fatalf("Romanian partner mails %v", schIDs(rm))
	}
	schContains(t, "accessories mail", rm[0].Subject+rm[0].Body, "returnat neverificat", "10 zile", "Bd. Unirii 10")

	// Uncollected repair: staff asked for the credit note once; the vendor's repair is not ours.
	if r, _ := st.Get(ctx, fixed); r.Status != rma.StatusRepaired || r.History[len(r.History)-1].Extra["rule"] != "uncollected" {
		t.Errorf("%s: %s %+v", fixed, r.Status, r.History)
	}
	if len(schFind(ms, "remind", frMail)) != 0 {
		t.Error("the partner was mailed about an uncollected item: that is for staff")
	}
	staff := schFind(ms, "escalation", staffMail)
	var subjects []string
	for _, m := range staff {
		subjects = append(subjects, m.Subject)
	}
	wantStaff := []string{"Return unchecked: " + acc, "Issue the credit note: " + fixed, "RMA expired: " + goods}
	if len(staff) != 3 {
		t.Fatalf("staff mails %v", subjects)
	}
	for i, w := range wantStaff {
		if !strings.HasPrefix(subjects[i], w) {
			t.Errorf("staff mail %d: %q, want %q…", i, subjects[i], w)
		}
	}
	if r, _ := st.Get(ctx, vendor); len(r.History) != 2 {
		t.Errorf("%s (forwarded) was touched: %+v", vendor, r.History)
	}
	if ns, _ := st.Notices(ctx); len(ns) != 0 {
		t.Errorf("notices left: %+v", ns)
	}
}

// The expiry happened, then the process died before the mails were queued: the next run tells,
// once, and does not expire the RMA twice.
func TestReminderMailAfterCrash(t *testing.T) {
	e := newSchEnv(t, schNever)
	d, _ := e.start("d1", Options{})
	goods := e.seed("P-EN-004", "CY-1", rma.HandlingInHouse, schAt(t, "2026-03-02 10:00"))
	normal := d.sched.emit
	d.sched.emit = func(context.Context, outbound.Message) error { return errors.New("killed") }
	tick := schAt(t, "2026-04-01 08:30")
	e.clock.Set(tick)
	if _, err := d.RunJob(context.Background(), JobReminders, tick, false); err == nil {
		t.Fatal("cut-off run succeeded")
	}
	r, _ := d.Store().Get(context.Background(), goods)
	if r.Status != rma.StatusExpired {
		t.Fatalf("status %s", r.Status)
	}
	if ns, _ := d.Store().Notices(context.Background()); len(ns) != 1 || ns[0].Rule != outbound.RuleGoodsExpired {
		t.Fatalf("owed notices %+v", ns)
	}
	d.sched.emit = normal
	rep := e.run(d, JobReminders, schAt(t, "2026-04-02 08:30"))
	if len(rep.Applied) != 0 || len(rep.Mails) != 2 {
		t.Fatalf("next run: %+v", rep)
	}
	ms := e.settle(2)
	if len(schFind(ms, "remind", enMail)) != 1 || len(schFind(ms, "escalation", staffMail)) != 1 {
		t.Fatalf("mails %v", schIDs(ms))
	}
	if rep := e.run(d, JobReminders, schAt(t, "2026-04-03 08:30")); len(rep.Mails) != 0 {
		t.Fatalf("told twice: %+v", rep)
	}
	if r, _ := d.Store().Get(context.Background(), goods); len(r.History) != 2 {
		t.Fatalf("history %+v", r.History)
	}
}

// Two rmad instances on one Redis fire the same schedule at the same tick: each partner gets one
// digest, and each reminder is sent once.
func TestTwoDaemonsOneDigestPerPartner(t *testing.T) {
	e := newSchEnv(t, schNever)
	d1, _ := e.start("d1", Options{})
	d2, _ := e.start("d2", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	partners := map[string]string{"P-GR-001": grMail, "P-RO-002": roMail, "P-FR-003": frMail, "P-EN-004": enMail}
	for p := range partners {
		for i := range 3 {
			n := e.seed(p, fmt.Sprintf("%s-%d", p, i), rma.HandlingInHouse, t0)
			if i > 0 {
				e.set(n, rma.StatusReceived, "", t0.Add(time.Duration(i)*time.Hour))
			}
		}
	}
	late := e.seed("P-GR-001", "LATE", rma.HandlingInHouse, t0.Add(-20*24*time.Hour))

	for _, job := range []struct {
		name string
		tick time.Time
		want int
	}{{JobDigest, schAt(t, "2026-03-03 08:00"), 4}, {JobReminders, schAt(t, "2026-03-03 08:30"), 1}} {
		e.clock.Set(job.tick)
		var wg sync.WaitGroup
		reps := make([]JobReport, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, d := range []*Daemon{d1, d2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				reps[i], errs[i] = d.RunJob(context.Background(), job.name, job.tick, false)
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		ran := 0
		for _, r := range reps {
			if r.Skipped == "" {
				ran++
				if len(r.Mails) != job.want {
					t.Fatalf("%s: the run that ran sent %d mails, want %d", job.name, len(r.Mails), job.want)
				}
			}
		}
		if ran != 1 {
			t.Fatalf("%s ran on %d instances: %+v", job.name, ran, reps)
		}
	}
	ms := e.settle(5, d1, d2)
	for p, addr := range partners {
		if n := len(schFind(ms, "digest", addr)); n != 1 {
			t.Errorf("%s got %d digests", p, n)
		}
	}
	if rm := schFind(ms, "remind", grMail); len(rm) != 1 || !strings.Contains(rm[0].Body, late) {
		t.Errorf("reminders %v", schIDs(rm))
	}
	// A third run of the same tick on either instance changes nothing.
	for _, d := range []*Daemon{d1, d2} {
		if rep := e.run(d, JobDigest, schAt(t, "2026-03-03 08:00")); rep.Skipped == "" {
			t.Fatalf("repeat: %+v", rep)
		}
	}
	e.settle(5, d1, d2)
}

// run-job --send delivers at once, with the outbox's sent markers.
func TestRunJobSend(t *testing.T) {
	e := newSchEnv(t, schNever)
	d, _ := e.start("d1", Options{})
	n := e.seed("P-FR-003", "TP-1", rma.HandlingInHouse, schAt(t, "2026-03-02 10:00"))
	e.set(n, rma.StatusReceived, "", schAt(t, "2026-03-03 10:00"))
	tick := schAt(t, "2026-03-04 08:00")
	rep, err := d.RunJob(context.Background(), JobDigest, tick, true)
	if err != nil || len(rep.Mails) != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	// Delivered before RunJob returned, not via the outbox.
	if got := e.smtp.Mails(); len(got) != 1 {
		t.Fatalf("%d mails right after run-job --send", len(got))
	}
	if sent, _ := d.Store().Marked(context.Background(), "sent:"+rep.Mails[0].MessageID); !sent {
		t.Fatal("no sent marker")
	}
	if _, err := d.RunJob(context.Background(), "weekly", tick, false); err == nil || !strings.Contains(err.Error(), "digest, reminders") {
		t.Fatalf("unknown job: %v", err)
	}
}
