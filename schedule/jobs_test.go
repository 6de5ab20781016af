package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/schedule"
)

func TestDigestJob(t *testing.T) {
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	t0 := at(t, "2026-03-02 10:00")
	a := e.seed("P-GR-001", "ALFA-1", rma.HandlingInHouse, t0)
	b := e.seed("P-GR-001", "=cmd|' /C calc'!A0", rma.HandlingInHouse, t0)
	c := e.seed("P-RO-002", "NOVA-1", rma.HandlingInHouse, t0)
	dd := e.seed("P-FR-003", "TP-1", rma.HandlingInHouse, t0)

	// New RMAs alone are no news: their replies told the partners.
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-09 08:00")); len(rep.Mails) != 0 || rep.Skipped != "" {
		t.Fatalf("digest without status changes: %+v", rep)
	}

	e.set(a, rma.StatusReceived, "parcel complete, PSU included", at(t, "2026-03-10 09:00"))
	e.set(c, rma.StatusReceived, "", at(t, "2026-03-10 11:00"))
	e.set(c, rma.StatusDiagnosing, "checking the PSU", at(t, "2026-03-10 15:00"))
	rep := e.run(s, schedule.JobDigest, at(t, "2026-03-11 08:00"))
	if len(rep.Mails) != 2 || rep.Mails[0].Partner != "P-GR-001" || rep.Mails[1].Partner != "P-RO-002" {
		t.Fatalf("report %+v", rep)
	}
	ms := e.settle(2)

	gr := find(ms, "digest", grMail)
	if len(gr) != 1 {
		t.Fatalf("Greek partner got %d digests", len(gr))
	}
	g := gr[0]
	if g.Lang != "el" || !strings.Contains(g.Subject, "Κατάσταση των RMA σας στις 2026-03-11") {
		t.Errorf("Greek digest: %q %q", g.Lang, g.Subject)
	}
	contains(t, "Greek digest", g.Body, a, b, "received — Παραλήφθηκε", "parcel complete, PSU included",
		"2026-03-10 09:00", "awaiting_goods — Αναμονή παραλαβής", "Άλλαξαν από την προηγούμενη ενημέρωση (1)", "Ανοιχτά, χωρίς αλλαγή (1)")
	rows := readCSV(t, g.Files["rma-status.csv"])
	want := [][]string{
		{"rma_number", "own_number", "ean", "serial", "status", "updated_at", "note"},
		{a, "ALFA-1", "5204001000013", "SN-1", "received", "2026-03-10T09:00:00+02:00", "parcel complete, PSU included"},
		{b, "'=cmd|' /C calc'!A0", "5204001000013", "SN-2", "awaiting_goods", "2026-03-02T10:00:00+02:00", ""},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("rma-status.csv:\n%v\nwant\n%v", rows, want)
	}
	ro := find(ms, "digest", roMail)
	if len(ro) != 1 || ro[0].Lang != "ro" {
		t.Fatalf("Romanian digests: %v", ids(ro))
	}
	contains(t, "Romanian digest", ro[0].Body, c, "received — Recepționat", "diagnosing — În diagnosticare", "checking the PSU")
	if len(find(ms, "digest", frMail)) != 0 {
		t.Fatal("the French partner had no change but got a digest")
	}
	// The digest is kept for the console's re-send under the RMAs whose change it told, not
	// under those it lists as open.
	ctx := context.Background()
	for _, k := range []struct {
		num, partner string
		digest       []sandbox.Read // the digest that told its change; none when it was only listed
	}{{a, "P-GR-001", gr}, {b, "P-GR-001", nil}, {c, "P-RO-002", ro}} {
		kept, err := e.store.KeptMails(ctx, k.partner, k.num)
		if err != nil || len(kept) != len(k.digest) || len(kept) == 1 && (kept[0].Kind != "digest" || kept[0].Subject != k.digest[0].Subject) {
			t.Errorf("kept mails of %s: %+v %v, want %d digest", k.num, kept, err, len(k.digest))
		}
	}

	// The same tick again (another instance, a retry): done already.
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-11 08:00")); rep.Skipped == "" || len(rep.Mails) != 0 {
		t.Fatalf("rerun: %+v", rep)
	}
	// An admin's run a minute later, and the next day's: nothing changed since, no mail.
	for _, when := range []string{"2026-03-11 08:01", "2026-03-12 08:00"} {
		if rep := e.run(s, schedule.JobDigest, at(t, when)); len(rep.Mails) != 0 {
			t.Fatalf("digest at %s without changes: %+v", when, rep)
		}
	}

	// A change just after a tick belongs to the next digest, and is told once.
	e.set(b, rma.StatusReceived, "", at(t, "2026-03-12 09:00"))
	e.set(dd, rma.StatusReceived, "colis reçu", at(t, "2026-03-13 08:00").Add(30*time.Second))
	rep = e.run(s, schedule.JobDigest, at(t, "2026-03-13 08:00"))
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-GR-001" {
		t.Fatalf("report %+v", rep)
	}
	rep = e.run(s, schedule.JobDigest, at(t, "2026-03-16 08:00"))
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-FR-003" {
		t.Fatalf("report %+v", rep)
	}
	ms = e.settle(4)
	gr = find(ms, "digest", grMail)
	if len(gr) != 2 || gr[0].ID == gr[1].ID {
		t.Fatalf("Greek digests %v", ids(gr))
	}
	// The second lists b's change only; a, told before, is among the open ones.
	contains(t, "second Greek digest", gr[1].Body, "Άλλαξαν από την προηγούμενη ενημέρωση (1)", "Ανοιχτά, χωρίς αλλαγή (1)")
	if i, j := strings.Index(gr[1].Body, b), strings.Index(gr[1].Body, a); i < 0 || j < 0 || i > j {
		t.Errorf("second digest: %s should come first (changed), %s after (open):\n%s", b, a, gr[1].Body)
	}
	fr := find(ms, "digest", frMail)
	if len(fr) != 1 || fr[0].Lang != "fr" {
		t.Fatalf("French digests %v", ids(fr))
	}
	contains(t, "French digest", fr[0].Body, dd, "received — Reçu", "colis reçu")
}

