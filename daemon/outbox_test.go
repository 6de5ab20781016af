package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/store"
)

// The courier delivers an outbox entry once even when the entry comes back (a crash after SMTP
// accepted it, before the ack), keeps a failed delivery retryable, and dead-letters what it
// cannot decode (docs/contract.md §10: every reply at least once, a resend with the same Message-ID).
func TestCourierDeliversOncePerMessageID(t *testing.T) {
	c, st, smtp := newTestCourier(t)
	ctx := context.Background()

	job := func(id string) queue.Message { return outboxEntry(t, testMail(id, "service@alfa-computers.gr")) }

	first := job("reply.1@distributor.example")
	if err := c.handle(ctx, first); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Mails()); n != 1 {
		t.Fatalf("%d mails after the first delivery, want 1", n)
	}
	// The same entry again, as after a crash before the ack: not mailed a second time.
	if err := c.handle(ctx, first); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Mails()); n != 1 {
		t.Fatalf("%d mails after the entry came back, want still 1", n)
	}

	// A temporary SMTP failure is retryable (not permanent) and leaves no sent marker.
	second := job("reply.2@distributor.example")
	smtp.SetFailure(true)
	err := c.handle(ctx, second)
	if err == nil || errors.Is(err, queue.ErrPermanent) {
		t.Fatalf("delivery during an SMTP outage = %v; want a retryable error", err)
	}
	if sent, err := st.Delivered(ctx, "reply.2@distributor.example"); err != nil || sent {
		t.Fatalf("failed delivery marked as sent (%v, %v)", sent, err)
	}
	smtp.SetFailure(false)
	if err := c.handle(ctx, second); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Mails()); n != 2 {
		t.Fatalf("%d mails after the retry, want 2", n)
	}

	// An entry that cannot be decoded can never succeed: dead-letter it at once.
	if err := c.handle(ctx, queue.Message{ID: "2-0", Payload: []byte("{")}); !errors.Is(err, queue.ErrPermanent) {
		t.Fatalf("undecodable entry: %v; want a permanent error", err)
	}
}

// testMail is a small composed mail to one recipient.
func testMail(id, to string) outbound.Message {
	raw := "From: RMA <rma@distributor.example>\r\nTo: " + to + "\r\nSubject: Re: test\r\n" +
		"Message-Id: <" + id + ">\r\n\r\nbody of " + id + "\r\n"
	return outbound.Message{ID: id, From: "rma@distributor.example", To: []string{to}, Raw: []byte(raw)}
}

