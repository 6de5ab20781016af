package schedule_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/schedule"
)

// runNow runs job by hand with the clock at now.
func (e *env) runNow(s *schedule.Schedule, job string, now time.Time) schedule.Report {
	e.t.Helper()
	e.clock.Set(now)
	rep, err := s.RunNow(context.Background(), job)
	if err != nil {
		e.t.Fatalf("%s by hand at %s: %v", job, now, err)
	}
	return rep
}

// A digest run by hand tells every change up to the moment it runs — also one made seconds
// before, in the same minute — and the scheduled digests after it do not tell those again.
func TestDigestByHandCoversUpToNow(t *testing.T) {
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	t0 := at(t, "2026-03-02 10:00")
	a := e.seed("P-GR-001", "ALFA-1", rma.HandlingInHouse, t0)
	b := e.seed("P-GR-001", "ALFA-2", rma.HandlingInHouse, t0)
	c := e.seed("P-RO-002", "NOVA-1", rma.HandlingInHouse, t0)
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-03 08:00")); len(rep.Mails) != 0 {
		t.Fatalf("nothing changed yet: %+v", rep)
	}

	// Staff set a status, and a few seconds later someone runs the digest by hand.
	e.set(a, rma.StatusReceived, "parcel complete", at(t, "2026-03-03 10:15").Add(30*time.Second))
	now := at(t, "2026-03-03 10:15").Add(45*time.Second + 250*time.Millisecond)
	rep := e.runNow(s, schedule.JobDigest, now)
	if !rep.ByHand || !rep.Tick.Equal(now) || rep.Tick.Location() != athens || rep.Skipped != "" {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-GR-001" {
		t.Fatalf("the change of a second ago is not in the digest: %+v", rep)
	}
	ms := e.settle(1)
	contains(t, "digest by hand", ms[0].Body, a, "parcel complete", "Άλλαξαν από την προηγούμενη ενημέρωση (1)")

	// Again in the same minute, after another change: only that one, in a mail of its own.
	e.set(c, rma.StatusReceived, "colet primit", now.Add(5*time.Second))
	rep = e.runNow(s, schedule.JobDigest, now.Add(9*time.Second))
	if len(rep.Mails) != 1 || rep.Mails[0].Partner != "P-RO-002" {
		t.Fatalf("second run by hand: %+v", rep)
	}
	ms = e.settle(2)
	if ms[0].ID == ms[1].ID {
		t.Fatal("two digests share a Message-ID")
	}
	// Nothing new: a run by hand sends nothing.
	if rep := e.runNow(s, schedule.JobDigest, now.Add(20*time.Second)); len(rep.Mails) != 0 {
		t.Fatalf("run by hand without changes: %+v", rep)
	}

	// The scheduled tick of that same minute, late (or on another instance): told already.
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-03 10:15")); len(rep.Mails) != 0 {
		t.Fatalf("the minute's tick repeated the run by hand: %+v", rep)
	}
	// The next scheduled digest: nothing changed since the runs by hand, no mail.
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-04 08:00")); len(rep.Mails) != 0 {
		t.Fatalf("the next scheduled digest repeated what the run by hand told: %+v", rep)
	}
	// A later change is told by the next one, without what the run by hand told.
	e.set(b, rma.StatusReceived, "", at(t, "2026-03-04 09:00"))
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-05 08:00")); len(rep.Mails) != 1 {
		t.Fatalf("report %+v", rep)
	}
	ms = e.settle(3)
	gr := find(ms, "digest", grMail)
	if len(gr) != 2 {
		t.Fatalf("Greek digests %v", ids(gr))
	}
	contains(t, "next scheduled digest", gr[1].Body, b, "Άλλαξαν από την προηγούμενη ενημέρωση (1)", "Ανοιχτά, χωρίς αλλαγή (1)")
	if changed, _, _ := strings.Cut(gr[1].Body, "Ανοιχτά"); strings.Contains(changed, a) {
		t.Errorf("the next digest tells again what the run by hand told:\n%s", gr[1].Body)
	}
}

