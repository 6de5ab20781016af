package schedule_test

import (
	"context"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/schedule"
)

// The compact job packs closed RMAs unchanged for retention.compact_after before its tick,
// once per tick; open ones and recently closed ones stay; every look-up still finds them.
func TestCompactJob(t *testing.T) {
	e := newEnv(t)
	sc := e.cfg.Schedule
	sc.Digest, sc.Reminders, sc.Compact = never.digest, never.reminders, never.digest
	s, err := schedule.New(schedule.Config{
		Store: e.store, Partner: e.data.Partners.ByID, Composer: outbound.NewComposer(e.cfg), Policy: e.cfg.Policy,
		Schedule: sc, Retention: config.Retention{CompactAfter: 30 * 24 * time.Hour},
		Outbox: schedule.OutboxFunc(e.outbox.Deliver), Now: e.clock.Now, Log: testLogger(t, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	t0 := at(t, "2026-03-02 10:00")
	a := e.seed("P-GR-001", "OLD-A", rma.HandlingInHouse, t0)
	b := e.seed("P-RO-002", "OLD-B", rma.HandlingInHouse, t0)
	open := e.seed("P-GR-001", "OPEN-C", rma.HandlingInHouse, t0)
	late := e.seed("P-GR-001", "LATE-D", rma.HandlingInHouse, t0)
	e.set(a, rma.StatusClosed, "withdrawn", at(t, "2026-03-03 09:00"))
	e.set(b, rma.StatusExpired, "", at(t, "2026-03-04 09:00"))
	e.set(late, rma.StatusClosed, "", at(t, "2026-03-25 09:00"))
	before := map[string]rma.Record{}
	for _, n := range []string{a, b, open, late} {
		r, err := e.store.Get(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = r
	}

	if rep := e.run(s, schedule.JobCompact, at(t, "2026-04-01 03:45")); rep.Compacted != 0 {
		t.Errorf("29 days after the first close: %+v", rep)
	}
	if rep := e.run(s, schedule.JobCompact, at(t, "2026-04-05 03:45")); rep.Compacted != 2 {
		t.Errorf("a month after: %+v, want the two closed before 2026-03-06 compacted", rep)
	}
	if rep := e.run(s, schedule.JobCompact, at(t, "2026-04-05 03:45")); rep.Skipped == "" || rep.Compacted != 0 {
		t.Errorf("same tick again: %+v", rep)
	}
	if rep := e.run(s, schedule.JobCompact, at(t, "2026-04-30 03:45")); rep.Compacted != 1 {
		t.Errorf("a month after the late close: %+v, want it compacted", rep)
	}
	ctx := context.Background()
	for n, want := range before {
		got, err := e.store.Get(ctx, n)
		if err != nil || got.Status != want.Status || len(got.History) != len(want.History) || got.Decision.Item.OwnNumber != want.Decision.Item.OwnNumber {
			t.Errorf("%s after compaction: %+v, %v", n, got, err)
		}
	}
	if rs, err := e.store.Lookup(ctx, "P-GR-001", "old-a"); err != nil || len(rs) != 1 || rs[0].Number != a {
		t.Errorf("lookup by own number of a compacted RMA: %v, %v", rs, err)
	}
	if rs, err := e.store.Lookup(ctx, "", before[b].Decision.Item.Serial); err != nil || len(rs) != 1 || rs[0].Number != b {
		t.Errorf("lookup by serial of a compacted RMA: %v, %v", rs, err)
	}
}
