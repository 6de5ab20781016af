package store

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// Proof: 8 goroutines × 500 one-item submissions get the numbers 1..4000 of the year, each once.
func TestCommitConcurrentNumbersUniqueAndGapFree(t *testing.T) {
	bothForms(t, testCommitConcurrentNumbersUniqueAndGapFree)
}

func testCommitConcurrentNumbersUniqueAndGapFree(t *testing.T, s *Store) {
	ctx := context.Background()
	workers, each := 8, 500
	if s.multiStep {
		each = 150 // the three steps are slower, and their race is the same at this size
	}
	numbers := make(chan string, workers*each)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				it := item(1, fmt.Sprintf("W%d-%d", w, i), fmt.Sprintf("SN-%d-%d", w, i))
				sub := mailSub(fmt.Sprintf("partner-%d", w%3), fmt.Sprintf("m%d.%d@example.com", w, i), it)
				out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
				if err != nil {
					errs <- err
					return
				}
				if out.Replay || len(out.Decisions) != 1 || out.Decisions[0].Result != rma.ResultAccepted {
					errs <- fmt.Errorf("submission %d/%d: unexpected outcome %+v", w, i, out)
					return
				}
				numbers <- out.Decisions[0].Number
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(numbers)
	var ns []int
	seen := map[string]bool{}
	for n := range numbers {
		if seen[n] {
			t.Fatalf("number %s given twice", n)
		}
		seen[n] = true
		p, err := rma.ParseNumber(n)
		if err != nil || p.Year != 2026 {
			t.Fatalf("bad number %q (%v)", n, err)
		}
		ns = append(ns, p.N)
	}
	sort.Ints(ns)
	if len(ns) != workers*each {
		t.Fatalf("got %d numbers, want %d", len(ns), workers*each)
	}
	for i, n := range ns {
		if n != i+1 {
			t.Fatalf("numbers are not 1..%d without gaps: position %d holds %d", workers*each, i, n)
		}
	}
}

// Proof: the same submission committed twice, and concurrently, gets one set of numbers.
func TestCommitSameSubmissionTwiceIsReplay(t *testing.T) {
	bothForms(t, testCommitSameSubmissionTwiceIsReplay)
}

