package console

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
)

// mailOut is the tests' outbox: a real Redis stream (the daemon's queue package) with one
// consumer that sends each mail over SMTP to a go-smtp sink, as the daemon's couriers do.
type mailOut struct {
	sink  *sandbox.SMTP
	queue *queue.Queue
}

// newMailOut starts the sink and the consumer; both stop with the test.
func newMailOut(t testing.TB, prefix string) *mailOut {
	t.Helper()
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rc.Close() })
	q := queue.New(rc, prefix, queue.Options{Stream: queue.Outbox, Group: "couriers", Consumer: "test", Block: 100 * time.Millisecond})
	sender := outbound.NewSender(config.SMTP{Address: sink.Addr, TLS: "none"}, zerolog.Nop())
	t.Cleanup(sender.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Run(ctx, func(ctx context.Context, m queue.Message) error {
			var msg outbound.Message
			if err := json.Unmarshal(m.Payload, &msg); err != nil {
				return err
			}
			return sender.Send(ctx, msg)
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &mailOut{sink: sink, queue: q}
}

// put queues a mail (the console's Config.Outbox and the estimate service's Put).
func (o *mailOut) put(ctx context.Context, m outbound.Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = o.queue.Add(ctx, b, map[string]string{"message_id": m.ID})
	return err
}

// wait returns the sink's mails once it has n.
func (o *mailOut) wait(t testing.TB, n int) []sandbox.Read {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "mails at the SMTP sink", func() bool { return o.sink.Count() >= n })
	rs, err := o.sink.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
