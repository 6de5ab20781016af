package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	st := store.New(rdb, "t:"+t.Name()+":"+hex.EncodeToString(rnd[:])+":")
	smtp, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(smtp.Stop)
	sender := outbound.NewSender(config.SMTP{Address: smtp.Addr, TLS: config.TLSNone, From: "rma@distributor.example"}, zerolog.Nop())
	sender.Timeout = 10 * time.Second
	sender.LocalName = "rmad.test"
	c := &courier{smtp: sender, store: st, now: time.Now, log: zerolog.Nop()}
	ctx := context.Background()

	job := func(id string) queue.Message {
		raw := "From: RMA <rma@distributor.example>\r\nTo: service@alfa-computers.gr\r\nSubject: Re: test\r\n" +
			"Message-Id: <" + id + ">\r\n\r\nbody\r\n"
		b, err := json.Marshal(outboxJob{Message: outbound.Message{ID: id, From: "rma@distributor.example",
			To: []string{"service@alfa-computers.gr"}, Raw: []byte(raw)}})
		if err != nil {
			t.Fatal(err)
		}
		return queue.Message{ID: "1-0", Payload: b, Attempt: 1}
	}

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
	err = c.handle(ctx, second)
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
