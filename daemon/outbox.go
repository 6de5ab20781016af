package daemon

import (
	"context"
	"encoding/json"
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

func (c *courier) handle(ctx context.Context, m queue.Message) error {
	var job outboxJob
	if err := json.Unmarshal(m.Payload, &job); err != nil {
		return fmt.Errorf("outbox %s: undecodable job: %v: %w", m.ID, err, queue.ErrPermanent)
	}
	claim, err := c.store.ClaimDelivery(ctx, job.Message.ID)
	if errors.Is(err, store.ErrDelivered) {
		c.log.Debug().Str("message_id", job.Message.ID).Msg("already delivered")
		return nil
	}
	if err != nil { // ErrDelivering included: retried until the other courier's outcome is known
		return fmt.Errorf("outbox %s: %w", job.Message.ID, err)
	}
	if err := c.smtp.Send(ctx, job.Message); err != nil {
		claim.Release(ctx)
		if outbound.IsPermanent(err) {
			return fmt.Errorf("outbox %s: %w: %w", job.Message.ID, err, queue.ErrPermanent)
		}
		if outbound.IsRelayDown(err) {
			// The relay's fault: the entry waits, uncounted, until the relay answers a probe.
			return fmt.Errorf("outbox %s: %w: %w", job.Message.ID, err, queue.ErrHold)
		}
		return fmt.Errorf("outbox %s: %w", job.Message.ID, err)
	}
	if err := claim.Delivered(ctx, sentWindow); err != nil {
		// Delivered but not remembered: a retry may send it again, with the same Message-ID.
		c.log.Warn().Err(err).Str("message_id", job.Message.ID).Msg("delivered; could not record it")
	}
	c.log.Info().Str("message_id", job.Message.ID).Strs("to", job.Message.To).Msg("mail sent")
	if c.metrics != nil && job.Enqueued != "" {
		if ns, err := strconv.ParseInt(job.Enqueued, 10, 64); err == nil {
			c.metrics.ReplyLatency.Observe(c.now().Sub(time.Unix(0, ns)).Seconds())
		}
	}
	return nil
}