// outboxEntry is msgs as one outbox entry, the way enqueue writes it.
func outboxEntry(t *testing.T, msgs ...outbound.Message) queue.Message {
	t.Helper()
	b, err := encodeOutboxJob(outboxJob{Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	return queue.Message{ID: "1-0", Payload: b, Attempt: 1}
}

// outboxTestRedis is a client of the test Redis and a key prefix of the test's own.
func outboxTestRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return rdb, "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":"
}

// newTestCourier is a courier on a fresh key prefix of the test Redis, sending to a new sink.
func newTestCourier(t *testing.T) (*courier, *store.Store, *sandbox.SMTP) {
	t.Helper()
	rdb, prefix := outboxTestRedis(t)
	st := store.New(rdb, prefix)
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	sender := outbound.NewSender(config.SMTP{Address: sink.Addr, TLS: config.TLSNone, From: "rma@distributor.example"}, zerolog.Nop())
	sender.Timeout = 10 * time.Second
	sender.LocalName = "rmad.test"
	t.Cleanup(sender.Close)
	return &courier{smtp: sender, store: st, now: time.Now, log: zerolog.Nop()}, st, sink
}

// sentTo counts the sink's mails per first recipient.
func sentTo(sink *sandbox.SMTP) map[string]int {
	n := map[string]int{}
	for _, m := range sink.Mails() {
		n[m.To[0]]++
	}
	return n
}

// A reply, its staff copy and a forward are one outbox entry. Each message keeps its own
// sent marker: the entry coming back after a crash between two sends (the first delivered and
// marked, the entry not acknowledged) sends only the rest; a message the relay refuses for
// good does not keep the others from going, and its entry coming back again (retried, or the
// dead letter put back) sends only it.
func TestCourierSendsEachMessageOfAnEntryOnce(t *testing.T) {
	c, st, sink := newTestCourier(t)
	ctx := context.Background()
	reply := testMail("reply.7@distributor.example", "service@alfa-computers.gr")
	staff := testMail("staff.7@distributor.example", "rma-desk@distributor.example")
	fwd := testMail("fwd.7@distributor.example", "claims@maker.example")

	// The state a crash between the first and the second send leaves: the reply sent and marked.
	claim, err := st.ClaimDelivery(ctx, reply.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := claim.Delivered(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	entry := outboxEntry(t, reply, staff, fwd)
	if err := c.handle(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if got := sentTo(sink); len(got) != 2 || got[staff.To[0]] != 1 || got[fwd.To[0]] != 1 {
		t.Fatalf("after the crash between two sends: %v; want the staff copy and the forward once each, the reply not again", got)
	}
	if err := c.handle(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.Mails()); n != 2 {
		t.Fatalf("%d mails after the entry came back once more, want still 2", n)
	}

	// The partner's mailbox refused for good: the others still go, and the entry fails for good.
	reply2 := testMail("reply.8@distributor.example", "gone@alfa-computers.gr")
	staff2 := testMail("staff.8@distributor.example", "rma-desk@distributor.example")
	sink.SetRefused("gone@alfa-computers.gr", true)
	entry = outboxEntry(t, reply2, staff2)
	err = c.handle(ctx, entry)
	if !errors.Is(err, queue.ErrPermanent) || !strings.Contains(err.Error(), reply2.ID) {
		t.Fatalf("entry with a refused reply: %v; want a permanent failure naming %s", err, reply2.ID)
	}
	if got := sentTo(sink); got[staff2.To[0]] != 2 {
		t.Fatalf("the staff copy of a refused reply was not sent: %v", got)
	}
	if sent, err := st.Delivered(ctx, reply2.ID); err != nil || sent {
		t.Fatalf("refused reply marked as sent (%v, %v)", sent, err)
	}
	// The dead letter put back once the address works: only the reply goes.
	sink.SetRefused("gone@alfa-computers.gr", false)
	if err := c.handle(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if got := sentTo(sink); got["gone@alfa-computers.gr"] != 1 || got[staff2.To[0]] != 2 {
		t.Fatalf("after the refused entry came back: %v; want the reply once, the staff copy not again", got)
	}

	// A refusal and a temporary failure in one entry: retried for the latter, not a dead letter.
	sink.SetFailure(true)
	err = c.handle(ctx, outboxEntry(t, testMail("reply.9@distributor.example", "gone@alfa-computers.gr"),
		testMail("staff.9@distributor.example", "rma-desk@distributor.example")))
	if err == nil || errors.Is(err, queue.ErrPermanent) {
		t.Fatalf("entry with a refused and a temporarily failing message: %v; want a retryable error", err)
	}
	sink.SetFailure(false)
}

// Outbox entries an earlier version queued (format 1: one message as JSON, its raw bytes
// base64) are still in the stream when this version starts: each is delivered, once, byte for
// byte, next to a new entry, and remembered as sent.
func TestOutboxDeliversEntriesOfEarlierVersions(t *testing.T) {
	t.Parallel()
	e := newSchEnv(t, schNever)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	old := queue.New(rdb, e.prefix, queue.Options{Stream: queue.Outbox})
	var want []outbound.Message
	for i := range 3 {
		m := testMail(fmt.Sprintf("reply.old-%d@distributor.example", i), "service@alfa-computers.gr")
		b, err := json.Marshal(legacyOutboxJob{Message: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Add(ctx, b, map[string]string{"message_id": m.ID}); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	d, logs := e.start("outbox-format-1", Options{})
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.Tail(16<<10))
		}
	}()
	m := testMail("reply.new@distributor.example", "service@alfa-computers.gr")
	if err := d.pipe.send(ctx, "", m); err != nil {
		t.Fatal(err)
	}
	want = append(want, m)
	testenv.Eventually(t, 30*time.Second, "outbox empty", func() bool { p, err := d.Pending(ctx); return err == nil && p == 0 })
	got := map[string]int{}
	for _, s := range e.smtp.Mails() {
		got[string(s.Data)]++
	}
	for _, w := range want {
		if got[string(w.Raw)] != 1 {
			t.Errorf("%s sent %d times, byte for byte; want once", w.ID, got[string(w.Raw)])
		}
	}
	if n := len(e.smtp.Mails()); n != len(want) {
		t.Errorf("%d mails sent, want %d", n, len(want))
	}
	// Each one's sent marker is written (the last message's goes with the entry's ack).
	st := store.New(rdb, e.prefix)
	for _, w := range want {
		if ok, err := st.Delivered(ctx, w.ID); err != nil || !ok {
			t.Errorf("%s: Delivered = %v, %v; want true", w.ID, ok, err)
		}
	}
	if dead, err := d.outbox.DeadLetterCount(ctx); err != nil || dead != 0 {
		t.Errorf("outbox dead letters: %d, %v; want none", dead, err)
	}
}

// A partner mail's outbox entry is written with its thread index, and the mail is kept for the
// console's re-send after it, small or large; all read back as written.
func TestEnqueueReplyKeepsTheReply(t *testing.T) {
	rdb, prefix := outboxTestRedis(t)
	st := store.New(rdb, prefix)
	q := queue.New(rdb, prefix, queue.Options{Stream: queue.Outbox})
	ctx := context.Background()
	for i, size := range []int{100, 2 << 20} {
		reply := testMail(fmt.Sprintf("reply.k%d@distributor.example", i), "service@alfa-computers.gr")
		reply.Raw = append(reply.Raw, bytes.Repeat([]byte("x"), size)...)
		staff := testMail(fmt.Sprintf("staff.k%d@distributor.example", i), "rma-desk@distributor.example")
		number := fmt.Sprintf("RMA/%d/SR/2026", i+1)
		index := indexThread(ctx, st, "P-GR-001", []string{number}, reply.ID, staff.ID)
		if err := enqueueKept(ctx, q, st, &outbound.Composer{}, "P-GR-001", []string{number}, index, "", reply, staff); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{reply.ID, staff.ID} {
			if nums, err := st.ThreadNumbers(ctx, "P-GR-001", []string{id}); err != nil || len(nums) != 1 || nums[0] != number {
				t.Fatalf("%d-byte reply: thread of %s = %v, %v; want %s", size, id, nums, err, number)
			}
		}
		got, err := st.KeptMail(ctx, "P-GR-001", number, reply.ID)
		if err != nil {
			t.Fatalf("%d-byte reply: %v", size, err)
		}
		if got.ID != reply.ID || !bytes.Equal(got.Raw, reply.Raw) || got.Subject != "Re: test" {
			t.Fatalf("%d-byte reply kept as %s %q", size, got.ID, got.Subject)
		}
	}
	xs, err := rdb.XRange(ctx, q.Key(), "-", "+").Result()
	if err != nil || len(xs) != 2 {
		t.Fatalf("%d outbox entries (%v), want 2", len(xs), err)
	}
	for _, x := range xs {
		p, _ := x.Values["payload"].(string)
		job, err := decodeOutboxJob([]byte(p))
		if err != nil || len(job.Messages) != 2 {
			t.Fatalf("entry %s: %d messages (%v), want the reply and its staff copy", x.ID, len(job.Messages), err)
		}
	}
}
