package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
)

func keptTestMail(id string, at time.Time) KeptMail {
	raw := []byte("Subject: " + id + "\r\nMessage-Id: <" + id + ">\r\n\r\n" + strings.Repeat("body of "+id+"\r\n", 20))
	return KeptMail{ID: id, Kind: strings.SplitN(id, ".", 2)[0], Subject: "Re: " + id, Date: at, From: "rma@distributor.example",
		To: []string{"p@partner.example"}, Raw: raw, Locale: "el"}
}

// keptIDsOf lists the Message-IDs KeptMails returns for partner's RMA number.
func keptIDsOf(t *testing.T, s *Store, partner, number string) []string {
	t.Helper()
	ms, err := s.KeptMails(t.Context(), partner, number)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// Each RMA keeps its newest KeptPerRMA partner mails in the order rmad kept them (also under a
// clock that stands still: the dates are equal here), one copy of a mail for all its RMAs; a
// retry keeps the mail's place; a mail no longer among an RMA's newest is ErrNoReply for it.
func TestKeepMail(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner = "P-GR-001"
	a, b := "RMA/1/SR/2026", "RMA/2/SR/2026"
	if ms, err := s.KeptMails(ctx, partner, a); err != nil || len(ms) != 0 {
		t.Fatalf("nothing kept yet: %v %v", ms, err)
	}
	if _, err := s.KeptMail(ctx, partner, a, "reply.1@d"); !errors.Is(err, ErrNoReply) {
		t.Fatalf("nothing kept yet: %v", err)
	}
	reply := keptTestMail("reply.1@d", testNow)
	reply.LabelsAt = []int{40, 90}
	if err := s.KeepMail(ctx, partner, []string{a, b}, reply); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepMail(ctx, partner, []string{a}, keptTestMail("followup.2@d", testNow)); err != nil {
		t.Fatal(err)
	}
	// The reply again (a retry of its submission): still older than the answer.
	if err := s.KeepMail(ctx, partner, []string{a, b}, reply); err != nil {
		t.Fatal(err)
	}
	ids := func(number string) []string { t.Helper(); return keptIDsOf(t, s, partner, number) }
	if got := ids(a); !slices.Equal(got, []string{"followup.2@d", "reply.1@d"}) {
		t.Fatalf("%s keeps %v", a, got)
	}
	if got := ids(b); !slices.Equal(got, []string{"reply.1@d"}) {
		t.Fatalf("%s keeps %v", b, got)
	}
	got, err := s.KeptMail(ctx, partner, b, "reply.1@d")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, reply.Raw) || got.Kind != "reply" || got.Subject != "Re: reply.1@d" || !got.Date.Equal(testNow) ||
		!slices.Equal(got.LabelsAt, []int{40, 90}) || got.Locale != "el" || !slices.Equal(got.Numbers, []string{a, b}) || !slices.Equal(got.To, reply.To) || got.From != reply.From {
		t.Fatalf("read back %+v", got)
	}
	if _, err := s.KeptMail(ctx, partner, b, "followup.2@d"); !errors.Is(err, ErrNoReply) {
		t.Fatalf("another RMA's mail: %v", err)
	}
	if _, err := s.KeptMail(ctx, "P-RO-002", a, "reply.1@d"); !errors.Is(err, ErrNoReply) {
		t.Fatalf("another partner's: %v", err)
	}
	for i := 3; i <= 6; i++ {
		if err := s.KeepMail(ctx, partner, []string{a}, keptTestMail(fmt.Sprintf("status.%d@d", i), testNow)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(a); !slices.Equal(got, []string{"status.6@d", "status.5@d", "status.4@d"}) {
		t.Fatalf("after four more %s keeps %v", a, got)
	}
	if _, err := s.KeptMail(ctx, partner, a, "reply.1@d"); !errors.Is(err, ErrNoReply) {
		t.Fatalf("no longer among the newest: %v", err)
	}
	if got := ids(b); !slices.Equal(got, []string{"reply.1@d"}) {
		t.Fatalf("%s still keeps %v", b, got)
	}

	// The retention: the default, or the mail's own.
	ttl := s.c.PTTL(ctx, s.k.keptMails(partner, b)).Val()
	if ttl <= DefaultReplyRetention-time.Minute || ttl > DefaultReplyRetention {
		t.Errorf("default retention: %s", ttl)
	}
	short := keptTestMail("remind.9@d", testNow)
	short.Retention = 36 * time.Hour
	if err := s.KeepMail(ctx, partner, []string{"RMA/3/SR/2026"}, short); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepMail(ctx, partner, []string{"RMA/4/SR/2026", "RMA/5/SR/2026"}, short); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{s.k.keptMails(partner, "RMA/3/SR/2026"), s.k.keptMail(partner, short.ID), s.k.keptMails(partner, "RMA/5/SR/2026")} {
		if ttl := s.c.PTTL(ctx, key).Val(); ttl <= 35*time.Hour || ttl > 36*time.Hour {
			t.Errorf("%s: retention %s, want 36h", key, ttl)
		}
	}
	// An expired copy is left out, not an error.
	s.c.Del(ctx, s.k.keptMail(partner, short.ID))
	if ms, err := s.KeptMails(ctx, partner, "RMA/5/SR/2026"); err != nil || len(ms) != 0 {
		t.Fatalf("expired copy: %v %v", ms, err)
	}
	if err := s.KeepMail(ctx, partner, nil, short); err != nil {
		t.Fatalf("about no RMA: %v", err)
	}
}

// A mail about more RMAs than one script lists goes out in chunks, by itself and in a pipeline:
// every RMA lists it and reads it back whole; the mail's copy is written once.
func TestKeepMailManyRMAs(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner = "P-RO-002"
	numbers := make([]string, 2*keptChunk+7)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("RMA/%d/SR/2026", i+1)
	}
	direct := keptTestMail("reply.many@d", testNow)
	if err := s.KeepMail(ctx, partner, numbers, direct); err != nil {
		t.Fatal(err)
	}
	piped := keptTestMail("status.many@d", testNow)
	pipe := s.c.Pipeline()
	result := s.KeepMailIn(ctx, pipe, partner, numbers, piped)
	if pipe.Len() != 3 {
		t.Fatalf("%d script calls in the pipeline, want 3", pipe.Len())
	}
	_, _ = pipe.Exec(ctx)
	if err := result(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{numbers[0], numbers[keptChunk], numbers[len(numbers)-1]} {
		for _, want := range []KeptMail{direct, piped} {
			m, err := s.KeptMail(ctx, partner, n, want.ID)
			if err != nil || !bytes.Equal(m.Raw, want.Raw) || len(m.Numbers) != len(numbers) {
				t.Fatalf("%s: %s read back %d bytes about %d RMAs, %v", n, want.ID, len(m.Raw), len(m.Numbers), err)
			}
		}
	}
}

// A mail kept with a dictionary reads back as it was (in a pipeline too), also by a store of
// a process that never made the dictionary (it comes from Redis, once), takes a fraction of
// the copy without one, and a copy whose dictionary is gone is an error that says so.
func TestKeptMailDictionary(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner = "P-GR-001"
	sample := keptTestMail("reply.sample@d", testNow)
	sample.Raw = append(sample.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 10)...)
	d, err := NewMailDictionary([]KeptMail{sample})
	if err != nil {
		t.Fatal(err)
	}
	with := keptTestMail("reply.1@d", testNow)
	with.Raw = append(with.Raw, strings.Repeat("Γεια σας, λάβαμε το αίτημα RMA σας.\r\n", 10)...)
	without := with
	without.ID = "reply.2@d"
	with.Dictionary = d
	piped := with
	piped.ID = "reply.3@d"
	if err := s.KeepMail(ctx, partner, []string{"RMA/1/SR/2026"}, with); err != nil {
		t.Fatal(err)
	}
	pipe := s.c.Pipeline()
	result := s.KeepMailIn(ctx, pipe, partner, []string{"RMA/2/SR/2026"}, piped)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := result(); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepMail(ctx, partner, []string{"RMA/3/SR/2026"}, without); err != nil {
		t.Fatal(err)
	}
	size := func(number string) int {
		v, err := s.c.Get(ctx, s.k.keptMails(partner, number)).Bytes()
		if err != nil || !bytes.HasPrefix(v, []byte(keptInline)) {
			t.Fatalf("%s: %q, %v", number, v, err)
		}
		return len(v) - bytes.IndexByte(v, '\n') - 1 // the copy after the list's line
	}
	if a, b := size("RMA/1/SR/2026"), size("RMA/3/SR/2026"); a*3 > b {
		t.Errorf("with the dictionary %d B, without %d B", a, b)
	}

	mailDicts.Delete(d.ID()) // as in another process
	other := New(s.c, s.k.prefix)
	for n, want := range map[string]KeptMail{"RMA/1/SR/2026": with, "RMA/2/SR/2026": piped, "RMA/3/SR/2026": without} {
		got, err := other.KeptMail(ctx, partner, n, want.ID)
		if err != nil || !bytes.Equal(got.Raw, want.Raw) || got.Subject != want.Subject || got.Locale != "el" {
			t.Errorf("%s read back: %q, %v", want.ID, got.Raw, err)
		}
	}

	mailDicts.Delete(d.ID())
	if err := s.c.Del(ctx, s.k.mailDict(d.ID())).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(s.c, s.k.prefix).KeptMails(ctx, partner, "RMA/1/SR/2026"); err == nil || !strings.Contains(err.Error(), "dictionary "+d.ID()) {
		t.Errorf("dictionary gone: %v", err)
	}

	// The store that packs with it writes it again once mailDictResave has passed (here: made
	// to have passed), and the copies packed before read again.
	s.savedDicts.Store(d.ID(), time.Now().Add(-mailDictResave))
	again := with
	again.ID = "reply.4@d"
	if err := s.KeepMail(ctx, partner, []string{"RMA/4/SR/2026"}, again); err != nil {
		t.Fatal(err)
	}
	mailDicts.Delete(d.ID())
	if got, err := New(s.c, s.k.prefix).KeptMail(ctx, partner, "RMA/1/SR/2026", with.ID); err != nil || !bytes.Equal(got.Raw, with.Raw) {
		t.Errorf("after the dictionary was written again: %q, %v", got.Raw, err)
	}
}

// A Redis that does not hold the keep script (just started, a failover, SCRIPT FLUSH) answers
// the pipeline's EVALSHA with NOSCRIPT: the mail is kept all the same, and the next pipeline's
// EVALSHA finds the script.
func TestKeepMailInWithoutTheScriptLoaded(t *testing.T) {
	ctx := t.Context()
	r := testenv.StartRedis(t, "--appendonly", "no")
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	s := New(c, testPrefix(t))
	const partner, number = "P-GR-001", "RMA/7/SR/2026"
	for i, id := range []string{"reply.1@d", "status.2@d"} {
		pipe := c.Pipeline()
		result := s.KeepMailIn(ctx, pipe, partner, []string{number, "RMA/8/SR/2026"}, keptTestMail(id, testNow))
		cmds, _ := pipe.Exec(ctx)
		noscript := cmds[0].Err() != nil && redis.HasErrorPrefix(cmds[0].Err(), "NOSCRIPT")
		if noscript != (i == 0) {
			t.Fatalf("keep %d: pipeline answered %v", i, cmds[0].Err())
		}
		if err := result(); err != nil {
			t.Fatalf("keep %d: %v", i, err)
		}
	}
	ms, err := s.KeptMails(ctx, partner, number)
	if err != nil || len(ms) != 2 || ms[0].ID != "status.2@d" || ms[1].ID != "reply.1@d" {
		t.Fatalf("kept %+v %v", ms, err)
	}
}

// An RMA's list in the sorted set of earlier versions is read as it is, and the next mail kept
// goes first on it, the list then a string with the newest KeptPerRMA.
func TestKeptMailsOfEarlierVersions(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner, number = "P-FR-003", "RMA/9/SR/2026"
	key := s.k.keptMails(partner, number)
	base := testNow.UnixMilli()
	for i, id := range []string{"reply.1@d", "followup.2@d", "status.3@d"} {
		if err := s.KeepMail(ctx, partner, []string{"RMA/other/SR/2026"}, keptTestMail(id, testNow)); err != nil {
			t.Fatal(err)
		}
		if err := s.c.ZAdd(ctx, key, redis.Z{Score: float64(base + int64(i)), Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string { t.Helper(); return keptIDsOf(t, s, partner, number) }
	if got := ids(); !slices.Equal(got, []string{"status.3@d", "followup.2@d", "reply.1@d"}) {
		t.Fatalf("earlier version's list reads %v", got)
	}
	if err := s.KeepMail(ctx, partner, []string{number}, keptTestMail("remind.4@d", testNow)); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !slices.Equal(got, []string{"remind.4@d", "status.3@d", "followup.2@d"}) {
		t.Fatalf("after a new mail %v", got)
	}
	if typ := s.c.Type(ctx, key).Val(); typ != "string" {
		t.Fatalf("list is a %s now", typ)
	}
}

// A mail about one RMA that has none kept yet (nearly every reply) is kept with one SET NX, its
// copy inside the RMA's list (no mail key, no script); it reads back whole, by another store
// too. A retry keeps it with its expiry renewed; a later mail, by itself or about more RMAs,
// moves the copy to its own key with the time it had left and goes first.
func TestKeepMailInline(t *testing.T) {
	ctx := t.Context()
	s := newTestStore(t)
	const partner, number, other = "P-RO-002", "RMA/21/SR/2026", "RMA/22/SR/2026"
	list := s.k.keptMails(partner, number)
	reply := keptTestMail("reply.21@d", testNow)
	reply.LabelsAt = []int{12}
	pipe := s.c.Pipeline()
	result := s.KeepMailIn(ctx, pipe, partner, []string{number}, reply)
	if pipe.Len() != 1 {
		t.Fatalf("%d commands in the pipeline, want 1", pipe.Len())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := result(); err != nil {
		t.Fatal(err)
	}
	if v := s.c.Get(ctx, list).Val(); !strings.HasPrefix(v, keptInline) || !strings.Contains(v, " reply.21@d\n") {
		t.Fatalf("list holds %q", v)
	}
	if n := s.c.Exists(ctx, s.k.keptMail(partner, reply.ID)).Val(); n != 0 {
		t.Fatal("a mail key besides the inline copy")
	}
	readBack := func(st *Store, number string, want ...KeptMail) {
		t.Helper()
		ms, err := st.KeptMails(ctx, partner, number)
		if err != nil || len(ms) != len(want) {
			t.Fatalf("%s: %d mails, want %d: %v", number, len(ms), len(want), err)
		}
		for i, m := range ms {
			if m.ID != want[i].ID || !bytes.Equal(m.Raw, want[i].Raw) || m.Subject != want[i].Subject || !slices.Equal(m.LabelsAt, want[i].LabelsAt) {
				t.Fatalf("%s: mail %d read back %+v, want %s", number, i, m, want[i].ID)
			}
		}
	}
	readBack(New(s.c, s.k.prefix), number, reply)

	// A retry: the same mail, its expiry renewed.
	s.c.PExpire(ctx, list, time.Hour)
	if err := s.KeepMail(ctx, partner, []string{number}, reply); err != nil {
		t.Fatal(err)
	}
	readBack(s, number, reply)
	if ttl := s.c.PTTL(ctx, list).Val(); ttl <= DefaultReplyRetention-time.Minute {
		t.Fatalf("retry left the list %s", ttl)
	}

	// Another RMA's inline mail, then a later mail about both in a pipeline: each earlier copy
	// keeps the time its list had left.
	first := keptTestMail("reply.22@d", testNow)
	if err := s.KeepMail(ctx, partner, []string{other}, first); err != nil {
		t.Fatal(err)
	}
	s.c.PExpire(ctx, s.k.keptMails(partner, other), 5*time.Hour)
	status := keptTestMail("status.23@d", testNow)
	pipe = s.c.Pipeline()
	result = s.KeepMailIn(ctx, pipe, partner, []string{number, other}, status)
	_, _ = pipe.Exec(ctx)
	if err := result(); err != nil {
		t.Fatal(err)
	}
	readBack(s, number, status, reply)
	readBack(s, other, status, first)
	if ttl := s.c.PTTL(ctx, s.k.keptMail(partner, first.ID)).Val(); ttl <= 4*time.Hour || ttl > 5*time.Hour {
		t.Fatalf("the moved copy of %s: %s left, want under 5h", first.ID, ttl)
	}

	// A later mail about the first RMA alone: the script, and the newest first.
	answer := keptTestMail("followup.24@d", testNow)
	if err := s.KeepMail(ctx, partner, []string{other}, answer); err != nil {
		t.Fatal(err)
	}
	readBack(s, other, answer, status, first)
}
