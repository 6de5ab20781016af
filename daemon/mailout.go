package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/store"
)

// newOutboxQueue is the outbox stream. An SMTP outage must delay replies, not dead-letter them:
// transient failures are retried 60 times, the backoff doubling from 1 s up to 15 min (with
// jitter), so for about 9½ hours (6¼ to 12½) before the entry becomes a dead letter and a
// person has to look. A relay that cannot be reached, or fails a message the relay's way (421,
// a dropped connection, no answer: outbound.IsRelayDown), is no attempt at all: the couriers
// wait for ready (the Sender's relay probe) and then send everything that waits.
func newOutboxQueue(rdb redis.UniversalClient, prefix, consumer string, grace time.Duration, ready func(context.Context), qlog zerolog.Logger) *queue.Queue {
	return queue.New(rdb, prefix, queue.Options{Stream: "outbox", Group: "couriers", Consumer: consumer,
		Concurrency: 4, ReadAhead: 4, MaxAttempts: 60, MaxBackoff: 15 * time.Minute, ShutdownGrace: grace, Ready: ready,
		Log: qlog.With().Str("queue", "outbox").Logger()})
}

func newCourier(cfg *config.Config, st *store.Store, m *metrics.Metrics, now func() time.Time, log zerolog.Logger) *courier {
	log = log.With().Str("component", "smtp").Logger()
	return &courier{smtp: outbound.NewSender(cfg.SMTP, log), store: st, metrics: m, now: now, log: log}
}

// enqueue puts msgs on the outbox stream for the couriers, as one entry: one XADD, and one
// entry for a courier to read and acknowledge, whether a reply goes alone or with its staff
// copy and forwards. enqueued is when their trigger arrived (for the first message's latency).
func enqueue(ctx context.Context, q *queue.Queue, enqueued string, msgs ...outbound.Message) error {
	return enqueueWith(ctx, q, nil, enqueued, msgs...)
}

// enqueueWith is enqueue with first's commands ahead of the entry in the same round trip (nil:
// none); first returns what says, once the pipeline ran, whether they did their part, and
// their failure fails the enqueue.
func enqueueWith(ctx context.Context, q *queue.Queue, first func(redis.Pipeliner) (result func() error), enqueued string, msgs ...outbound.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	b, err := encodeOutboxJob(outboxJob{Messages: msgs, Enqueued: enqueued})
	if err != nil {
		return fmt.Errorf("outbox %s: encode: %w", msgs[0].ID, err)
	}
	pipe := q.Pipeline()
	before := func() error { return nil }
	if first != nil {
		before = first(pipe)
	}
	add := q.AddIn(ctx, pipe, b, map[string]string{"message_id": msgs[0].ID})
	_, _ = pipe.Exec(ctx)
	if err := before(); err != nil {
		return fmt.Errorf("outbox %s: %w", msgs[0].ID, err)
	}
	if _, err := add(); err != nil {
		return fmt.Errorf("outbox %s: %w", msgs[0].ID, err)
	}
	return nil
}

// Outbox is the daemon's outbox for a command that runs without a daemon (`rmad run-job`): Put
// queues a mail for the running instances' couriers, Deliver sends it over SMTP at once the way
// a courier does, with its sent marker, so that a copy also queued is not sent again.
type Outbox struct {
	queue   *queue.Queue
	courier *courier
}

// NewOutbox opens the outbox of cfg's Redis on rdb.
func NewOutbox(rdb redis.UniversalClient, cfg *config.Config, log zerolog.Logger) *Outbox {
	st := store.New(rdb, cfg.Redis.KeyPrefix)
	return &Outbox{
		queue:   newOutboxQueue(rdb, cfg.Redis.KeyPrefix, consumerName(), 0, nil, log.With().Str("component", "queue").Logger()),
		courier: newCourier(cfg, st, nil, time.Now, log),
	}
}

// Put queues msg on the outbox stream.
func (o *Outbox) Put(ctx context.Context, msg outbound.Message) error {
	return enqueue(ctx, o.queue, "", msg)
}

// Deliver sends msg over SMTP now, once per Message-ID.
func (o *Outbox) Deliver(ctx context.Context, msg outbound.Message) error {
	b, err := encodeOutboxJob(outboxJob{Messages: []outbound.Message{msg}})
	if err != nil {
		return fmt.Errorf("deliver %s: %w", msg.ID, err)
	}
	return o.courier.handle(ctx, queue.Message{ID: "run-job", Payload: b})
}

// Close ends the SMTP sessions Deliver left open for the next mail.
func (o *Outbox) Close() { o.courier.smtp.Close() }

// enqueueKept is enqueueWith, and then msgs[0], a partner mail about numbers, kept for the
// console's re-send (Composer.Keep: without its labels' bytes). The mail is kept after its
// outbox entry is written, in a round trip of its own, so that neither making the kept copy
// nor writing it delays the reply; when keeping fails, so does the step, which comes again
// (the entry is then added again, and its mails, delivered once per Message-ID, are not sent
// twice). Until it is kept the console cannot send the mail again, which it asks for only
// once the mail is out.
func enqueueKept(ctx context.Context, q *queue.Queue, st *store.Store, c *outbound.Composer, partner string, numbers []string,
	first func(redis.Pipeliner) (result func() error), enqueued string, msgs ...outbound.Message) error {
	if err := enqueueWith(ctx, q, first, enqueued, msgs...); err != nil {
		return err
	}
	kept, err := c.Keep(msgs[0])
	if err != nil {
		return err
	}
	return st.KeepMail(ctx, partner, numbers, kept)
}

// indexThread is a first for enqueueWith: the thread index of the mails ids, about numbers, in
// the entry's round trip (store.IndexThreadIn), so the thread is known before any of them leaves.
func indexThread(ctx context.Context, st *store.Store, partner string, numbers []string, ids ...string) func(redis.Pipeliner) func() error {
	return func(pipe redis.Pipeliner) func() error {
		return st.IndexThreadIn(ctx, pipe, partner, numbers, ids...)
	}
}
