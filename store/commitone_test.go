package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// Proof: on one server a commit is one script that leaves no reservation behind, stores the
// outcome as its classification and the decisions as given, and gives the same outcome, the
// same records and the same worklist and tracking entries as the three steps of Cluster.
func TestCommitOneScriptMatchesThreeSteps(t *testing.T) {
	ctx := context.Background()
	one, steps := newTestStore(t), newTestStore(t)
	steps.multiStep = true
	tracked := item(1, "OWN-T", "SN-T")
	tracked.Tracking = "1z 999 AA1"
	first := mailSub("gr-net", "one1@example.com", tracked)
	second := mailSub("gr-net", "one2@example.com", item(1, "own-t", "SN-X"), item(2, "OWN-N", "SN-N"),
		item(3, "OWN-N", "SN-Y"), item(4, "", ""))
	rejected := rma.Decision{Line: 5, Item: item(5, "", ""), Result: rma.ResultRejected}
	var outs [2][]Outcome
	for i, s := range []*Store{one, steps} {
		for _, sub := range []rma.Submission{first, second} {
			ds := append(decide(sub.Items), rejected)
			out, err := s.Commit(ctx, sub, ds, testNow)
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.Commit(ctx, sub, ds, testNow)
			if err != nil || !again.Replay {
				t.Fatalf("replay: %+v, %v", again, err)
			}
			again.Replay = false
			if !reflect.DeepEqual(again, out) {
				t.Errorf("replayed outcome %+v, first %+v", again, out)
			}
			outs[i] = append(outs[i], out)
		}
	}
	if !reflect.DeepEqual(outs[0], outs[1]) {
		t.Errorf("one script: %+v\nthree steps: %+v", outs[0], outs[1])
	}
	want := []string{"RMA/2/SR/2026", "RMA/1/SR/2026", "RMA/3/SR/2026"}
	for i, d := range []rma.Decision{outs[0][1].Decisions[1], outs[0][1].Decisions[0], outs[0][1].Decisions[3]} {
		if d.Number != want[i] {
			t.Errorf("number %s, want %s", d.Number, want[i])
		}
	}
	if outs[0][1].Decisions[0].Result != rma.ResultDuplicate || outs[0][1].Decisions[2].Result != rma.ResultDuplicate {
		t.Errorf("repeats not duplicates: %+v", outs[0][1].Decisions)
	}

	if keys, _ := one.c.Keys(ctx, one.k.reservation("*")).Result(); len(keys) != 0 {
		t.Errorf("reservations left by the one-script commit: %v", keys)
	}
	v, _ := one.c.Get(ctx, one.k.sub("gr-net", shortHash("gr-net\n"+SubmissionKey(second)))).Result()
	if !strings.HasPrefix(v, outcomeAssigned+"2026:1 in_house|+2026:2|@2|+2026:3\n") {
		t.Errorf("stored outcome starts %q", v[:min(len(v), 60)])
	}
	for n := 1; n <= 3; n++ {
		num := rma.Number{N: n, Year: 2026}.String()
		a, errA := one.Get(ctx, num)
		b, errB := steps.Get(ctx, num)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) || a.Decision.Number != num {
			t.Errorf("%s: one script %+v (%v), three steps %+v (%v)", num, a, errA, b, errB)
		}
	}
	for _, s := range []*Store{one, steps} {
		if rs, err := s.ByTracking(ctx, "1Z999AA1"); err != nil || len(rs) != 1 || rs[0].Number != "RMA/1/SR/2026" {
			t.Errorf("by tracking: %+v, %v", rs, err)
		}
		page, err := s.Worklist(ctx, WorklistQuery{Partner: "gr-net", Limit: 10})
		if err != nil || page.Total != 3 {
			t.Errorf("worklist: %+v, %v", page, err)
		}
	}
}

// Proof: an open RMA is in no serial index (its open-serial key stands for it) and goes into it
// when it closes; a look-up by serial finds it all along, and the serial's next RMA beside it.
func TestSerialIndexFromClosing(t *testing.T) { bothForms(t, testSerialIndexFromClosing) }

