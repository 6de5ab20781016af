package store

import (
	"context"
	"errors"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

func TestDigestWatermarkOnlyMovesForward(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	got, err := s.DigestWatermark(ctx, "gr-net")
	if err != nil || !got.IsZero() {
		t.Fatalf("fresh watermark = %v, %v; want zero", got, err)
	}
	t1 := testNow.Add(24 * time.Hour)
	if err := s.AdvanceDigestWatermark(ctx, "gr-net", t1); err != nil {
		t.Fatal(err)
	}
	// A late rerun of an older digest must not move it back.
	if err := s.AdvanceDigestWatermark(ctx, "gr-net", testNow); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.DigestWatermark(ctx, "gr-net"); !got.Equal(t1) {
		t.Fatalf("watermark = %v, want %v", got, t1)
	}
	if other, _ := s.DigestWatermark(ctx, "ro-shop"); !other.IsZero() {
		t.Fatalf("another partner's watermark = %v", other)
	}
}

func TestOpenRecords(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sub := mailSub("gr-net", "open@example.com", item(1, "A", "SN-A"), item(2, "B", "SN-B"), item(3, "C", "SN-C"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	other := mailSub("ro-shop", "open2@example.com", item(1, "D", "SN-D"))
	if _, err := s.Commit(ctx, other, decide(other.Items), testNow); err != nil {
		t.Fatal(err)
	}
	n := out.Decisions
	if _, err := s.SetStatus(ctx, n[1].Number, rma.StatusClosed, "cli:test", "", nil, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, n[2].Number, rma.StatusReceived, "cli:test", "", nil, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	recs, err := s.OpenRecords(ctx, "gr-net")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Number != n[0].Number || recs[1].Number != n[2].Number {
		t.Fatalf("open records %v, want %s and %s", numbersOf(recs), n[0].Number, n[2].Number)
	}
	if recs[1].Status != rma.StatusReceived {
		t.Fatalf("status %s", recs[1].Status)
	}
}

func numbersOf(rs []rma.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Number
	}
	return out
}

func TestAddEventKeepsStatusAndUpdatedAt(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sub := mailSub("gr-net", "ev@example.com", item(1, "A", "SN-A"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	num := out.Decisions[0].Number
	at := testNow.Add(15 * 24 * time.Hour)
	ev := rma.Event{At: at, Actor: "rmad:schedule", Note: "reminder sent", Extra: map[string]string{"rule": "goods_reminder"}}
	if err := s.AddEvent(ctx, num, ev); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, num)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != rma.StatusAwaitingGoods || !r.UpdatedAt.Equal(testNow) {
		t.Fatalf("status %s updated %v: an event must not change them", r.Status, r.UpdatedAt)
	}
	if len(r.History) != 2 {
		t.Fatalf("history %+v", r.History)
	}
	got := r.History[1]
	if got.Status != rma.StatusAwaitingGoods || !got.At.Equal(at) || got.Note != "reminder sent" || got.Extra["rule"] != "goods_reminder" {
		t.Fatalf("event %+v", got)
	}
	// ChangedSince is about status changes: an event alone does not make the record "changed".
	if ch, err := s.ChangedSince(ctx, "gr-net", testNow); err != nil || len(ch) != 0 {
		t.Fatalf("changed since = %v, %v", numbersOf(ch), err)
	}

	// The record moved on: an event for the old status is refused.
	if _, err := s.SetStatus(ctx, num, rma.StatusReceived, "cli:test", "", nil, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ev.Status = rma.StatusAwaitingGoods
	if err := s.AddEvent(ctx, num, ev); !errors.Is(err, ErrStatusChanged) {
		t.Fatalf("event for a left status: %v, want ErrStatusChanged", err)
	}
	if err := s.AddEvent(ctx, "RMA/99/SR/2026", ev); !errors.Is(err, ErrNotFound) {
		t.Fatalf("event for an unknown RMA: %v", err)
	}
}

func TestAddEventOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sub := mailSub("gr-net", "once@example.com", item(1, "A", "SN-A"), item(2, "B", "SN-B"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	a, b := out.Decisions[0].Number, out.Decisions[1].Number
	ev := rma.Event{At: testNow.Add(time.Hour), Actor: "rmad:schedule", Note: "n"}
	for i, want := range []bool{true, false, false} {
		added, err := s.AddEventOnce(ctx, a, "goods_reminder", ev)
		if err != nil || added != want {
			t.Fatalf("call %d: added %v, %v; want %v", i, added, err, want)
		}
	}
	// The key is per RMA and per rule.
	if added, err := s.AddEventOnce(ctx, b, "goods_reminder", ev); err != nil || !added {
		t.Fatalf("other RMA: %v %v", added, err)
	}
	if added, err := s.AddEventOnce(ctx, a, "other_rule", ev); err != nil || !added {
		t.Fatalf("other rule: %v %v", added, err)
	}
	r, _ := s.Get(ctx, a)
	if len(r.History) != 3 {
		t.Fatalf("history of %s has %d entries, want 3", a, len(r.History))
	}
	if _, err := s.AddEventOnce(ctx, a, " ", ev); err == nil {
		t.Fatal("empty key accepted")
	}
}

func TestNotices(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, p := range []struct{ partner, msg string }{{"gr-net", "n1@example.com"}, {"ro-shop", "n2@example.com"}} {
		sub := mailSub(p.partner, p.msg, item(1, "A", "SN-A"))
		if _, err := s.Commit(ctx, sub, decide(sub.Items), testNow); err != nil {
			t.Fatal(err)
		}
	}
	t1, t2 := testNow.Add(time.Hour), testNow.Add(2*time.Hour)
	for _, n := range []Notice{
		{Partner: "gr-net", Number: "RMA/1/SR/2026", Rule: "goods_expired", At: t1},
		{Partner: "gr-net", Number: "RMA/1/SR/2026", Rule: "goods_expired", At: t2}, // keeps t1
		{Partner: "ro-shop", Number: "RMA/2/SR/2026", Rule: "uncollected", At: t2},
	} {
		if err := s.AddNotice(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := s.Notices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Notice{
		{Partner: "gr-net", Number: "RMA/1/SR/2026", Rule: "goods_expired", At: t1},
		{Partner: "ro-shop", Number: "RMA/2/SR/2026", Rule: "uncollected", At: t2},
	}
	if len(ns) != len(want) {
		t.Fatalf("notices %+v", ns)
	}
	for i := range want {
		if ns[i].Partner != want[i].Partner || ns[i].Number != want[i].Number || ns[i].Rule != want[i].Rule || !ns[i].At.Equal(want[i].At) {
			t.Fatalf("notice %d = %+v, want %+v", i, ns[i], want[i])
		}
	}
	if err := s.DropNotice(ctx, ns[0]); err != nil {
		t.Fatal(err)
	}
	if ns, _ = s.Notices(ctx); len(ns) != 1 || ns[0].Partner != "ro-shop" {
		t.Fatalf("after drop: %+v", ns)
	}
	if err := s.AddNotice(ctx, Notice{Partner: "gr-net", Number: "RMA/1/SR/2026", Rule: "two words"}); err == nil {
		t.Fatal("a rule with a space was accepted")
	}
}

// The markers keep the names they had before the schedule package named them through the store,
// so an upgrade mid-run still sees the run's markers; a run by hand gets a name of its own.
func TestScheduleMarkerNames(t *testing.T) {
	athens := testenv.Athens
	tick := time.Date(2026, 3, 11, 8, 0, 0, 0, athens)
	byHand := tick.Add(15*time.Minute + 45*time.Second + 123*time.Millisecond)
	for _, c := range []struct{ got, want string }{
		{runMarker("digest", tick, RunStarted), "run:digest:2026-03-11T08:00+02:00:started"},
		{runMarker("reminders", tick, RunDone), "run:reminders:2026-03-11T08:00+02:00:done"},
		{runMarker("digest", byHand, RunDone), "run:digest:2026-03-11T08:15:45.123+02:00:done"},
		{digestToldMarker("P-GR-001", tick), "digest:P-GR-001:2026-03-11T06:00:00Z"},
		{digestToldMarker("P-GR-001", byHand), "digest:P-GR-001:2026-03-11T06:15:45.123Z"},
		{JobLease("digest"), "schedule:digest"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

func TestScheduleMarkers(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	tick := testNow.Truncate(time.Minute)
	if ok, err := s.RunMarked(ctx, "digest", tick, RunDone); err != nil || ok {
		t.Fatalf("fresh run marked: %v %v", ok, err)
	}
	if err := s.MarkRun(ctx, "digest", tick, RunStarted, time.Hour); err != nil {
		t.Fatal(err)
	}
	started, _ := s.RunMarked(ctx, "digest", tick, RunStarted)
	done, _ := s.RunMarked(ctx, "digest", tick, RunDone)
	other, _ := s.RunMarked(ctx, "reminders", tick, RunStarted)
	if !started || done || other {
		t.Fatalf("started %v done %v other job %v", started, done, other)
	}
	if err := s.MarkDigestTold(ctx, "gr-net", tick, time.Hour); err != nil {
		t.Fatal(err)
	}
	if told, _ := s.DigestTold(ctx, "gr-net", tick); !told {
		t.Fatal("digest not marked told")
	}
	if told, _ := s.DigestTold(ctx, "gr-net", tick.Add(time.Millisecond)); told {
		t.Fatal("a run a millisecond later is another run")
	}

	if p, err := s.DigestPending(ctx, "gr-net"); err != nil || !p.IsZero() {
		t.Fatalf("fresh pending %v %v", p, err)
	}
	at := testNow.Add(90*time.Second + 7*time.Millisecond)
	if err := s.SetDigestPending(ctx, "gr-net", at); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.DigestPending(ctx, "gr-net"); !p.Equal(at) {
		t.Fatalf("pending %v, want %v", p, at)
	}
	if p, _ := s.DigestPending(ctx, "ro-shop"); !p.IsZero() {
		t.Fatalf("another partner's pending %v", p)
	}
	if err := s.ClearDigestPending(ctx, "gr-net"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.DigestPending(ctx, "gr-net"); !p.IsZero() {
		t.Fatalf("pending after clear %v", p)
	}
}
