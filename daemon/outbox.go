package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

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
	for i, msg := range job.Messages {
		err := c.deliver(ctx, msg)
		switch {
		case err == nil:
			if i == 0 && c.metrics != nil && job.Enqueued != "" {
				if ns, err := strconv.ParseInt(job.Enqueued, 10, 64); err == nil {
					c.metrics.ReplyLatency.Observe(c.now().Sub(time.Unix(0, ns)).Seconds())
				}
			}
		case errors.Is(err, queue.ErrHold) && !errors.Is(err, queue.ErrPermanent):
			return err
		case errors.Is(err, queue.ErrPermanent):
			refused = errors.Join(refused, err)
		default:
			failed = errors.Join(failed, err)
		}
	}
	if failed != nil {
		return errors.Join(failed, unwrapPermanent(refused))
	}
	return refused
}

// unwrapPermanent keeps err's text without its queue.ErrPermanent, so that an entry with a
// refused message and one still to retry is retried.
func unwrapPermanent(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(err.Error())
}

// deliver sends one message unless it was delivered already: claimed by Message-ID first, so
// two couriers holding entries for one message send it once.
func (c *courier) deliver(ctx context.Context, msg outbound.Message) error {
	claim, err := c.store.ClaimDelivery(ctx, msg.ID)
	if errors.Is(err, store.ErrDelivered) {
		c.log.Debug().Str("message_id", msg.ID).Msg("already delivered")
		return nil
	}
	if err != nil { // ErrDelivering included: retried until the other courier's outcome is known
		return fmt.Errorf("outbox %s: %w", msg.ID, err)
	}
	if err := c.smtp.Send(ctx, msg); err != nil {
		claim.Release(ctx)
		if outbound.IsPermanent(err) {
			return fmt.Errorf("outbox %s: %w: %w", msg.ID, err, queue.ErrPermanent)
		}
		if outbound.IsRelayDown(err) {
			// The relay's fault: the entry waits, uncounted, until the relay answers a probe.
			return fmt.Errorf("outbox %s: %w: %w", msg.ID, err, queue.ErrHold)
		}
		return fmt.Errorf("outbox %s: %w", msg.ID, err)
	}
	if err := claim.Delivered(ctx, sentWindow); err != nil {
		// Delivered but not remembered: a retry may send it again, with the same Message-ID.
		c.log.Warn().Err(err).Str("message_id", msg.ID).Msg("delivered; could not record it")
	}
	c.log.Info().Str("message_id", msg.ID).Strs("to", msg.To).Msg("mail sent")
	return nil
}
