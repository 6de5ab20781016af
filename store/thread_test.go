package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// One of rmad's mails, indexed with its reference token, is one thread entry (under the token),
// found by its Message-ID, by the token and by the earlier form that kept both entries.
func TestThreadIndexKeepsOwnMailsUnderTheirToken(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	reply := "<reply.0123456789abcdef@rmad.example>"
	if err := s.IndexThread(ctx, "nova-it", []string{"RMA/3/SR/2026"}, "partner-mail@nova-it.ro", reply, rma.RefToken(reply)); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]int64{
		s.k.thread("nova-it", "partner-mail@nova-it.ro"): 1,
		s.k.thread("nova-it", rma.RefToken(reply)):       1,
		s.k.thread("nova-it", reply):                     0,
	} {
		if n := s.c.Exists(ctx, k).Val(); n != want {
			t.Errorf("%s: exists %d, want %d", k, n, want)
		}
	}
	for _, ids := range [][]string{{reply}, {"reply.0123456789ABCDEF@rmad.example"}, {rma.RefToken(reply)},
		{"unknown@x", "partner-mail@nova-it.ro"}} {
		if nums, err := s.ThreadNumbers(ctx, "nova-it", ids); err != nil || !slices.Equal(nums, []string{"RMA/3/SR/2026"}) {
			t.Errorf("thread of %v: %v, %v", ids, nums, err)
		}
	}
	// A Message-ID without its token (a mail from outside, a re-send) keeps its own entry, and
	// an entry an earlier version wrote under one of rmad's Message-IDs is still found.
	s.c.HSet(ctx, s.k.threadHash("nova-it", "<answer.1@rmad.example>"), "RMA/4/SR/2026", "")
	if nums, err := s.ThreadNumbers(ctx, "nova-it", []string{"answer.1@rmad.example"}); err != nil || !slices.Equal(nums, []string{"RMA/4/SR/2026"}) {
		t.Errorf("thread of an earlier entry: %v, %v", nums, err)
	}
	// Indexing again adds to an entry (of either form) and renews it; a retry adds nothing.
	for range 2 {
		if err := s.IndexThread(ctx, "nova-it", []string{"RMA/12/SR/2026", "RMA/3/SR/2026"}, "partner-mail@nova-it.ro", "answer.1@rmad.example"); err != nil {
			t.Fatal(err)
		}
	}
	if v := s.c.Get(ctx, s.k.thread("nova-it", "partner-mail@nova-it.ro")).Val(); v != "2026:3 2026:12" {
		t.Errorf("entry after adding: %q", v)
	}
	if ttl := s.c.TTL(ctx, s.k.thread("nova-it", "partner-mail@nova-it.ro")).Val(); ttl < ThreadTTL-time.Minute {
		t.Errorf("entry's expiry %v after adding", ttl)
	}
	nums, err := s.ThreadNumbers(ctx, "nova-it", []string{"answer.1@rmad.example", "partner-mail@nova-it.ro"})
	if err != nil || !slices.Equal(nums, []string{"RMA/3/SR/2026", "RMA/4/SR/2026", "RMA/12/SR/2026"}) {
		t.Errorf("thread after adding: %v, %v", nums, err)
	}
	if nums, err := s.ThreadNumbers(ctx, "other", []string{reply}); err != nil || len(nums) != 0 {
		t.Errorf("another partner's look-up: %v, %v", nums, err)
	}
}
