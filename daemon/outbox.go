package daemon

import (
	"context"
	"encoding/json"
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
// (crash after SMTP accepted it, before the ack) is not mailed twice.
const sentWindow = 30 * 24 * time.Hour

// courier is the outbox stage: it delivers composed messages over SMTP, at least once and
// normally exactly once per Message-ID.
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
	key := "sent:" + job.Message.ID
	if done, err := c.store.Marked(ctx, key); err != nil {
		return fmt.Errorf("outbox %s: %w", job.Message.ID, err)
	} else if done {
		c.log.Debug().Str("message_id", job.Message.ID).Msg("already delivered")
		return nil
	}
	if err := c.smtp.Send(ctx, job.Message); err != nil {
		if outbound.IsPermanent(err) {
			return fmt.Errorf("outbox %s: %w: %w", job.Message.ID, err, queue.ErrPermanent)
		}
		return fmt.Errorf("outbox %s: %w", job.Message.ID, err)
	}
	if err := c.store.Mark(ctx, key, sentWindow); err != nil {
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
