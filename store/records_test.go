package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

func TestRecordFieldsAndGet(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	it := item(1, "OWN-1", "SN-1")
	it.Tracking, it.Contents, it.IBAN = "AWB123", "PSU, antennas", "GR1601101250000000012300695"
	sub := mailSub("gr-net", "e1@example.com", it)
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, " rma/1/sr/2026 ")
	if err != nil {
		t.Fatal(err)
	}
	if r.Number != out.Decisions[0].Number || r.PartnerID != "gr-net" || r.Status != rma.StatusAwaitingGoods {
		t.Fatalf("record %+v", r)
	}
	if !reflect.DeepEqual(r.Decision.Item, it) {
		t.Fatalf("item fields lost: %+v", r.Decision.Item)
	}
	if r.Decision.Item.IBAN != it.IBAN || r.Decision.Item.Contents != it.Contents || r.Decision.Number != r.Number {
		t.Fatalf("decision %+v", r.Decision)
	}
	if r.Source != sub.Source {
		t.Fatalf("source %+v, want %+v", r.Source, sub.Source)
	}
	if !r.CreatedAt.Equal(testNow) || !r.UpdatedAt.Equal(testNow) {
		t.Fatalf("times %v %v", r.CreatedAt, r.UpdatedAt)
	}
	if len(r.History) != 1 || r.History[0].Status != rma.StatusAwaitingGoods || r.History[0].Actor != "rmad" || !r.History[0].At.Equal(testNow) {
		t.Fatalf("history %+v", r.History)
	}
	for _, missing := range []string{"RMA/2/SR/2026", "RMA/1/SR/2025", "nonsense"} {
		if _, err := s.Get(ctx, missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", missing, err)
		}
	}
}

func TestSetStatusTransitionsAndHistory(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sub := mailSub("gr-net", "f1@example.com", item(1, "OWN-1", "SN-1"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	num := out.Decisions[0].Number

	// Illegal: awaiting_goods → repaired.
	_, err = s.SetStatus(ctx, num, rma.StatusRepaired, "cli:ann", "", nil, testNow)
	var te *rma.TransitionError
	if !errors.As(err, &te) || te.From != rma.StatusAwaitingGoods || te.To != rma.StatusRepaired {
		t.Fatalf("illegal move: err %v", err)
	}
	steps := []struct {
		to   rma.Status
		note string
	}{
		{rma.StatusReceived, "parcel arrived"},
		{rma.StatusDiagnosing, ""},
		{rma.StatusAwaitingAccessories, "PSU missing"},
		{rma.StatusDiagnosing, "PSU arrived"},
		{rma.StatusRepaired, "board replaced"},
		{rma.StatusClosed, ""},
	}
	at := testNow
	for _, st := range steps {
		at = at.Add(time.Hour)
		r, err := s.SetStatus(ctx, num, st.to, "staff:ann", st.note, map[string]string{"tracking": "X1"}, at)
		if err != nil {
			t.Fatalf("→ %s: %v", st.to, err)
		}
		if r.Status != st.to || !r.UpdatedAt.Equal(at) {
			t.Fatalf("→ %s: record %s %v", st.to, r.Status, r.UpdatedAt)
		}
	}
	if _, err := s.SetStatus(ctx, num, rma.StatusReceived, "x", "", nil, at); !errors.As(err, &te) {
		t.Fatalf("move out of closed: %v", err)
	}
	r, err := s.Get(ctx, num)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.History) != len(steps)+1 {
		t.Fatalf("history has %d entries, want %d: %+v", len(r.History), len(steps)+1, r.History)
	}
	for i, st := range steps {
		ev := r.History[i+1]
		if ev.Status != st.to || ev.Note != st.note || ev.Actor != "staff:ann" || !ev.At.Equal(testNow.Add(time.Duration(i+1)*time.Hour)) || ev.Extra["tracking"] != "X1" {
			t.Fatalf("history %d: %+v", i+1, ev)
		}
	}
	if r.LastNote() != "board replaced" {
		t.Fatalf("last note %q", r.LastNote())
	}
	if _, err := s.SetStatus(ctx, "RMA/99/SR/2026", rma.StatusReceived, "x", "", nil, at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown number: %v", err)
	}
	// Indexes follow: closed is listed, awaiting_goods no longer.
	if recs, err := s.ByStatus(ctx, rma.StatusClosed); err != nil || len(recs) != 1 || recs[0].Number != num {
		t.Fatalf("by status closed: %v %v", recs, err)
	}
	if recs, err := s.ByStatus(ctx, rma.StatusAwaitingGoods); err != nil || len(recs) != 0 {
		t.Fatalf("by status awaiting_goods: %v %v", recs, err)
	}
}

// Concurrent writers from one status: exactly one move from received wins per step.
func TestSetStatusConcurrentChangesAreSerialised(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	sub := mailSub("gr-net", "g1@example.com", item(1, "OWN-1", "SN-1"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	num := out.Decisions[0].Number
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.SetStatus(ctx, num, rma.StatusReceived, "w", "", nil, testNow) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var te *rma.TransitionError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &te): // received → received is not a move
		default:
			t.Fatal(err)
		}
	}
	r, _ := s.Get(ctx, num)
	if ok != 1 || len(r.History) != 2 {
		t.Fatalf("%d writers succeeded, history %d entries; want 1 and 2", ok, len(r.History))
	}
}

