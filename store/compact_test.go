package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// Closed RMAs unchanged since the cutoff are packed into one value each; every reader still
// finds them, a second run does nothing, open and recently closed ones wait, and a change to a
// compacted RMA unpacks it.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	const n = 40
	commitMany(t, s, n) // RMA/1..40/SR/2026, all awaiting_goods, created at testNow
	closedAt := testNow.Add(24 * time.Hour)
	for i := 1; i <= n; i++ {
		num := rma.Number{N: i, Year: 2026}.String()
		switch {
		case i == 1: // stays open
		case i == 2: // closed later, after the first run's cutoff
			if _, err := s.SetStatus(ctx, num, rma.StatusClosed, "staff:ana", "", nil, closedAt.AddDate(0, 6, 0)); err != nil {
				t.Fatal(err)
			}
		case i%2 == 0:
			if _, err := s.SetStatus(ctx, num, rma.StatusExpired, "rmad", "no goods", nil, closedAt); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := s.SetStatus(ctx, num, rma.StatusClosed, "staff:ana", "withdrawn", map[string]string{"tracking": "TRK1"}, closedAt); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := map[string]rma.Record{}
	for i := 1; i <= n; i++ {
		r, err := s.Get(ctx, rma.Number{N: i, Year: 2026}.String())
		if err != nil {
			t.Fatal(err)
		}
		before[r.Number] = r
	}

	cutoff := closedAt.AddDate(0, 3, 0)
	rep, err := s.Compact(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compacted != n-2 {
		t.Errorf("first run: %+v, want %d compacted (not the open one nor the one closed after the cutoff)", rep, n-2)
	}
	for num, want := range before {
		got, err := s.Get(ctx, num)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s after compaction:\n got %+v, %v\nwant %+v", num, got, err, want)
		}
	}
	nk := numberKey{Year: 2026, N: 3}
	if k, _ := s.c.Exists(ctx, s.k.rec("nova-it", nk), s.k.hist("nova-it", nk)).Result(); k != 0 {
		t.Errorf("RMA/3: record hash or history still there (%d keys)", k)
	}
	// Look-ups by serial and own number, by status, and the changes of the digest.
	if rs, err := s.Lookup(ctx, "nova-it", "rt55x0000002"); err != nil || len(rs) != 1 || rs[0].Number != "RMA/3/SR/2026" {
		t.Errorf("lookup by serial: %v, %v", rs, err)
	}
	if rs, err := s.Lookup(ctx, "", "nova-2026-00003"); err != nil || len(rs) != 1 || rs[0].Number != "RMA/4/SR/2026" {
		t.Errorf("lookup by own number: %v, %v", rs, err)
	}
	if rs, err := s.ByStatus(ctx, rma.StatusExpired); err != nil || len(rs) != n/2-1 {
		t.Errorf("by status expired: %d, %v", len(rs), err)
	}
	if rs, err := s.ChangedSince(ctx, "nova-it", testNow); err != nil || len(rs) != n-1 {
		t.Errorf("changed since: %d, %v", len(rs), err)
	}

	if rep, err := s.Compact(ctx, cutoff); err != nil || rep.Compacted != 0 {
		t.Errorf("second run: %+v, %v", rep, err)
	}
	// RMA/1 closes now, RMA/2 was closed after the first cutoff: a later run packs both.
	if _, err := s.SetStatus(ctx, "RMA/1/SR/2026", rma.StatusClosed, "staff:ana", "", nil, closedAt.AddDate(0, 7, 0)); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Compact(ctx, closedAt.AddDate(1, 0, 0)); err != nil || rep.Compacted != 2 {
		t.Errorf("later run: %+v, %v, want RMA/1 and RMA/2 compacted", rep, err)
	}

	// A change to a compacted RMA: it is unpacked and changed as any other.
	r, err := s.SetStatus(ctx, "RMA/4/SR/2026", rma.StatusReceived, "staff:ana", "goods arrived late", nil, closedAt.AddDate(1, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := before["RMA/4/SR/2026"]
	if len(r.History) != len(want.History)+1 || r.Status != rma.StatusReceived {
		t.Errorf("reopened: %+v", r)
	}
	got, err := s.Get(ctx, "RMA/4/SR/2026")
	if err != nil || !reflect.DeepEqual(got.History[:len(want.History)], want.History) || got.Status != rma.StatusReceived {
		t.Errorf("after the change: %+v, %v", got, err)
	}
	if rs, err := s.Lookup(ctx, "nova-it", "RT55X0000003"); err != nil || len(rs) != 1 || rs[0].Status != rma.StatusReceived {
		t.Errorf("lookup after reopening: %v, %v", rs, err)
	}
	if err := s.AddEvent(ctx, "RMA/5/SR/2026", rma.Event{At: closedAt.AddDate(1, 0, 2), Actor: "staff:ana", Note: "asked again"}); err != nil {
		t.Fatal(err)
	}
}

// A compacted RMA costs at most 1 KB of Redis memory, its indexes included.
func TestCompactedMemory(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	const n = 100
	commitMany(t, s, n)
	for i := 1; i <= n; i++ {
		if _, err := s.SetStatus(ctx, rma.Number{N: i, Year: 2026}.String(), rma.StatusExpired, "rmad", "", nil, testNow.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := s.Compact(ctx, testNow.AddDate(1, 0, 0)); err != nil || rep.Compacted != n {
		t.Fatalf("%+v, %v", rep, err)
	}
	// Compaction comes compact_after (90 days by default) after an RMA closed: what expires
	// sooner (the stored outcome, the number reservation) is gone by then.
	keys, err := s.c.Keys(ctx, s.k.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl, err := s.c.PTTL(ctx, k).Result(); err == nil && ttl > 0 && ttl <= 90*24*time.Hour {
			s.c.Del(ctx, k)
		}
	}
	usage, err := MemoryUsage(ctx, s.c, s.k.prefix)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, u := range usage {
		total += u.Bytes
		t.Logf("%-16s %4d keys %8d B %6.0f B/RMA", u.Kind, u.Keys, u.Bytes, float64(u.Bytes)/n)
	}
	if total/n > 1024 {
		t.Errorf("%d B per compacted RMA, want at most 1,024", total/n)
	}
}

// A compacted RMA's own-number key and serial index entry move into the partner's compacted
// index; look-ups still find it by both, a new submission repeating its own number is a
// duplicate of it (one script, three steps, and in chunks), its serial may be claimed again,
// and compacting it again after a change adds nothing twice.
func TestCompactedIndex(t *testing.T) { bothForms(t, testCompactedIndex) }

func testCompactedIndex(t *testing.T, s *Store) {
	ctx := context.Background()
	long := "NOVA-" + strings.Repeat("LONG-OWN-NUMBER-", 4) // over maxCompactField
	its := []rma.Item{item(1, "NOVA-A1", "SER-A1"), item(1, "nova-a2", "ser a2"), item(1, long, "SER-A3")}
	for i, it := range its {
		if _, err := s.Commit(ctx, mailSub("nova-it", fmt.Sprintf("ci-%d@nova-it.ro", i), it), decide([]rma.Item{it}), testNow); err != nil {
			t.Fatal(err)
		}
	}
	closedAt := testNow.Add(time.Hour)
	for i := 1; i <= len(its); i++ {
		if _, err := s.SetStatus(ctx, rma.Number{N: i, Year: 2026}.String(), rma.StatusExpired, "rmad", "", nil, closedAt); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := s.Compact(ctx, closedAt.Add(time.Hour)); err != nil || rep.Compacted != len(its) {
		t.Fatalf("compact: %+v, %v", rep, err)
	}
	left, err := s.c.Keys(ctx, s.k.partner("nova-it")+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range left {
		if kind := KeyKind(s.k.prefix, k); kind == "own" || kind == "sn" || kind == "oserial" {
			t.Errorf("%s still there after compaction", k)
		}
	}
	find := func(q string, want ...string) {
		t.Helper()
		recs, err := s.Lookup(ctx, "", q)
		var got []string
		for _, r := range recs {
			got = append(got, r.Number)
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("lookup %q: %v, %v; want %v", q, got, err, want)
		}
	}
	find("nova-a1", "RMA/1/SR/2026")
	find("NOVA-A2", "RMA/2/SR/2026")
	find(strings.ToLower(long), "RMA/3/SR/2026")
	find("ser-a1", "RMA/1/SR/2026")
	find("SERA2", "RMA/2/SR/2026")

	// A new submission: RMA/1's own number again (a duplicate of it), RMA/2's serial with a
	// new own number (a new RMA: RMA/2 is closed), the long own number again (a duplicate).
	again := []rma.Item{item(1, "Nova-A1", "SER-NEW"), item(2, "NOVA-B2", "SERA2"), item(3, long, "SER-N3")}
	out, err := s.Commit(ctx, mailSub("nova-it", "again@nova-it.ro", again...), decide(again), testNow.AddDate(0, 6, 0))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		res rma.Result
		num string
	}{{rma.ResultDuplicate, "RMA/1/SR/2026"}, {rma.ResultAccepted, "RMA/4/SR/2026"}, {rma.ResultDuplicate, "RMA/3/SR/2026"}} {
		if d := out.Decisions[i]; d.Result != want.res || d.Number != want.num || d.Route.Handling != rma.HandlingInHouse {
			t.Errorf("line %d: %s %s %s, want %s %s in_house", i+1, d.Result, d.Number, d.Route.Handling, want.res, want.num)
		}
	}
	find("SER A2", "RMA/2/SR/2026", "RMA/4/SR/2026")

	// In chunks: one item of a big submission repeats RMA/2's own number.
	big := make([]rma.Item, commitChunk+1)
	for i := range big {
		big[i] = item(i+1, fmt.Sprintf("BIG-%03d", i), fmt.Sprintf("BIGSER%03d", i))
	}
	big[commitChunk/2].OwnNumber = "NOVA-A2"
	out, err = s.Commit(ctx, mailSub("nova-it", "big@nova-it.ro", big...), decide(big), testNow.AddDate(0, 6, 0))
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Decisions[commitChunk/2]; d.Result != rma.ResultDuplicate || d.Number != "RMA/2/SR/2026" {
		t.Errorf("in chunks: %s %s, want a duplicate of RMA/2/SR/2026", d.Result, d.Number)
	}

	// RMA/1 changes (unpacked), closes again and is compacted again: found once, listed once.
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusShippedBack} {
		if _, err := s.SetStatus(ctx, "RMA/1/SR/2026", st, "staff:ana", "", nil, closedAt.AddDate(0, 7, 0)); err != nil {
			t.Fatal(err)
		}
	}
	find("SER-A1", "RMA/1/SR/2026")
	if _, err := s.Compact(ctx, closedAt.AddDate(0, 8, 0)); err != nil {
		t.Fatal(err)
	}
	find("SER-A1", "RMA/1/SR/2026")
	find("NOVA-A1", "RMA/1/SR/2026")
	f := compactField('s', "SER-A1")
	if v, err := s.c.HGet(ctx, s.k.compactIndex("nova-it", f), f).Result(); err != nil || v != "2026:1" {
		t.Errorf("compacted index of SER-A1: %q, %v; want 2026:1", v, err)
	}
}

// A commit reads an own number's compacted-index bucket only once the partner has a compaction
// mark, which compacting an RMA sets before it moves the own number there: a partner without
// compacted RMAs costs no bucket read, and one with them still finds their own numbers.
func TestOwnClaimReadsBucketsOnceCompacted(t *testing.T) { bothForms(t, testOwnClaimReadsBuckets) }

func testOwnClaimReadsBuckets(t *testing.T, s *Store) {
	ctx := context.Background()
	commit := func(partner, id, own string) rma.Decision {
		t.Helper()
		its := []rma.Item{item(1, own, "")}
		out, err := s.Commit(ctx, mailSub(partner, id, its...), decide(its), testNow)
		if err != nil {
			t.Fatal(err)
		}
		return out.Decisions[0]
	}
	first := commit("nova-it", "a@nova-it.ro", "OWN-A1")
	closedAt := testNow.Add(time.Hour)
	r, err := s.SetStatus(ctx, first.Number, rma.StatusExpired, "rmad", "", nil, closedAt)
	if err != nil {
		t.Fatal(err)
	}
	// One RMA compacted on its own, as a run cut off after it would leave it.
	if ok, err := s.compactOne(ctx, r); err != nil || !ok {
		t.Fatalf("compact %s: %v, %v", r.Number, ok, err)
	}
	if n, _ := s.c.Exists(ctx, s.k.own("nova-it", "OWN-A1")).Result(); n != 0 {
		t.Fatal("own-number key still there after compaction")
	}
	if d := commit("nova-it", "b@nova-it.ro", "own-a1"); d.Result != rma.ResultDuplicate || d.Number != first.Number {
		t.Errorf("own number of a compacted RMA again: %s %s, want a duplicate of %s", d.Result, d.Number, first.Number)
	}

	// A bucket field of a partner without a mark is not read (none can exist but by hand).
	f := compactField('o', "OWN-B1")
	if err := s.c.HSet(ctx, s.k.compactIndex("acme-ro", f), f, "2026:99 in_house").Err(); err != nil {
		t.Fatal(err)
	}
	if d := commit("acme-ro", "c@acme.ro", "OWN-B1"); d.Result != rma.ResultAccepted {
		t.Errorf("own number in the bucket of a partner with no mark: %s %s, want it accepted (bucket not read)", d.Result, d.Number)
	}
}
