package store

import (
	"context"
	"reflect"
	"strings"
	"testing"

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
