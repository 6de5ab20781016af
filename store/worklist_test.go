package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// worklistFixture commits n RMAs for each of two partners, brands alternating, one a minute.
func worklistFixture(t testing.TB, s *Store, n int) []string {
	t.Helper()
	ctx := context.Background()
	var nums []string
	for i := range n {
		for _, p := range []string{"P-A", "P-B"} {
			it := item(1, fmt.Sprintf("OWN-%s-%d", p, i), fmt.Sprintf("SER-%s-%d", p, i))
			d := accepted(it)
			brand := []string{"TP-Link", "DJI"}[i%2]
			d.Product = &rma.Product{Brand: brand, Model: "M" + brand}
			if brand == "DJI" {
				d.Route.Handling = rma.HandlingForward
			}
			out, err := s.Commit(ctx, mailSub(p, fmt.Sprintf("m-%s-%d", p, i), it), []rma.Decision{d}, testNow.Add(time.Duration(len(nums))*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			nums = append(nums, out.Decisions[0].Number)
		}
	}
	return nums
}

func pageNumbers(p WorklistPage) []string {
	var out []string
	for _, r := range p.Records {
		out = append(out, r.Number)
	}
	return out
}

func TestWorklist(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	nums := worklistFixture(t, s, 6) // 12 RMAs, A and B in turn; pairs 0-1, 4-5, 8-9 TP-Link awaiting_goods, the others DJI forwarded
	// Oldest first is commit order; paging keeps it.
	p1, err := s.Worklist(ctx, WorklistQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	p3, _ := s.Worklist(ctx, WorklistQuery{Offset: 10, Limit: 5})
	if p1.Total != 12 || !slices.Equal(pageNumbers(p1), nums[:5]) || !slices.Equal(pageNumbers(p3), nums[10:]) {
		t.Fatalf("open worklist: %d %v / %v, want %v", p1.Total, pageNumbers(p1), pageNumbers(p3), nums)
	}
	newest, _ := s.Worklist(ctx, WorklistQuery{Newest: true, Limit: 1})
	if pageNumbers(newest)[0] != nums[11] {
		t.Fatalf("newest first: %v", pageNumbers(newest))
	}
	// A status change moves the RMA between the status sets, and closing takes it off the open list.
	at := testNow.Add(time.Hour)
	if _, err := s.SetStatus(ctx, nums[0], rma.StatusReceived, "staff:ann", "", nil, at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, nums[4], rma.StatusClosed, "staff:ann", "", nil, at); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    WorklistQuery
		want []string
	}{
		{"received", WorklistQuery{Statuses: []rma.Status{rma.StatusReceived}}, []string{nums[0]}},
		{"two statuses", WorklistQuery{Statuses: []rma.Status{rma.StatusReceived, rma.StatusClosed}}, []string{nums[0], nums[4]}},
		{"partner B, DJI", WorklistQuery{Partner: "P-B", Brand: "dji"}, []string{nums[3], nums[7], nums[11]}},
		{"partner A awaiting", WorklistQuery{Partner: "P-A", Statuses: []rma.Status{rma.StatusAwaitingGoods}}, []string{nums[8]}},
		{"forward handling", WorklistQuery{Handling: rma.HandlingForward, Partner: "P-A"}, []string{nums[2], nums[6], nums[10]}},
		{"open", WorklistQuery{Partner: "P-A"}, []string{nums[2], nums[6], nums[8], nums[10], nums[0]}},
		// Overdue: awaiting_goods longer than 5 minutes at testNow+9m: those committed before +4m.
		{"overdue", WorklistQuery{OverdueAfter: map[rma.Status]time.Duration{rma.StatusAwaitingGoods: 5 * time.Minute}, Now: testNow.Add(9 * time.Minute)},
			[]string{nums[1]}},
	} {
		c.q.Limit = 50
		p, err := s.Worklist(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageNumbers(p); !slices.Equal(got, c.want) || p.Total != len(c.want) {
			t.Errorf("%s: %v (total %d), want %v", c.name, got, p.Total, c.want)
		}
	}
	counts, err := s.StatusCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[rma.StatusAwaitingGoods] != 4 || counts[rma.StatusForwardedToVendor] != 6 || counts[rma.StatusReceived] != 1 || counts[rma.StatusClosed] != 1 {
		t.Fatalf("counts %v", counts)
	}
	// Tracking set after creation is searchable.
	if err := s.AddEvent(ctx, nums[1], rma.Event{Actor: "staff:ann", Extra: map[string]string{"tracking": "1Z 999"}, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexTracking(ctx, nums[1], "1Z 999"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ByTracking(ctx, "1z999"); len(got) != 1 || got[0].Number != nums[1] {
		t.Fatalf("by tracking: %v", got)
	}

	// A store written before the indexes: dropping them and building again gives the same pages.
	keys, _ := s.c.Keys(ctx, s.k.ix("*")).Result()
	if err := s.c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.BuildWorklistIndex(ctx, false); err != nil || n != 12 {
		t.Fatalf("build: %d %v", n, err)
	}
	if n, _ := s.BuildWorklistIndex(ctx, false); n != 0 {
		t.Fatalf("second build did work: %d", n)
	}
	p, _ := s.Worklist(ctx, WorklistQuery{Partner: "P-A", Limit: 50})
	if got := pageNumbers(p); !slices.Equal(got, []string{nums[2], nums[6], nums[8], nums[10], nums[0]}) {
		t.Fatalf("after rebuild: %v", got)
	}
	if got, _ := s.ByTracking(ctx, "1Z999"); len(got) != 1 {
		t.Fatalf("tracking after rebuild: %v", got)
	}
}

func TestSessionsAndThrottle(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	sess := Session{User: "ann", Role: "agent", CSRF: "tok", Created: testNow}
	if err := s.PutSession(ctx, "id-1", sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.TouchSession(ctx, "id-1", time.Minute)
	if err != nil || got != sess {
		t.Fatalf("touch: %+v %v", got, err)
	}
	if ttl := s.c.TTL(ctx, s.k.session("id-1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	if ks, _ := s.c.Keys(ctx, s.k.prefix+"*id-1*").Result(); len(ks) != 0 {
		t.Fatalf("the session id is in a key name: %v", ks)
	}
	if err := s.EndSession(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TouchSession(ctx, "id-1", time.Minute); err != ErrNoSession {
		t.Fatalf("ended session: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if n, err := s.AddFailure(ctx, "user:ann", time.Minute); err != nil || n != i {
			t.Fatalf("failure %d: %d %v", i, n, err)
		}
	}
	if n, _ := s.Failures(ctx, "user:ann"); n != 3 {
		t.Fatalf("failures %d", n)
	}
	if ttl := s.c.TTL(ctx, s.k.throttle("user:ann")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("throttle ttl %v", ttl)
	}
	_ = s.ClearFailures(ctx, "user:ann")
	if n, _ := s.Failures(ctx, "user:ann"); n != 0 {
		t.Fatalf("cleared failures %d", n)
	}
}

func TestWorklistOverdueSeveralStatuses(t *testing.T) {
	s := newTestStore(t)
	nums := worklistFixture(t, s, 2)
	p, err := s.Worklist(t.Context(), WorklistQuery{Limit: 50, Now: testNow.Add(30 * 24 * time.Hour),
		OverdueAfter: map[rma.Status]time.Duration{rma.StatusAwaitingGoods: 24 * time.Hour, rma.StatusRepaired: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if got := pageNumbers(p); !slices.Equal(got, []string{nums[0], nums[1]}) {
		t.Fatalf("overdue: %v", got)
	}
}

// OverdueExcept leaves out of an overdue status the RMAs of the handlings it names: a
// forwarded item repaired by the manufacturer is never waiting for collection here.
func TestWorklistOverdueExcept(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	nums := worklistFixture(t, s, 2) // 0, 1 TP-Link in house; 2, 3 DJI forwarded
	for _, n := range []string{nums[0], nums[2]} {
		if n == nums[0] {
			if _, err := s.SetStatus(ctx, n, rma.StatusReceived, "staff:ann", "", nil, testNow); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetStatus(ctx, n, rma.StatusRepaired, "staff:ann", "", nil, testNow.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	q := WorklistQuery{Limit: 50, Now: testNow.Add(30 * 24 * time.Hour), Statuses: []rma.Status{rma.StatusRepaired},
		OverdueAfter: map[rma.Status]time.Duration{rma.StatusRepaired: 24 * time.Hour}}
	if p, _ := s.Worklist(ctx, q); !slices.Equal(pageNumbers(p), []string{nums[0], nums[2]}) {
		t.Fatalf("repaired, overdue: %v", pageNumbers(p))
	}
	q.OverdueExcept = map[rma.Status][]rma.Handling{rma.StatusRepaired: {rma.HandlingForward, rma.HandlingVendorDirect}}
	p, err := s.Worklist(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := pageNumbers(p); !slices.Equal(got, []string{nums[0]}) || p.Total != 1 {
		t.Fatalf("repaired, overdue, forwarded left out: %v (%d)", got, p.Total)
	}
	// All overdue statuses at once, and a partner's brand.
	q.Statuses = nil
	q.OverdueAfter[rma.StatusAwaitingGoods] = 24 * time.Hour
	if p, _ := s.Worklist(ctx, q); !slices.Equal(pageNumbers(p), []string{nums[1], nums[0]}) {
		t.Fatalf("overdue: %v", pageNumbers(p))
	}
	if p, _ := s.Worklist(ctx, WorklistQuery{Limit: 50, Partner: "P-B", Brand: "tp-link", Statuses: []rma.Status{rma.StatusAwaitingGoods}}); !slices.Equal(pageNumbers(p), []string{nums[1]}) {
		t.Fatalf("partner B's TP-Link awaiting goods: %v", pageNumbers(p))
	}
}

// The partner and brand filters over closed statuses (and open and closed ones together)
// follow RMAs that close, reopen and move between closed statuses, on both paths of a status
// change; a rebuild gives the same pages and deletes the sets of every status version 2 kept.
func TestWorklistClosedFilters(t *testing.T) { bothForms(t, testWorklistClosedFilters) }

func testWorklistClosedFilters(t *testing.T, s *Store) {
	ctx := t.Context()
	nums := worklistFixture(t, s, 6) // as TestWorklist: A, B in turn; pairs 0-1, 4-5, 8-9 TP-Link awaiting_goods
	at := testNow.Add(time.Hour)
	for _, mv := range []struct {
		n  int
		to []rma.Status
	}{
		{4, []rma.Status{rma.StatusClosed}},                        // A, TP-Link: closes
		{8, []rma.Status{rma.StatusExpired, rma.StatusReceived}},   // A, TP-Link: closes and reopens
		{9, []rma.Status{rma.StatusExpired, rma.StatusClosed}},     // B, TP-Link: closed to closed
		{3, []rma.Status{rma.StatusShippedBack, rma.StatusClosed}}, // B, DJI
	} {
		for _, to := range mv.to {
			at = at.Add(time.Minute)
			if _, err := s.SetStatus(ctx, nums[mv.n], to, "staff:ann", "", nil, at); err != nil {
				t.Fatalf("%s to %s: %v", nums[mv.n], to, err)
			}
		}
	}
	closed := []rma.Status{rma.StatusClosed, rma.StatusExpired, rma.StatusShippedBack}
	cases := []struct {
		name string
		q    WorklistQuery
		want []string
	}{
		{"partner A closed", WorklistQuery{Partner: "P-A", Statuses: closed}, []string{nums[4]}},
		{"partner B closed", WorklistQuery{Partner: "P-B", Statuses: closed}, []string{nums[9], nums[3]}},
		{"brand TP-Link closed", WorklistQuery{Brand: "tp-link", Statuses: closed}, []string{nums[4], nums[9]}},
		{"partner B DJI closed", WorklistQuery{Partner: "P-B", Brand: "DJI", Statuses: closed}, []string{nums[3]}},
		{"partner A received or closed", WorklistQuery{Partner: "P-A", Statuses: []rma.Status{rma.StatusReceived, rma.StatusClosed}},
			[]string{nums[4], nums[8]}},
		{"TP-Link awaiting or closed", WorklistQuery{Brand: "TP-Link", Statuses: []rma.Status{rma.StatusAwaitingGoods, rma.StatusClosed}},
			[]string{nums[0], nums[1], nums[5], nums[4], nums[9]}},
		{"partner A open", WorklistQuery{Partner: "P-A"}, []string{nums[0], nums[2], nums[6], nums[10], nums[8]}},
		{"expired", WorklistQuery{Statuses: []rma.Status{rma.StatusExpired}}, nil},
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			c.q.Limit = 50
			p, err := s.Worklist(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := pageNumbers(p); !slices.Equal(got, c.want) || p.Total != len(c.want) {
				t.Errorf("%s, %s: %v (total %d), want %v", when, c.name, got, p.Total, c.want)
			}
		}
	}
	check("kept by the changes")
	// A store of version 2: its sets of every status go, the pages stay.
	for _, k := range []string{s.k.ix("p:P-A"), s.k.ix("b:tp-link")} {
		if err := s.c.SAdd(ctx, k, "2026:1").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.c.Set(ctx, s.k.ix("version"), "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.BuildWorklistIndex(ctx, false); err != nil || n != 12 {
		t.Fatalf("build: %d %v", n, err)
	}
	if n, _ := s.c.Exists(ctx, s.k.ix("p:P-A"), s.k.ix("b:tp-link")).Result(); n != 0 {
		t.Errorf("%d sets of version 2 left after the rebuild", n)
	}
	check("rebuilt")
}
