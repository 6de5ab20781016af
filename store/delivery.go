package store

import (
	"context"
	"errors"
	"fmt"
	"time"
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

// ClaimDelivery claims messageID for delivery. It fails with ErrDelivered when the Message-ID
// was delivered within its sent window, and with ErrDelivering while another holder's claim
// lasts. The holder sends, then calls Delivered, or Release when the send failed. A courier that
// dies mid-send leaves a claim that expires, so a retry delivers the message after all.
func (s *Store) ClaimDelivery(ctx context.Context, messageID string) (*DeliveryClaim, error) {
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

// Delivered records that the message was sent (remembered for window) and gives the claim up.
func (c *DeliveryClaim) Delivered(ctx context.Context, window time.Duration) error {
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
