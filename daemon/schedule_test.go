package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/schedule"
)

// These tests run the real daemon (test Redis, in-memory IMAP, SMTP sink) with a controllable
// clock, and run the scheduled jobs directly for chosen ticks; the cron specs in their config
// never fire (31 February) unless a test asks for real ones.

// schAt is a time in Athens: "2026-03-11 08:00".
func schAt(t testing.TB, s string) time.Time {
	t.Helper()
	tt, err := time.ParseInLocation("2006-01-02 15:04", s, testenv.Athens)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

type schEnv struct {
	t       *testing.T
	prefix  string
	smtp    *sandbox.SMTP
	imap    *sandbox.IMAP
	cfgPath string
	clock   *testenv.Clock
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
	e := &schEnv{t: t, prefix: "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":", clock: testenv.NewClock(schAt(t, "2026-03-02 09:00"))}
	imapSrv, err := sandbox.StartIMAP("rma@distributor.example", "pw-"+hex.EncodeToString(rnd[:]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(imapSrv.Stop)
	e.imap = imapSrv
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
	testenv.SyncBuffer
	stop func()
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

// settle waits until the sink holds n mails and no daemon has outbox work left, then checks
// that no more came: it returns exactly the n mails.
func (e *schEnv) settle(n int, ds ...*Daemon) []sandbox.Read {
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

func (e *schEnv) mails() []sandbox.Read {
	e.t.Helper()
	ms, err := e.smtp.ReadAll()
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func schIDs(ms []sandbox.Read) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID+" → "+strings.Join(m.To, ","))
	}
	return ids
}

// schFind returns the mails whose Message-ID starts with kind and that go to addr.
func schFind(ms []sandbox.Read, kind, addr string) []sandbox.Read {
	var out []sandbox.Read
	for _, m := range ms {
		if strings.HasPrefix(m.ID, kind+".") && slices.Contains(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
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
	grMail = "service@alfa-computers.gr"
	roMail = "rma@nova-it.ro"
)

// The daemon runs the schedule: a digest run that the previous process started and did not
// finish is caught up when rmad starts again, and its mails go out through the outbox.
func TestDaemonCatchesUpScheduledRun(t *testing.T) {
	e := newSchEnv(t, schSpecs{"0 8 * * 1-5", "30 8 * * *"})
	d1, logs1 := e.start("d1", Options{})
	t0 := schAt(t, "2026-03-02 10:00")
	for _, p := range []string{"P-GR-001", "P-RO-002"} {
		n := e.seed(p, "X-1", rma.HandlingInHouse, t0)
		e.set(n, rma.StatusReceived, "", t0.Add(24*time.Hour))
	}
	tick := schAt(t, "2026-03-05 08:00")
	cut, err := d1.newSchedule(schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
		if slices.Contains(m.To, roMail) {
			return errors.New("killed")
		}
		return d1.pipe.send(ctx, "", m)
	}))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(tick)
	if _, err := cut.RunTick(context.Background(), schedule.JobDigest, tick); err == nil {
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
	if rep, err := d2.sched.RunTick(context.Background(), schedule.JobDigest, tick); err != nil || rep.Skipped == "" {
		t.Fatalf("caught-up run not marked done: %+v %v", rep, err)
	}
}
