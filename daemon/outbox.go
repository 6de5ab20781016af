package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/store"
)

// sentWindow is how long a delivered Message-ID is remembered, so that a retried outbox entry
// (crash after SMTP accepted it, before the ack) or a second entry for the same reply (the same
// mail taken in twice) is not mailed twice.
const sentWindow = 30 * 24 * time.Hour

// courier is the outbox stage: it delivers composed messages over SMTP, at least once and
// normally exactly once per Message-ID. Each Message-ID is claimed before SMTP, so two couriers
// (here or in other instances) holding entries for one reply send it once.
type courier struct {
	smtp    *outbound.Sender
	store   *store.Store
	metrics *metrics.Metrics
	now     func() time.Time
	log     zerolog.Logger
}

// handle sends an outbox entry's messages in order, each once per Message-ID: a message
// delivered before (a crash after its send, before the entry's ack) is skipped, so the entry
// coming back resends none of them and still sends the rest. A message the relay refuses for
// good, or fails for its own sake, does not hold back the ones after it; the entry then fails
// (for good, a dead letter, when only refusals are left), and when it comes back (retried, or
// a dead letter put back) only the messages not yet delivered are sent. The relay itself
// failing (outbound.IsRelayDown) stops the entry there, uncounted (queue.ErrHold).
func (c *courier) handle(ctx context.Context, m queue.Message) error {
	job, err := decodeOutboxJob(m.Payload)
	if err != nil {
		return fmt.Errorf("outbox %s: undecodable job: %v: %w", m.ID, err, queue.ErrPermanent)
	}
	var refused, failed error
	var sent *sentMark
	for i, msg := range job.Messages {
		var err error
		sent, err = c.deliver(ctx, msg, sent)
		switch {
		case err == nil:
			if i == 0 && c.metrics != nil && job.Enqueued != "" {
				if ns, err := strconv.ParseInt(job.Enqueued, 10, 64); err == nil {
					c.metrics.ReplyLatency.Observe(c.now().Sub(time.Unix(0, ns)).Seconds())
				}
			}
		case errors.Is(err, queue.ErrHold) && !errors.Is(err, queue.ErrPermanent):
			c.record(ctx, sent)
			return err
		case errors.Is(err, queue.ErrPermanent):
			refused = errors.Join(refused, err)
		default:
			failed = errors.Join(failed, err)
		}
	}
	switch {
	case failed != nil:
		c.record(ctx, sent)
		return errors.Join(failed, unwrapPermanent(refused))
	case refused != nil:
		c.record(ctx, sent)
		return refused
	}
	// The last message's marker goes with the entry's acknowledgement.
	if sent != nil && !m.AckWith(func(ctx context.Context, pipe redis.Pipeliner) func() {
		result := sent.claim.DeliveredIn(ctx, pipe, sentWindow)
		return func() { c.recorded(sent, result()) }
	}) {
		c.record(ctx, sent)
	}
	return nil
}

// unwrapPermanent keeps err's text without its queue.ErrPermanent, so that an entry with a
// refused message and one still to retry is retried.
func unwrapPermanent(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// sentMark is a message sent whose sent marker is not written yet: it goes in the next round
// trip to Redis, before the next message is sent (so a crash after that never sends it again).
type sentMark struct {
	claim *store.DeliveryClaim
	id    string
}

// deliver sends one message unless it was delivered already: claimed by Message-ID first, so
// two couriers holding entries for one message send it once. prev, when not nil, is the
// message sent before it: its marker is written with this claim. It returns its own mark when it
// sent msg, for the caller to record.
func (c *courier) deliver(ctx context.Context, msg outbound.Message, prev *sentMark) (*sentMark, error) {
	var first func(redis.Pipeliner)
	var result func() error
	if prev != nil {
		first = func(pipe redis.Pipeliner) { result = prev.claim.DeliveredIn(ctx, pipe, sentWindow) }
	}
	claim, err := c.store.ClaimDeliveryWith(ctx, msg.ID, first)
	if prev != nil {
		c.recorded(prev, result())
	}
	if errors.Is(err, store.ErrDelivered) {
		c.log.Debug().Str("message_id", msg.ID).Msg("already delivered")
		return nil, nil
	}
	if err != nil { // ErrDelivering included: retried until the other courier's outcome is known
		return nil, fmt.Errorf("outbox %s: %w", msg.ID, err)
	}
	c.log.Debug().Str("message_id", msg.ID).Msg("claimed")
	if err := c.smtp.Send(ctx, msg); err != nil {
		claim.Release(ctx)
		if outbound.IsPermanent(err) {
			return nil, fmt.Errorf("outbox %s: %w: %w", msg.ID, err, queue.ErrPermanent)
		}
		if outbound.IsRelayDown(err) {
			// The relay's fault: the entry waits, uncounted, until the relay answers a probe.
			return nil, fmt.Errorf("outbox %s: %w: %w", msg.ID, err, queue.ErrHold)
		}
		return nil, fmt.Errorf("outbox %s: %w", msg.ID, err)
	}
	c.log.Info().Str("message_id", msg.ID).Strs("to", msg.To).Msg("mail sent")
	return &sentMark{claim: claim, id: msg.ID}, nil
}

// record writes sent's marker now (nil: nothing to write).
func (c *courier) record(ctx context.Context, sent *sentMark) {
	if sent != nil {
		c.recorded(sent, sent.claim.Delivered(ctx, sentWindow))
	}
}

// recorded logs a marker that could not be written.
func (c *courier) recorded(sent *sentMark, err error) {
	if err != nil {
		// Delivered but not remembered: a retry may send it again, with the same Message-ID.
		c.log.Warn().Err(err).Str("message_id", sent.id).Msg("delivered; could not record it")
	}
}