// A run cut off in the middle — by a crash after a mail was queued, or before — is finished by
// the next attempt for the same tick, and no partner gets a digest twice.
func TestDigestCrashMidRun(t *testing.T) {
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	t0 := at(t, "2026-03-02 10:00")
	for _, p := range []string{"P-GR-001", "P-RO-002", "P-FR-003"} {
		n := e.seed(p, "X-1", rma.HandlingInHouse, t0)
		e.set(n, rma.StatusReceived, "", t0.Add(24*time.Hour))
	}
	tick := at(t, "2026-03-05 08:00")
	normal := e.outbox.Deliver
	crash := errors.New("killed")
	cut := e.jobs(never, schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
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
	}), nil)
	e.clock.Set(tick)
	if _, err := cut.RunTick(context.Background(), schedule.JobDigest, tick); !errors.Is(err, crash) {
		t.Fatalf("cut-off run: %v", err)
	}
	e.settle(2) // GR's and RO's digests went out before the "crash"
	rep := e.run(s, schedule.JobDigest, tick)
	if len(rep.Mails) != 2 || rep.Mails[0].Partner != "P-FR-003" || rep.Mails[1].Partner != "P-RO-002" {
		t.Fatalf("rerun should redo RO (same Message-ID) and FR: %+v", rep)
	}
	ms := e.settle(3)
	for _, a := range []string{grMail, roMail, frMail} {
		if n := len(find(ms, "digest", a)); n != 1 {
			t.Errorf("%s got %d digests, want 1", a, n)
		}
	}
	if rep := e.run(s, schedule.JobDigest, tick); rep.Skipped == "" {
		t.Fatalf("run not marked done: %+v", rep)
	}
}