func testSerialIndexFromClosing(t *testing.T, s *Store) {
	ctx := context.Background()
	find := func(want ...string) {
		t.Helper()
		rs, err := s.Lookup(ctx, "gr-net", " sn-life ")
		var got []string
		for _, r := range rs {
			got = append(got, r.Number)
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("lookup by serial: %v, %v; want %v", got, err, want)
		}
	}
	sub := mailSub("gr-net", "life1@example.com", item(1, "", "SN-LIFE"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	first := out.Decisions[0].Number
	if n := s.c.Exists(ctx, s.k.serial("gr-net", "SN-LIFE")).Val(); n != 0 {
		t.Errorf("open RMA in the serial index")
	}
	find(first)
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusShippedBack} {
		if _, err := s.SetStatus(ctx, first, st, "test", "", nil, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if m := s.c.HKeys(ctx, s.k.serial("gr-net", "SN-LIFE")).Val(); !reflect.DeepEqual(m, []string{"2026:1"}) {
		t.Errorf("serial index after closing: %v", m)
	}
	find(first)
	sub2 := mailSub("gr-net", "life2@example.com", item(1, "", "SN-LIFE"))
	out2, err := s.Commit(ctx, sub2, decide(sub2.Items), testNow)
	if err != nil || out2.Decisions[0].Result != rma.ResultAccepted {
		t.Fatalf("second RMA of the serial: %+v, %v", out2, err)
	}
	find(first, out2.Decisions[0].Number)
}

// Proof: a submission whose decisions all became new RMAs keeps only its classification as its
// outcome; a replay reads the decisions back from the records, also once they are compacted.
// One with a duplicate among them keeps the decisions as given (the script asks for them).
func TestOutcomeOfNewRecordsOnly(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	sub := mailSub("gr-net", "rec1@example.com", item(1, "OWN-R1", "SN-R1"), item(2, "OWN-R2", "SN-R2"))
	ds := decide(sub.Items)
	ds[1].ClaimType = "damaged in transit"
	out, err := s.Commit(ctx, sub, ds, testNow)
	if err != nil {
		t.Fatal(err)
	}
	subKey := func(sub rma.Submission) string { return s.k.sub("gr-net", shortHash("gr-net\n"+SubmissionKey(sub))) }
	if v := s.c.Get(ctx, subKey(sub)).Val(); v != outcomeRecorded+"+2026:1|+2026:2" {
		t.Errorf("stored outcome %q, want the classification alone", v)
	}
	replay := func(sub rma.Submission, ds []rma.Decision, first Outcome) {
		t.Helper()
		again, err := s.Commit(ctx, sub, ds, testNow.Add(time.Minute))
		if err != nil || !again.Replay {
			t.Fatalf("replay: %+v, %v", again, err)
		}
		again.Replay = false
		if !reflect.DeepEqual(again, first) {
			t.Errorf("replayed outcome %+v\nfirst %+v", again, first)
		}
	}
	replay(sub, ds, out)
	for _, d := range out.Decisions {
		if _, err := s.SetStatus(ctx, d.Number, rma.StatusExpired, "rmad", "", nil, testNow.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := s.Compact(ctx, testNow.Add(2*time.Hour)); err != nil || rep.Compacted != 2 {
		t.Fatalf("compact: %+v, %v", rep, err)
	}
	replay(sub, ds, out)

	dup := mailSub("gr-net", "rec2@example.com", item(1, "OWN-R9", "SN-R9"), item(2, "own-r9", "SN-R10"))
	dds := decide(dup.Items)
	dout, err := s.Commit(ctx, dup, dds, testNow)
	if err != nil || dout.Decisions[1].Result != rma.ResultDuplicate {
		t.Fatalf("duplicate in the submission: %+v, %v", dout, err)
	}
	if v := s.c.Get(ctx, subKey(dup)).Val(); !strings.HasPrefix(v, outcomeAssigned+"+2026:3|@1\n") {
		t.Errorf("stored outcome with a duplicate starts %q", v[:min(len(v), 40)])
	}
	replay(dup, dds, dout)
}

// Proof: the one-script commit writes no updated entry for a new RMA (its open-set entry stands
// for it), ChangedSince still finds it by its creation, and its first status change adds it.
func TestNewRMAWithoutUpdatedEntry(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	sub := mailSub("gr-net", "upd1@example.com", item(1, "OWN-U1", "SN-U1"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	num := out.Decisions[0].Number
	if n := s.c.ZCard(ctx, s.k.updated("gr-net")).Val(); n != 0 {
		t.Errorf("%d updated entries after a commit, want none", n)
	}
	changed := func(since time.Time, want int) {
		t.Helper()
		recs, err := s.ChangedSince(ctx, "gr-net", since)
		if err != nil || len(recs) != want || want == 1 && recs[0].Number != num {
			t.Errorf("changed since %s: %d records, %v; want %d", since, len(recs), err, want)
		}
	}
	changed(testNow.Add(-time.Second), 1)
	changed(testNow, 0)
	if _, err := s.SetStatus(ctx, num, rma.StatusReceived, "staff:ana", "", nil, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := s.c.ZCard(ctx, s.k.updated("gr-net")).Val(); n != 1 {
		t.Errorf("%d updated entries after a status change, want 1", n)
	}
	changed(testNow.Add(30*time.Minute), 1)
	changed(testNow.Add(time.Hour), 0)
}