func testCommitSameSubmissionTwiceIsReplay(t *testing.T, s *Store) {
	ctx := context.Background()
	sub := mailSub("gr-net", "a1@example.com", item(1, "OWN-1", "SN1"), item(2, "OWN-2", "SN2"))
	first, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replay {
		t.Fatal("first commit reported as replay")
	}
	if first.Decisions[0].Number != "RMA/1/SR/2026" || first.Decisions[1].Number != "RMA/2/SR/2026" {
		t.Fatalf("numbers %q %q", first.Decisions[0].Number, first.Decisions[1].Number)
	}
	again, err := s.Commit(ctx, sub, decide(sub.Items), testNow.Add(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replay || again.SubmissionKey != first.SubmissionKey {
		t.Fatalf("second commit: replay=%v key=%q, want replay of %q", again.Replay, again.SubmissionKey, first.SubmissionKey)
	}
	for i := range first.Decisions {
		if again.Decisions[i].Number != first.Decisions[i].Number || again.Decisions[i].Result != rma.ResultAccepted {
			t.Fatalf("replayed decision %d = %+v, want %+v", i, again.Decisions[i], first.Decisions[i])
		}
	}

	// Concurrently: 8 commits of one new submission; exactly one does the work.
	sub2 := mailSub("gr-net", "a2@example.com", item(1, "OWN-3", "SN3"))
	var wg sync.WaitGroup
	outs := make([]Outcome, 8)
	errs := make([]error, 8)
	for i := range outs {
		wg.Go(func() { outs[i], errs[i] = s.Commit(ctx, sub2, decide(sub2.Items), testNow) })
	}
	wg.Wait()
	fresh := 0
	for i, o := range outs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !o.Replay {
			fresh++
		}
		if o.Decisions[0].Number != "RMA/3/SR/2026" || o.Decisions[0].Result != rma.ResultAccepted {
			t.Fatalf("concurrent commit %d: %+v", i, o.Decisions[0])
		}
	}
	if fresh != 1 {
		t.Fatalf("%d commits were not replays, want 1", fresh)
	}
	// Nothing was numbered twice: the next number is 4.
	sub3 := mailSub("gr-net", "a3@example.com", item(1, "OWN-4", "SN4"))
	o3, err := s.Commit(ctx, sub3, decide(sub3.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if o3.Decisions[0].Number != "RMA/4/SR/2026" {
		t.Fatalf("next number %s, want RMA/4/SR/2026", o3.Decisions[0].Number)
	}
}

// A new submission that repeats a claim gets the existing number with result duplicate.
func TestCommitDuplicateClaims(t *testing.T) { bothForms(t, testCommitDuplicateClaims) }

func testCommitDuplicateClaims(t *testing.T, s *Store) {
	ctx := context.Background()
	fwd := accepted(item(2, "OWN-F", "DJI-1"))
	fwd.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	sub := mailSub("ro-shop", "b1@example.com", item(1, "OWN-A", "SN-A"), fwd.Item)
	first, err := s.Commit(ctx, sub, []rma.Decision{accepted(sub.Items[0]), fwd}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	numA, numF := first.Decisions[0].Number, first.Decisions[1].Number

	// A different mail: own number again (other serial), open serial again (other own number),
	// and a brand-new item whose own number repeats inside the submission.
	items := []rma.Item{
		item(1, "own-a", "SN-OTHER"), // own numbers compare case-insensitively
		item(2, "OWN-NEW", "dji-1"),  // the forward item's serial, still open
		item(3, "OWN-B", "SN-B"),
		item(4, "OWN-B", "SN-C"), // same own number as line 3
		item(5, "OWN-D", "SN-B"), // same serial as line 3
	}
	sub2 := mailSub("ro-shop", "b2@example.com", items...)
	ds := decide(items)
	out, err := s.Commit(ctx, sub2, ds, testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		result   rma.Result
		number   string
		handling rma.Handling
	}{
		{rma.ResultDuplicate, numA, rma.HandlingInHouse},
		{rma.ResultDuplicate, numF, rma.HandlingForward},
		{rma.ResultAccepted, "RMA/3/SR/2026", rma.HandlingInHouse},
		{rma.ResultDuplicate, "RMA/3/SR/2026", rma.HandlingInHouse},
		{rma.ResultDuplicate, "RMA/3/SR/2026", rma.HandlingInHouse},
	}
	for i, w := range want {
		d := out.Decisions[i]
		if d.Result != w.result || d.Number != w.number || d.Route.Handling != w.handling {
			t.Errorf("line %d: %s %s %s, want %s %s %s", i+1, d.Result, d.Number, d.Route.Handling, w.result, w.number, w.handling)
		}
	}
	// Duplicates created nothing: the serial SN-OTHER has no record, and the next number is 4.
	if recs, err := s.Lookup(ctx, "ro-shop", "SN-OTHER"); err != nil || len(recs) != 0 {
		t.Fatalf("lookup SN-OTHER: %v %v", recs, err)
	}
	o, err := s.Commit(ctx, mailSub("ro-shop", "b3@example.com", item(1, "", "SN-Z")), decide([]rma.Item{item(1, "", "SN-Z")}), testNow)
	if err != nil || o.Decisions[0].Number != "RMA/4/SR/2026" {
		t.Fatalf("next commit: %+v %v", o.Decisions, err)
	}

	// Once the serial's RMA is closed, the serial may be claimed again.
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusShippedBack} {
		if _, err := s.SetStatus(ctx, numF, st, "test", "", nil, testNow); err != nil {
			t.Fatal(err)
		}
	}
	sub4 := mailSub("ro-shop", "b4@example.com", item(1, "OWN-AGAIN", "DJI-1"))
	o4, err := s.Commit(ctx, sub4, decide(sub4.Items), testNow)
	if err != nil || o4.Decisions[0].Result != rma.ResultAccepted || o4.Decisions[0].Number != "RMA/5/SR/2026" {
		t.Fatalf("serial after close: %+v %v", o4.Decisions, err)
	}
	// Another partner's serial and own number are not duplicates.
	sub5 := mailSub("fr-pro", "b5@example.com", item(1, "OWN-A", "SN-A"))
	o5, err := s.Commit(ctx, sub5, decide(sub5.Items), testNow)
	if err != nil || o5.Decisions[0].Result != rma.ResultAccepted {
		t.Fatalf("other partner: %+v %v", o5.Decisions, err)
	}
}

// Items that get no number (rejected, vendor_direct) are kept in the outcome without records.
func TestCommitKeepsUnnumberedItems(t *testing.T) { bothForms(t, testCommitKeepsUnnumberedItems) }

func testCommitKeepsUnnumberedItems(t *testing.T, s *Store) {
	ctx := context.Background()
	rej := rma.Decision{Line: 1, Item: item(1, "R1", "SN-R"), Result: rma.ResultRejected,
		Problems: []rma.Problem{rma.NewProblem(rma.CodeEANInvalid, "ean")}}
	vd := rma.Decision{Line: 2, Item: item(2, "V1", "SN-V"), Result: rma.ResultRedirected,
		Route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com"}}
	ok := accepted(item(3, "A1", "SN-1"))
	sub := mailSub("gr-net", "c1@example.com", rej.Item, vd.Item, ok.Item)
	out, err := s.Commit(ctx, sub, []rma.Decision{rej, vd, ok}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if out.Decisions[0].Number != "" || out.Decisions[1].Number != "" || out.Decisions[2].Number != "RMA/1/SR/2026" {
		t.Fatalf("numbers: %q %q %q", out.Decisions[0].Number, out.Decisions[1].Number, out.Decisions[2].Number)
	}
	if recs, _ := s.Lookup(ctx, "", "SN-R"); len(recs) != 0 {
		t.Fatal("rejected item got a record")
	}
	again, err := s.Commit(ctx, sub, []rma.Decision{rej, vd, ok}, testNow)
	if err != nil || !again.Replay || len(again.Decisions) != 3 || again.Decisions[0].Problems[0].Code != rma.CodeEANInvalid {
		t.Fatalf("replay: %+v %v", again, err)
	}
	// A submission with nothing to number is stored too, so its replay is recognised.
	sub2 := mailSub("gr-net", "c2@example.com", rej.Item)
	if o, err := s.Commit(ctx, sub2, []rma.Decision{rej}, testNow); err != nil || o.Replay {
		t.Fatalf("all rejected: %+v %v", o, err)
	}
	if o, err := s.Commit(ctx, sub2, []rma.Decision{rej}, testNow); err != nil || !o.Replay {
		t.Fatalf("all rejected again: %+v %v", o, err)
	}
	if _, err := s.Commit(ctx, rma.Submission{}, nil, testNow); err == nil {
		t.Fatal("commit without partner accepted")
	}
}

// Different submissions racing for the same own number: one RMA, the others duplicates of it.
func TestCommitConcurrentClaimsOfOneOwnNumber(t *testing.T) {
	bothForms(t, testCommitConcurrentClaimsOfOneOwnNumber)
}

func testCommitConcurrentClaimsOfOneOwnNumber(t *testing.T, s *Store) {
	ctx := context.Background()
	const n = 8
	outs := make([]Outcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sub := mailSub("gr-net", fmt.Sprintf("d%d@example.com", i), item(1, "SAME-OWN", fmt.Sprintf("SN-%d", i)))
			outs[i], errs[i] = s.Commit(ctx, sub, decide(sub.Items), testNow)
		})
	}
	wg.Wait()
	var number string
	accepted := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		d := outs[i].Decisions[0]
		if d.Result == rma.ResultAccepted {
			accepted++
		}
		if number == "" {
			number = d.Number
		}
		if d.Number != number {
			t.Fatalf("commit %d got %s, another %s", i, d.Number, number)
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted, want 1", accepted)
	}
	recs, err := s.Lookup(ctx, "gr-net", "same-own")
	if err != nil || len(recs) != 1 || recs[0].Number != number {
		t.Fatalf("lookup: %+v %v", recs, err)
	}
}

// The number's year is the service's, not UTC's: just after midnight in Athens on New Year's
// Day the count starts again at 1.
func TestCommitYearInCallersTimeZone(t *testing.T) {
	s := newTestStore(t)
	athens := testenv.Athens
	ctx := context.Background()
	old := mailSub("gr-net", "y1@example.com", item(1, "Y1", "SY1"))
	if o, err := s.Commit(ctx, old, decide(old.Items), time.Date(2026, 12, 31, 21, 0, 0, 0, time.UTC).In(athens)); err != nil || o.Decisions[0].Number != "RMA/1/SR/2026" {
		t.Fatalf("%+v %v", o.Decisions, err)
	}
	sub := mailSub("gr-net", "y2@example.com", item(1, "Y2", "SY2"))
	now := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC).In(athens) // 01:30 on 1 January in Athens
	o, err := s.Commit(ctx, sub, decide(sub.Items), now)
	if err != nil || o.Decisions[0].Number != "RMA/1/SR/2027" {
		t.Fatalf("%+v %v", o.Decisions, err)
	}
	r, err := s.Get(ctx, "RMA/1/SR/2027")
	if err != nil || !r.CreatedAt.Equal(now) {
		t.Fatalf("%+v %v", r, err)
	}
}