func TestLookupByEachKeyScopedToPartner(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	subA := mailSub("gr-net", "h1@example.com", item(1, "PO-77", "SN 100 200"))
	outA, err := s.Commit(ctx, subA, decide(subA.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	subB := mailSub("ro-shop", "h2@example.com", item(1, "PO-77", "SN100200"))
	outB, err := s.Commit(ctx, subB, decide(subB.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	numA, numB := outA.Decisions[0].Number, outB.Decisions[0].Number
	cases := []struct {
		partner, query string
		want           []string
	}{
		{"gr-net", numA, []string{numA}},
		{"gr-net", strings.ToLower(numA), []string{numA}},
		{"gr-net", numB, nil}, // another partner's number
		{"gr-net", "sn100200", []string{numA}},
		{"gr-net", " po-77 ", []string{numA}},
		{"ro-shop", "PO-77", []string{numB}},
		{"ro-shop", "SN 100 200", []string{numB}},
		{"", "PO-77", []string{numA, numB}},
		{"", numB, []string{numB}},
		{"gr-net", "nothing-like-it", nil},
		{"gr-net", "", nil},
		{"fr-none", "PO-77", nil},
	}
	for _, c := range cases {
		recs, err := s.Lookup(ctx, c.partner, c.query)
		if err != nil {
			t.Fatalf("lookup %q %q: %v", c.partner, c.query, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r.Number)
			if c.partner != "" && r.PartnerID != c.partner {
				t.Fatalf("lookup %q %q leaked %s of %s", c.partner, c.query, r.Number, r.PartnerID)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("lookup %q %q = %v, want %v", c.partner, c.query, got, c.want)
		}
	}
	// All RMAs of a serial are found, closed ones too.
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusShippedBack} {
		if _, err := s.SetStatus(ctx, numA, st, "t", "", nil, testNow); err != nil {
			t.Fatal(err)
		}
	}
	subC := mailSub("gr-net", "h3@example.com", item(1, "PO-78", "SN100200"))
	outC, err := s.Commit(ctx, subC, decide(subC.Items), testNow)
	if err != nil || outC.Decisions[0].Result != rma.ResultAccepted {
		t.Fatalf("%+v %v", outC, err)
	}
	recs, err := s.Lookup(ctx, "gr-net", "SN100200")
	if err != nil || len(recs) != 2 || recs[0].Number != numA || recs[1].Number != outC.Decisions[0].Number {
		t.Fatalf("serial history: %+v %v", recs, err)
	}
}

func TestChangedSinceAndByStatus(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	var nums []string
	for i, p := range []string{"gr-net", "gr-net", "ro-shop"} {
		sub := mailSub(p, "k"+string(rune('a'+i))+"@example.com", item(1, "O"+string(rune('a'+i)), "S"+string(rune('a'+i))))
		out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, out.Decisions[0].Number)
	}
	later := testNow.Add(24 * time.Hour)
	if _, err := s.SetStatus(ctx, nums[1], rma.StatusReceived, "staff:x", "", nil, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChangedSince(ctx, "gr-net", testNow)
	if err != nil || len(got) != 1 || got[0].Number != nums[1] {
		t.Fatalf("changed since: %+v %v", got, err)
	}
	got, err = s.ChangedSince(ctx, "gr-net", testNow.Add(-time.Second))
	if err != nil || len(got) != 2 || got[1].Number != nums[1] {
		t.Fatalf("changed since before: %+v %v", got, err)
	}
	got, err = s.ChangedSince(ctx, "", testNow.Add(-time.Second))
	if err != nil || len(got) != 3 {
		t.Fatalf("changed since, all partners: %+v %v", got, err)
	}
	got, err = s.ByStatus(ctx, rma.StatusAwaitingGoods)
	if err != nil || len(got) != 2 || got[0].Number != nums[0] || got[1].Number != nums[2] {
		t.Fatalf("by status: %+v %v", got, err)
	}
	ps, err := s.Partners(ctx)
	if err != nil || strings.Join(ps, ",") != "gr-net,ro-shop" {
		t.Fatalf("partners %v %v", ps, err)
	}
}

func TestMarkersCursorRememberResponse(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	first, err := s.Once(ctx, "reply:abc", time.Minute)
	if err != nil || !first {
		t.Fatalf("first once: %v %v", first, err)
	}
	again, err := s.Once(ctx, "reply:abc", time.Minute)
	if err != nil || again {
		t.Fatalf("second once: %v %v", again, err)
	}
	if ok, _ := s.Once(ctx, "short", 50*time.Millisecond); !ok {
		t.Fatal("short once")
	}
	time.Sleep(120 * time.Millisecond)
	if ok, _ := s.Once(ctx, "short", 50*time.Millisecond); !ok {
		t.Fatal("once did not expire")
	}

	if m, err := s.Marked(ctx, "reply:abc"); err != nil || !m {
		t.Fatalf("Once's key not marked: %v %v", m, err)
	}
	if m, _ := s.Marked(ctx, "sent:<x@rmad>"); m {
		t.Fatal("marked before Mark")
	}
	if err := s.Mark(ctx, "sent:<x@rmad>", time.Minute); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Marked(ctx, "sent:<x@rmad>"); !m {
		t.Fatal("not marked after Mark")
	}
	if ok, _ := s.Once(ctx, "sent:<x@rmad>", time.Minute); ok {
		t.Fatal("Once ignored Mark's marker")
	}

	v, u, err := s.Cursor(ctx, "partners")
	if err != nil || v != 0 || u != 0 {
		t.Fatalf("fresh cursor %d %d %v", v, u, err)
	}
	if err := s.SetCursor(ctx, "partners", 4294967295, 1234); err != nil {
		t.Fatal(err)
	}
	v, u, err = s.Cursor(ctx, "partners")
	if err != nil || v != 4294967295 || u != 1234 {
		t.Fatalf("cursor %d %d %v", v, u, err)
	}

	st, body, seen, err := s.RememberResponse(ctx, "wh:dji:1", 202, []byte("{\"ok\":true}\nmore"), time.Minute)
	if err != nil || seen || st != 0 || body != nil {
		t.Fatalf("first response: %d %q %v %v", st, body, seen, err)
	}
	st, body, seen, err = s.RememberResponse(ctx, "wh:dji:1", 500, []byte("other"), time.Minute)
	if err != nil || !seen || st != 202 || string(body) != "{\"ok\":true}\nmore" {
		t.Fatalf("replayed response: %d %q %v %v", st, body, seen, err)
	}

}

func TestPeekResponse(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	st, body, seen, err := s.PeekResponse(ctx, "wh:dji:2")
	if err != nil || seen || st != 0 || body != nil {
		t.Fatalf("peek before any response: %d %q %v %v", st, body, seen, err)
	}
	// A peek stores nothing: the first RememberResponse still stores its response.
	if _, _, seen, err := s.RememberResponse(ctx, "wh:dji:2", 202, []byte("{\"ok\":true}\nmore"), time.Minute); err != nil || seen {
		t.Fatalf("remember after a peek: seen %v, %v", seen, err)
	}
	for range 2 { // a peek changes nothing either
		st, body, seen, err = s.PeekResponse(ctx, "wh:dji:2")
		if err != nil || !seen || st != 202 || string(body) != "{\"ok\":true}\nmore" {
			t.Fatalf("peek: %d %q %v %v", st, body, seen, err)
		}
	}
	if _, _, _, err := s.RememberResponse(ctx, "wh:dji:3", 200, nil, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, _, seen, err := s.PeekResponse(ctx, "wh:dji:3"); err != nil || seen {
		t.Fatalf("peek after expiry: seen %v, %v", seen, err)
	}
	if err := s.c.Set(ctx, s.k.response("wh:dji:4"), "no status", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.PeekResponse(ctx, "wh:dji:4"); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("malformed value: %v", err)
	}
}

func TestLeases(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	a := NewLeases(s.c, s.k.prefix, "instance-a")
	b := NewLeases(s.c, s.k.prefix, "instance-b")
	// Generous ttl: the machine is shared and the race detector slows renewals down.
	la, ok, err := a.TryAcquire(ctx, "imap:partners", 900*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	if _, ok, err := b.TryAcquire(ctx, "imap:partners", time.Second); err != nil || ok {
		t.Fatalf("second instance got a held lease: %v %v", ok, err)
	}
	// Renewal keeps it well past its ttl.
	time.Sleep(2 * time.Second)
	select {
	case <-la.Lost():
		t.Fatal("lease lost while renewed")
	default:
	}
	if h, _ := b.Holder(ctx, "imap:partners"); !strings.HasPrefix(h, "instance-a/") {
		t.Fatalf("holder %q", h)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	lb, ok, err := b.TryAcquire(ctx, "imap:partners", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("acquire after release: %v %v", ok, err)
	}
	// Someone else takes the key (e.g. it expired during a Redis stall): loss is detected.
	if err := s.c.Set(ctx, s.k.lease("imap:partners"), "intruder", 0).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lb.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("lost lease not detected")
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.c.Get(ctx, s.k.lease("imap:partners")).Result(); v != "intruder" {
		t.Fatalf("release deleted someone else's lease: %q", v)
	}
	if _, _, err := a.TryAcquire(ctx, "x", time.Millisecond); err == nil {
		t.Fatal("tiny ttl accepted")
	}
}

// Loss is also detected when Redis stops answering for longer than the lease could live.
func TestLeaseLostWhenRedisGone(t *testing.T) {
	r := testenv.StartRedis(t, "--appendonly", "yes")
	c := redisClient(t, r.Addr)
	l := NewLeases(c, "t:", "me")
	le, ok, err := l.TryAcquire(context.Background(), "cron", 300*time.Millisecond)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	r.Stop()
	select {
	case <-le.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("lease not reported lost with Redis down")
	}
	_ = le.Release(context.Background()) // Redis is gone: an error is expected, not a hang
}

// ContentKeyedSince keeps the first call's time; KeyedBefore finds a submission outcome under
// a mail's earlier key (Message-ID and raw SHA-256) and nothing for a mail never handled.
func TestContentKeyedSinceAndKeyedBefore(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, now := range []time.Time{t0, t0.Add(100 * 24 * time.Hour)} {
		if since, err := s.ContentKeyedSince(ctx, now); err != nil || !since.Equal(t0) {
			t.Fatalf("ContentKeyedSince(%s) = %s, %v; want %s", now, since, err, t0)
		}
	}
	sub := rma.Submission{PartnerID: "P-1", From: "a@p.example", Source: rma.Source{Channel: "mail", MessageID: "m1@p.example",
		RawSHA256: strings.Repeat("a", 64), ContentSHA256: strings.Repeat("b", 64)},
		Items: []rma.Item{{Line: 1, EAN: "5204001000013", Serial: "S-1"}}}
	if old, err := s.KeyedBefore(ctx, sub, nil); err != nil || old {
		t.Fatalf("a mail never handled: KeyedBefore %v, %v", old, err)
	}
	d := rma.Decision{Line: 1, Item: sub.Items[0], Result: rma.ResultRejected}
	if _, err := s.Commit(ctx, OldKeyed(sub), []rma.Decision{d}, t0); err != nil {
		t.Fatal(err)
	}
	if old, err := s.KeyedBefore(ctx, sub, nil); err != nil || !old {
		t.Errorf("committed under the earlier key: KeyedBefore %v, %v", old, err)
	}
	if _, err := s.Commit(ctx, sub, []rma.Decision{d}, t0); err != nil {
		t.Fatal(err)
	}
	other := sub
	other.Source.MessageID = "m2@p.example"
	if old, err := s.KeyedBefore(ctx, other, nil); err != nil || old {
		t.Errorf("another mail: KeyedBefore %v, %v", old, err)
	}
}

// OldKeysUntil: a store that held no partner's data when a content-keyed version first served
// it is never checked for old keys (and stays so once data comes); a store that held some is
// checked for SubmissionTTL. A key prefix with glob characters matches only its own keys.
func TestOldKeysUntil(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	base := testPrefix(t)
	sub := rma.Submission{PartnerID: "P-1", From: "a@p.example", Source: rma.Source{Channel: "mail", MessageID: "m1@p.example",
		RawSHA256: strings.Repeat("a", 64), ContentSHA256: strings.Repeat("b", 64)},
		Items: []rma.Item{{Line: 1, EAN: "5204001000013", Serial: "S-1"}}}
	d := rma.Decision{Line: 1, Item: sub.Items[0], Result: rma.ResultRejected}

	// A neighbour whose keys the glob-looking prefix below would match unquoted.
	older := New(c, base+"globX:")
	if _, err := older.Commit(ctx, OldKeyed(sub), []rma.Decision{d}, t0); err != nil {
		t.Fatal(err)
	}
	fresh := New(c, base+"glob?:")
	for _, now := range []time.Time{t0, t0.Add(time.Hour)} {
		if until, err := fresh.OldKeysUntil(ctx, now); err != nil || !until.Equal(t0) {
			t.Fatalf("fresh store: OldKeysUntil(%s) = %s, %v; want %s", now, until, err, t0)
		}
		if _, err := fresh.Commit(ctx, sub, []rma.Decision{d}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if until, err := older.OldKeysUntil(ctx, t0); err != nil || !until.Equal(t0.Add(SubmissionTTL)) {
		t.Errorf("store with data: OldKeysUntil = %s, %v; want %s", until, err, t0.Add(SubmissionTTL))
	}
}
