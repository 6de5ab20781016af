package schedule_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/schedule"
	"github.com/rmad/rmad/store"
)

// These tests run the jobs on the test Redis with the sample partners, composing real mails and
// delivering them to an SMTP sink the way `rmad run-job --send` does (the outbox courier's
// delivery, once per Message-ID), with a controllable clock. The cron specs never fire (31
// February) unless a test asks for real ones.

// athens is schedule.timezone of the tests (time/tzdata makes it independent of the host).
var athens = testenv.Athens

// at is a time in Athens: "2026-03-11 08:00".
func at(t testing.TB, s string) time.Time {
	t.Helper()
	tt, err := time.ParseInLocation("2006-01-02 15:04", s, athens)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

type specs struct{ digest, reminders string }

var never = specs{"0 0 31 2 *", "0 0 31 2 *"}

type env struct {
	t      *testing.T
	cfg    *config.Config
	rdb    redis.UniversalClient
	store  *store.Store
	data   *rules.Data
	smtp   *sandbox.SMTP
	outbox *daemon.Outbox
	clock  *testenv.Clock
	seq    int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	e := &env{t: t, clock: testenv.NewClock(at(t, "2026-03-02 09:00"))}
	var err error
	if e.smtp, err = sandbox.StartSMTP(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.smtp.Stop)
	cfg := testenv.SampleConfig("../testdata")
	cfg.Redis = config.Redis{URL: "redis://" + testenv.RedisAddr(t) + "/0", KeyPrefix: "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":"}
	cfg.SMTP = config.SMTP{Address: e.smtp.Addr, TLS: "none", From: "Example Distribution RMA <rma@distributor.example>"}
	cfg.Schedule = config.Schedule{Timezone: "Europe/Athens", Location: athens}
	cfg.Policy.AwaitingGoodsDays, cfg.Policy.CustomerDelayDays, cfg.Policy.UncollectedDays = 14, 10, 15
	cfg.Notify.Staff = staffMail
	e.cfg = cfg
	if e.rdb, err = store.Connect(context.Background(), cfg.Redis); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rdb.Close() })
	e.store = store.New(e.rdb, cfg.Redis.KeyPrefix)
	if e.data, err = rules.LoadData(cfg); err != nil {
		t.Fatal(err)
	}
	e.outbox = daemon.NewOutbox(e.rdb, cfg, testLogger(t, &testenv.SyncBuffer{}))
	t.Cleanup(e.outbox.Close)
	return e
}

// jobs returns the scheduled jobs on the environment, with the given cron specs, delivering to
// outbox (nil: the SMTP sink at once), logging to logs (may be nil).
func (e *env) jobs(sp specs, outbox schedule.Outbox, logs *testenv.SyncBuffer) *schedule.Schedule {
	e.t.Helper()
	if outbox == nil {
		outbox = schedule.OutboxFunc(e.outbox.Deliver)
	}
	if logs == nil {
		logs = &testenv.SyncBuffer{}
	}
	sc := e.cfg.Schedule
	sc.Digest, sc.Reminders = sp.digest, sp.reminders
	s, err := schedule.New(schedule.Config{
		Store: e.store, Partner: e.data.Partners.ByID, Composer: outbound.NewComposer(e.cfg), Policy: e.cfg.Policy,
		Schedule: sc, Outbox: outbox, Now: e.clock.Now, Log: testLogger(e.t, logs),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	s.SetPoll(20 * time.Millisecond)
	return s
}

func testLogger(t *testing.T, w io.Writer) zerolog.Logger {
	return config.NewLogger(config.Log{Level: "debug", Format: "json"}, w)
}

// seed commits one accepted item for partner at at and returns its RMA number.
func (e *env) seed(partner, own string, h rma.Handling, at time.Time) string {
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
	out, err := e.store.Commit(context.Background(), sub, []rma.Decision{d}, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Decisions[0].Number
}

// set moves an RMA on as staff would (`rmad set-status`).
func (e *env) set(number string, to rma.Status, note string, at time.Time) {
	e.t.Helper()
	if _, err := e.store.SetStatus(context.Background(), number, to, "cli:maria", note, nil, at); err != nil {
		e.t.Fatal(err)
	}
}

// run runs job for the tick of at's minute, as the schedule would, with the clock at at.
func (e *env) run(s *schedule.Schedule, job string, tick time.Time) schedule.Report {
	e.t.Helper()
	e.clock.Set(tick)
	rep, err := s.RunTick(context.Background(), job, tick)
	if err != nil {
		e.t.Fatalf("%s at %s: %v", job, tick, err)
	}
	return rep
}

// settle checks that the sink holds exactly n mails, and returns them.
func (e *env) settle(n int) []sandbox.Read {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.smtp.Wait(ctx, n); err != nil {
		e.t.Fatalf("%v; got: %v", err, ids(e.mails()))
	}
	got := e.mails()
	if len(got) != n {
		e.t.Fatalf("%d mails at the sink, want %d: %v", len(got), n, ids(got))
	}
	return got
}

func (e *env) mails() []sandbox.Read {
	e.t.Helper()
	ms, err := e.smtp.ReadAll()
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func ids(ms []sandbox.Read) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+" → "+strings.Join(m.To, ","))
	}
	return out
}

// find returns the mails whose Message-ID starts with kind and that go to addr.
func find(ms []sandbox.Read, kind, addr string) []sandbox.Read {
	var out []sandbox.Read
	for _, m := range ms {
		if strings.HasPrefix(m.ID, kind+".") && slices.Contains(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("rma-status.csv: %v\n%s", err, b)
	}
	return rows
}

func contains(t *testing.T, what, text string, wants ...string) {
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