// A run that a previous process started and did not finish is caught up when rmad starts again.
func TestDigestCaughtUpAfterRestart(t *testing.T) {
	e := newEnv(t)
	real := specs{"0 8 * * 1-5", "30 8 * * *"}
	t0 := at(t, "2026-03-02 10:00")
	for _, p := range []string{"P-GR-001", "P-RO-002"} {
		n := e.seed(p, "X-1", rma.HandlingInHouse, t0)
		e.set(n, rma.StatusReceived, "", t0.Add(24*time.Hour))
	}
	tick := at(t, "2026-03-05 08:00")
	cut := e.jobs(real, schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
		if slices.Contains(m.To, roMail) {
			return errors.New("killed")
		}
		return e.outbox.Deliver(ctx, m)
	}), nil)
	e.clock.Set(tick)
	if _, err := cut.RunTick(context.Background(), schedule.JobDigest, tick); err == nil {
		t.Fatal("the cut-off run succeeded")
	}
	e.settle(1)

	e.clock.Set(tick.Add(7 * time.Minute)) // systemd restarted rmad a few minutes later
	logs2 := &testenv.SyncBuffer{}
	s2 := e.jobs(real, nil, logs2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s2.Start(ctx)
	defer func() { s2.Stop(); s2.Wait() }()
	ms := e.settle(2)
	if len(find(ms, "digest", roMail)) != 1 || len(find(ms, "digest", grMail)) != 1 {
		t.Fatalf("mails %v", ids(ms))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs2.String(), `"message":"run done"`) {
		if time.Now().After(deadline) {
			t.Fatalf("catch-up run not done; logs:\n%s", logs2.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	contains(t, "restart log", logs2.String(), "the last run did not finish: catching it up", `"tick":"2026-03-05T08:00:00+02:00"`)
	if rep := e.run(s2, schedule.JobDigest, tick); rep.Skipped == "" {
		t.Fatalf("caught-up run not marked done: %+v", rep)
	}
}

func TestRemindersJob(t *testing.T) {
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	t0 := at(t, "2026-03-02 10:00")
	goods := e.seed("P-GR-001", "ALFA-9", rma.HandlingInHouse, t0)
	acc := e.seed("P-RO-002", "NOVA-9", rma.HandlingInHouse, t0)
	e.set(acc, rma.StatusReceived, "", at(t, "2026-03-03 10:00"))
	e.set(acc, rma.StatusAwaitingAccessories, "the power supply is missing", at(t, "2026-03-03 11:00"))
	fixed := e.seed("P-FR-003", "TP-9", rma.HandlingInHouse, t0)
	e.set(fixed, rma.StatusReceived, "", at(t, "2026-03-03 10:00"))
	e.set(fixed, rma.StatusDiagnosing, "", at(t, "2026-03-03 12:00"))
	e.set(fixed, rma.StatusRepaired, "new capacitor", at(t, "2026-03-04 10:00"))
	vendor := e.seed("P-EN-004", "CY-9", rma.HandlingForward, t0) // the manufacturer ships it back
	e.set(vendor, rma.StatusRepaired, "", at(t, "2026-03-03 10:00"))

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
	for _, st := range steps {
		rep := e.run(s, schedule.JobReminders, at(t, st.at))
		var applied []string
		for _, a := range rep.Applied {
			applied = append(applied, a.Rule+" "+a.RMA)
		}
		if fmt.Sprint(applied) != fmt.Sprint(st.applied) || len(rep.Mails) != st.mails {
			t.Fatalf("%s: applied %v with %d mails, want %v with %d", st.at, applied, len(rep.Mails), st.applied, st.mails)
		}
		total += st.mails
		e.settle(total)
	}
	if rep := e.run(s, schedule.JobReminders, at(t, "2026-03-31 08:30")); rep.Skipped == "" {
		t.Fatalf("rerun of a done tick: %+v", rep)
	}

	ms := e.settle(total)
	st := e.store
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
	if rem.Actor != rules.ScheduleActor || rem.Status != rma.StatusAwaitingGoods || rem.Extra["rule"] != "goods_reminder" ||
		!strings.Contains(rem.Note, "υπενθύμιση") || !rem.At.Equal(at(t, "2026-03-17 08:30")) {
		t.Errorf("reminder event %+v", rem)
	}
	if exp.Actor != rules.ScheduleActor || exp.Status != rma.StatusExpired || !strings.Contains(exp.Note, "28") {
		t.Errorf("expiry event %+v", exp)
	}
	gm := find(ms, "remind", grMail)
	if len(gm) != 2 {
		t.Fatalf("Greek partner mails %v", ids(gm))
	}
	contains(t, "goods reminder", gm[0].Subject+gm[0].Body, "Υπενθύμιση", goods, "2026-03-30", "Example Street 1")
	contains(t, "expiry", gm[1].Subject+gm[1].Body, "έληξε", goods, "28 ημέρες")
	if len(gm[0].Refs) != 1 || gm[0].Refs[0] != r.Source.MessageID {
		t.Errorf("reminder references %v, want the partner's request %s", gm[0].Refs, r.Source.MessageID)
	}
	// Both partner mails are kept for the console's re-send, the expiry the newest; the staff
	// mails are not.
	kept, err := st.KeptMails(ctx, r.PartnerID, goods)
	if err != nil || len(kept) != 2 || kept[0].Kind != "remind" || kept[0].Subject != gm[1].Subject || kept[1].Subject != gm[0].Subject {
		t.Errorf("kept partner mails of %s: %+v %v", goods, kept, err)
	}
	if kept, err := st.KeptMails(ctx, "P-FR-003", fixed); err != nil || len(kept) != 0 {
		t.Errorf("the staff mail about %s was kept: %+v %v", fixed, kept, err)
	}

	// Accessories: returned unchecked at the partner's cost, partner (ro) and staff told.
	if r, _ := st.Get(ctx, acc); r.Status != rma.StatusReturnedUnrepaired || r.History[len(r.History)-1].Actor != rules.ScheduleActor {
		t.Errorf("%s: %s %+v", acc, r.Status, r.History)
	}
	rm := find(ms, "remind", roMail)
	if len(rm) != 1 || rm[0].Lang != "ro" {
		t.Fatalf("Romanian partner mails %v", ids(rm))
	}
	contains(t, "accessories mail", rm[0].Subject+rm[0].Body, "returnat neverificat", "10 zile", "Bd. Unirii 10")

	// Uncollected repair: staff asked for the credit note once; the vendor's repair is not ours.
	if r, _ := st.Get(ctx, fixed); r.Status != rma.StatusRepaired || r.History[len(r.History)-1].Extra["rule"] != "uncollected" {
		t.Errorf("%s: %s %+v", fixed, r.Status, r.History)
	}
	if len(find(ms, "remind", frMail)) != 0 {
		t.Error("the partner was mailed about an uncollected item: that is for staff")
	}
	staff := find(ms, "escalation", staffMail)
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
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	goods := e.seed("P-EN-004", "CY-1", rma.HandlingInHouse, at(t, "2026-03-02 10:00"))
	cut := e.jobs(never, schedule.OutboxFunc(func(context.Context, outbound.Message) error { return errors.New("killed") }), nil)
	tick := at(t, "2026-04-01 08:30")
	e.clock.Set(tick)
	if _, err := cut.RunTick(context.Background(), schedule.JobReminders, tick); err == nil {
		t.Fatal("cut-off run succeeded")
	}
	r, _ := e.store.Get(context.Background(), goods)
	if r.Status != rma.StatusExpired {
		t.Fatalf("status %s", r.Status)
	}
	if ns, _ := e.store.Notices(context.Background()); len(ns) != 1 || ns[0].Rule != rules.RuleGoodsExpired {
		t.Fatalf("owed notices %+v", ns)
	}
	rep := e.run(s, schedule.JobReminders, at(t, "2026-04-02 08:30"))
	if len(rep.Applied) != 0 || len(rep.Mails) != 2 {
		t.Fatalf("next run: %+v", rep)
	}
	ms := e.settle(2)
	if len(find(ms, "remind", enMail)) != 1 || len(find(ms, "escalation", staffMail)) != 1 {
		t.Fatalf("mails %v", ids(ms))
	}
	if rep := e.run(s, schedule.JobReminders, at(t, "2026-04-03 08:30")); len(rep.Mails) != 0 {
		t.Fatalf("told twice: %+v", rep)
	}
	if r, _ := e.store.Get(context.Background(), goods); len(r.History) != 2 {
		t.Fatalf("history %+v", r.History)
	}
}

// Two rmad instances on one Redis fire the same schedule at the same tick: each partner gets one
// digest, and each reminder is sent once.
func TestTwoInstancesOneDigestPerPartner(t *testing.T) {
	e := newEnv(t)
	s1, s2 := e.jobs(never, nil, nil), e.jobs(never, nil, nil)
	t0 := at(t, "2026-03-02 10:00")
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
	}{{schedule.JobDigest, at(t, "2026-03-03 08:00"), 4}, {schedule.JobReminders, at(t, "2026-03-03 08:30"), 1}} {
		e.clock.Set(job.tick)
		var wg sync.WaitGroup
		reps := make([]schedule.Report, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, s := range []*schedule.Schedule{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				reps[i], errs[i] = s.RunTick(context.Background(), job.name, job.tick)
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
	ms := e.settle(5)
	for p, addr := range partners {
		if n := len(find(ms, "digest", addr)); n != 1 {
			t.Errorf("%s got %d digests", p, n)
		}
	}
	if rm := find(ms, "remind", grMail); len(rm) != 1 || !strings.Contains(rm[0].Body, late) {
		t.Errorf("reminders %v", ids(rm))
	}
	// A third run of the same tick on either instance changes nothing.
	for _, s := range []*schedule.Schedule{s1, s2} {
		if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-03 08:00")); rep.Skipped == "" {
			t.Fatalf("repeat: %+v", rep)
		}
	}
	e.settle(5)
}

// Delivering a Message-ID a second time (a rerun, the courier after run-job --send) mails it once.
func TestDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	n := e.seed("P-FR-003", "TP-1", rma.HandlingInHouse, at(t, "2026-03-02 10:00"))
	e.set(n, rma.StatusReceived, "", at(t, "2026-03-03 10:00"))
	var first outbound.Message
	s := e.jobs(never, schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
		first = m
		return e.outbox.Deliver(ctx, m)
	}), nil)
	rep := e.run(s, schedule.JobDigest, at(t, "2026-03-04 08:00"))
	if len(rep.Mails) != 1 || rep.Mails[0].MessageID != first.ID {
		t.Fatalf("%+v", rep)
	}
	if err := e.outbox.Deliver(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	e.settle(1)
	if _, err := s.RunTick(context.Background(), "weekly", at(t, "2026-03-04 08:00")); err == nil || !strings.Contains(err.Error(), "digest, reminders") {
		t.Fatalf("unknown job: %v", err)
	}
}
