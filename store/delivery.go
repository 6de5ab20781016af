package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery states ClaimDelivery reports instead of a claim.
var (
	// ErrDelivered: the Message-ID was delivered already (within the sent window).
	ErrDelivered = errors.New("already delivered")
	// ErrDelivering: another courier, here or in another instance, is delivering it right now.
	// Try again later: it ends delivered, or its claim is given up or expires.
	ErrDelivering = errors.New("another courier is delivering it now")
)

// deliveryClaimTTL bounds how long a claim outlives a courier that died mid-send (it is renewed
// every third of it while the courier is alive).
const deliveryClaimTTL = time.Minute

// DeliveryClaim is one courier's exclusive right to deliver one Message-ID.
type DeliveryClaim struct {
	s         *Store
	lease     *Lease
	messageID string
}

// A delivery's claim and its sent marker are one key, the marker (once:sent:<Message-ID>): a
// claim holds claimPrefix and the claim's token, for deliveryClaimTTL, renewed while the
// courier sends; a delivery overwrites it with "1" for the sent window. So a courier claims
// with one SET NX and records the delivery with one SET, on any Redis setup (one key, one
// slot), and a key that exists answers both "delivered?" and "being delivered?". Earlier
// versions' markers ("1" or a time) read as delivered. Their claims were separate lease keys,
// which this version does not see: while an older and a newer instance run side by side, a
// reply both hold an entry for may be sent twice, with the same Message-ID.
const claimPrefix = "claim:"

// ClaimDelivery claims messageID for delivery. It fails with ErrDelivered when the Message-ID
// was delivered within its sent window, and with ErrDelivering while another holder's claim
// lasts. The holder sends, then calls Delivered, or Release when the send failed. A courier that
// dies mid-send leaves a claim that expires, so a retry delivers the message after all.
func (s *Store) ClaimDelivery(ctx context.Context, messageID string) (*DeliveryClaim, error) {
	return s.ClaimDeliveryWith(ctx, messageID, nil)
}

// ClaimDeliveryWith is ClaimDelivery with first's commands (another message's DeliveredIn)
// ahead of the claim in the same round trip; first may be nil. first's commands run once,
// whatever the claim's outcome.
func (s *Store) ClaimDeliveryWith(ctx context.Context, messageID string, first func(redis.Pipeliner)) (*DeliveryClaim, error) {
	le := s.Leases().newLease(deliveryLease(messageID), deliveryClaimTTL)
	le.key, le.token = s.k.once(sentMarker(messageID)), claimPrefix+le.token
	for range 3 {
		var ok bool
		var err error
		if first != nil {
			pipe := s.c.Pipeline()
			first(pipe)
			setNX := pipe.SetNX(ctx, le.key, le.token, deliveryClaimTTL)
			_, _ = pipe.Exec(ctx) // first checks its own commands
			ok, err = setNX.Result()
			first = nil
		} else {
			ok, err = s.c.SetNX(ctx, le.key, le.token, deliveryClaimTTL).Result()
		}
		if err != nil {
			return nil, fmt.Errorf("claim delivery %s: %w", messageID, err)
		}
		if ok {
			go le.renew()
			return &DeliveryClaim{s: s, lease: le, messageID: messageID}, nil
		}
		v, err := s.c.Get(ctx, le.key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			continue // released or expired in between: claim again
		case err != nil:
			return nil, fmt.Errorf("claim delivery %s: %w", messageID, err)
		case strings.HasPrefix(v, claimPrefix):
			return nil, ErrDelivering
		}
		return nil, ErrDelivered
	}
	return nil, ErrDelivering // claimed and given up three times in a row: busy, try later
}

// Delivered records that the message was sent (remembered for window) and gives the claim up:
// the marker replaces the claim, whoever holds it now (the message is sent either way).
func (c *DeliveryClaim) Delivered(ctx context.Context, window time.Duration) error {
	pipe := c.s.c.Pipeline()
	result := c.DeliveredIn(ctx, pipe, window)
	_, _ = pipe.Exec(ctx)
	return result()
}

// DeliveredIn is Delivered with the marker's write queued on pipe, so that it costs no round
// trip of its own (it goes with the next message's claim, or the outbox entry's ack). Once pipe
// ran, result says whether the marker was written; it must be called.
func (c *DeliveryClaim) DeliveredIn(ctx context.Context, pipe redis.Pipeliner, window time.Duration) (result func() error) {
	c.lease.stopRenew()
	set := pipe.Set(ctx, c.s.k.once(sentMarker(c.messageID)), "1", window)
	return func() error {
		if err := set.Err(); err != nil {
			// Released even when the marker could not be written: a retry may then send the
			// message again, with the same Message-ID, which is better than never sending it.
			_ = c.lease.Release(context.WithoutCancel(ctx))
			return fmt.Errorf("mark %s delivered: %w", c.messageID, err)
		}
		return nil
	}
}

// Release gives the claim up without recording a delivery: the send failed and may be retried.
func (c *DeliveryClaim) Release(ctx context.Context) {
	_ = c.lease.Release(context.WithoutCancel(ctx))
}

// sentMarker is the Once/Mark key of a delivered Message-ID (the name earlier versions used, so
// their markers still count); it holds the delivery's claim until then.
func sentMarker(messageID string) string { return "sent:" + messageID }

func deliveryLease(messageID string) string { return "delivery:" + messageID }

// Delivered reports whether messageID was delivered within its sent window.
func (s *Store) Delivered(ctx context.Context, messageID string) (bool, error) {
	v, err := s.c.Get(ctx, s.k.once(sentMarker(messageID))).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delivered %s: %w", messageID, err)
	}
	return !strings.HasPrefix(v, claimPrefix), nil
}