// A digest by hand that was cut off after its mail was on its way, before that was recorded, is
// sent again by the next run as the same mail (the outbox sends it once), and what it told is
// not told again in the next digest.
func TestDigestByHandCutOff(t *testing.T) {
	e := newEnv(t)
	t0 := at(t, "2026-03-02 10:00")
	a := e.seed("P-GR-001", "ALFA-1", rma.HandlingInHouse, t0)
	b := e.seed("P-GR-001", "ALFA-2", rma.HandlingInHouse, t0)
	e.set(a, rma.StatusReceived, "parcel complete", at(t, "2026-03-03 10:15"))

	crash := errors.New("killed")
	var cutID string
	cut := e.jobs(never, schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
		if err := e.outbox.Deliver(ctx, m); err != nil {
			return err
		}
		cutID = m.ID
		return crash // sent, then the process died before it recorded it
	}), nil)
	e.clock.Set(at(t, "2026-03-03 10:16").Add(10 * time.Second))
	if _, err := cut.RunNow(context.Background(), schedule.JobDigest); !errors.Is(err, crash) {
		t.Fatalf("cut-off run: %v", err)
	}
	e.settle(1)

	// A change after the cut-off run, then the next scheduled digest.
	e.set(b, rma.StatusReceived, "second parcel", at(t, "2026-03-03 12:00"))
	s := e.jobs(never, nil, nil)
	rep := e.run(s, schedule.JobDigest, at(t, "2026-03-04 08:00"))
	if len(rep.Mails) != 2 || rep.Mails[0].MessageID != cutID || rep.Mails[1].MessageID == cutID {
		t.Fatalf("want the cut-off digest again (%s), then the new one: %+v", cutID, rep)
	}
	ms := e.settle(2) // the cut-off digest went once
	if !slices.ContainsFunc(ms, func(m sandbox.Read) bool { return m.ID == cutID }) {
		t.Fatalf("mails %v", ids(ms))
	}
	next := ms[1]
	contains(t, "next digest", next.Body, b, "second parcel", "Άλλαξαν από την προηγούμενη ενημέρωση (1)")
	if changed, _, _ := strings.Cut(next.Body, "Ανοιχτά"); strings.Contains(changed, a) {
		t.Errorf("the next digest tells again what the cut-off run told:\n%s", next.Body)
	}
	if rep := e.run(s, schedule.JobDigest, at(t, "2026-03-05 08:00")); len(rep.Mails) != 0 {
		t.Fatalf("told twice: %+v", rep)
	}
}

// Reminders run by hand apply the rules as of now; the next scheduled run does not apply or
// mail them again.
func TestRemindersByHand(t *testing.T) {
	e := newEnv(t)
	s := e.jobs(never, nil, nil)
	goods := e.seed("P-GR-001", "ALFA-9", rma.HandlingInHouse, at(t, "2026-03-02 10:00"))
	// 14 days and a minute after it was opened: the scheduled run at 08:30 was too early.
	if rep := e.run(s, schedule.JobReminders, at(t, "2026-03-16 08:30")); len(rep.Applied) != 0 {
		t.Fatalf("%+v", rep)
	}
	rep := e.runNow(s, schedule.JobReminders, at(t, "2026-03-16 10:01").Add(2*time.Second))
	if len(rep.Applied) != 1 || rep.Applied[0].RMA != goods || rep.Applied[0].Rule != "goods_reminder" || len(rep.Mails) != 1 {
		t.Fatalf("run by hand: %+v", rep)
	}
	e.settle(1)
	if rep := e.run(s, schedule.JobReminders, at(t, "2026-03-17 08:30")); len(rep.Applied) != 0 || len(rep.Mails) != 0 {
		t.Fatalf("the next scheduled run repeated the reminder: %+v", rep)
	}
	e.settle(1)
}
