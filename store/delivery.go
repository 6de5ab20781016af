package store

import (
	"context"
	"errors"
	"fmt"
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

// claimDeliveryScript checks the sent marker and takes the delivery lease in one step: KEYS
// sent marker, lease; ARGV token, ttl ms.
var claimDeliveryScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 'delivered' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'ok' end
return 'busy'
`)

// deliveredScript marks the message sent and gives the lease up if it is still ours: KEYS sent
// marker, lease; ARGV token, marker value, marker ttl ms (0: none).
var deliveredScript = redis.NewScript(`
if ARGV[3] == '0' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`)

// oneNode reports whether every key is on one node (a single server or Sentinel's master), so
// that one script may touch keys of different Cluster slots.
func (s *Store) oneNode() bool {
	_, cluster := s.c.(*redis.ClusterClient)
	return !cluster
}

// ClaimDelivery claims messageID for delivery. It fails with ErrDelivered when the Message-ID
// was delivered within its sent window, and with ErrDelivering while another holder's claim
// lasts. The holder sends, then calls Delivered, or Release when the send failed. A courier that
// dies mid-send leaves a claim that expires, so a retry delivers the message after all.
func (s *Store) ClaimDelivery(ctx context.Context, messageID string) (*DeliveryClaim, error) {
	if s.oneNode() {
		return s.claimDeliveryOnce(ctx, messageID)
	}
	// Cluster: the marker and the lease are on different slots, so three steps.
	if sent, err := s.Marked(ctx, sentMarker(messageID)); err != nil {
		return nil, err
	} else if sent {
		return nil, ErrDelivered
	}
	lease, ok, err := s.Leases().TryAcquire(ctx, deliveryLease(messageID), deliveryClaimTTL)
	if err != nil {
		return nil, fmt.Errorf("claim delivery %s: %w", messageID, err)
	}
	if !ok {
		return nil, ErrDelivering
	}
	// A holder marks the message sent before it releases its claim: read the marker again now
	// that the claim is ours, or a claim taken just after a delivery would send it twice.
	sent, err := s.Marked(ctx, sentMarker(messageID))
	if err != nil || sent {
		_ = lease.Release(context.WithoutCancel(ctx))
		if err == nil {
			err = ErrDelivered
		}
		return nil, err
	}
	return &DeliveryClaim{s: s, lease: lease, messageID: messageID}, nil
}

// claimDeliveryOnce is ClaimDelivery in one script call.
func (s *Store) claimDeliveryOnce(ctx context.Context, messageID string) (*DeliveryClaim, error) {
	le := s.Leases().newLease(deliveryLease(messageID), deliveryClaimTTL)
	res, err := claimDeliveryScript.Run(ctx, s.c, []string{s.k.once(sentMarker(messageID)), le.key},
		le.token, deliveryClaimTTL.Milliseconds()).Text()
	if err != nil {
		return nil, fmt.Errorf("claim delivery %s: %w", messageID, err)
	}
	switch res {
	case "delivered":
		return nil, ErrDelivered
	case "busy":
		return nil, ErrDelivering
	}
	go le.renew()
	return &DeliveryClaim{s: s, lease: le, messageID: messageID}, nil
}

// Delivered records that the message was sent (remembered for window) and gives the claim up.
func (c *DeliveryClaim) Delivered(ctx context.Context, window time.Duration) error {
	if c.s.oneNode() {
		c.lease.stopRenew()
		err := deliveredScript.Run(ctx, c.s.c, []string{c.s.k.once(sentMarker(c.messageID)), c.lease.key},
			c.lease.token, time.Now().UTC().Format(time.RFC3339), window.Milliseconds()).Err()
		if err == nil {
			return nil
		}
		// Released even when the marker could not be written (see below).
		_ = c.lease.Release(context.WithoutCancel(ctx))
		return fmt.Errorf("mark %s: %w", sentMarker(c.messageID), err)
	}
	err := c.s.Mark(ctx, sentMarker(c.messageID), window)
	// Released even when the marker could not be written: a retry may then send the message
	// again, with the same Message-ID, which is better than never sending a later one.
	_ = c.lease.Release(context.WithoutCancel(ctx))
	return err
}

// Release gives the claim up without recording a delivery: the send failed and may be retried.
func (c *DeliveryClaim) Release(ctx context.Context) {
	_ = c.lease.Release(context.WithoutCancel(ctx))
}

// sentMarker is the Once/Mark key of a delivered Message-ID (the name earlier versions used, so
// their markers still count).
func sentMarker(messageID string) string { return "sent:" + messageID }

func deliveryLease(messageID string) string { return "delivery:" + messageID }

// Delivered reports whether messageID was delivered within its sent window.
func (s *Store) Delivered(ctx context.Context, messageID string) (bool, error) {
	return s.Marked(ctx, sentMarker(messageID))
}
