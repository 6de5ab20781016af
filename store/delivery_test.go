package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// One claim per Message-ID at a time, among any number of couriers; a delivered Message-ID is
// never claimed again; a released claim (failed send) or an expired one (a courier that died
// mid-send) lets the next courier deliver it.
func TestClaimDelivery(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)

	const couriers = 16
	var wg sync.WaitGroup
	claims := make(chan *DeliveryClaim, couriers)
	for range couriers {
		wg.Go(func() {
			c, err := s.ClaimDelivery(ctx, "reply.1@distributor.example")
			switch {
			case err == nil:
				claims <- c
			case !errors.Is(err, ErrDelivering):
				t.Errorf("concurrent claim: %v; want a claim or ErrDelivering", err)
			}
		})
	}
	wg.Wait()
	close(claims)
	var won []*DeliveryClaim
	for c := range claims {
		won = append(won, c)
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent couriers got the claim, want 1", len(won), couriers)
	}
	if err := won[0].Delivered(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDelivery(ctx, "reply.1@distributor.example"); !errors.Is(err, ErrDelivered) {
		t.Fatalf("claim after delivery: %v; want ErrDelivered", err)
	}
	if ok, err := s.Delivered(ctx, "reply.1@distributor.example"); err != nil || !ok {
		t.Fatalf("Delivered = %v, %v; want true", ok, err)
	}

	// A failed send gives the claim back: the retry gets it at once.
	c, err := s.ClaimDelivery(ctx, "reply.2@distributor.example")
	if err != nil {
		t.Fatal(err)
	}
	c.Release(ctx)
	c, err = s.ClaimDelivery(ctx, "reply.2@distributor.example")
	if err != nil {
		t.Fatalf("claim after a release: %v", err)
	}
	if ok, _ := s.Delivered(ctx, "reply.2@distributor.example"); ok {
		t.Fatal("a released claim counts as delivered")
	}

	// A courier that dies mid-send stops renewing; once its claim expires (here: made to expire)
	// another courier delivers the message.
	if _, err := s.ClaimDelivery(ctx, "reply.2@distributor.example"); !errors.Is(err, ErrDelivering) {
		t.Fatalf("claim while another holds it: %v; want ErrDelivering", err)
	}
	if err := s.c.Del(ctx, s.k.once(sentMarker("reply.2@distributor.example"))).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDelivery(ctx, "reply.2@distributor.example"); err != nil {
		t.Fatalf("claim after the holder's claim expired: %v", err)
	}
	c.Release(ctx) // the dead courier's renewer notices and stops

	// An earlier version's marker (a time) counts as delivered.
	if err := s.c.Set(ctx, s.k.once(sentMarker("reply.3@distributor.example")), "2026-11-30T10:00:00Z", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDelivery(ctx, "reply.3@distributor.example"); !errors.Is(err, ErrDelivered) {
		t.Fatalf("claim after an older version's marker: %v; want ErrDelivered", err)
	}
}

// A delivery's marker can ride with the next claim (ClaimDeliveryWith and DeliveredIn, one
// round trip): the first message is then delivered for good, the second claimed.
func TestDeliveredWithTheNextClaim(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	first, err := s.ClaimDelivery(ctx, "reply.5@distributor.example")
	if err != nil {
		t.Fatal(err)
	}
	var result func() error
	second, err := s.ClaimDeliveryWith(ctx, "staff.5@distributor.example", func(pipe redis.Pipeliner) {
		result = first.DeliveredIn(ctx, pipe, time.Hour)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := result(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delivered(ctx, "reply.5@distributor.example"); err != nil || !ok {
		t.Fatalf("first message Delivered = %v, %v; want true", ok, err)
	}
	if _, err := s.ClaimDelivery(ctx, "staff.5@distributor.example"); !errors.Is(err, ErrDelivering) {
		t.Fatalf("second message while claimed: %v; want ErrDelivering", err)
	}
	// The marker is written even when the claim finds its message delivered already.
	third, err := s.ClaimDelivery(ctx, "fwd.5@distributor.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimDeliveryWith(ctx, "reply.5@distributor.example", func(pipe redis.Pipeliner) {
		result = third.DeliveredIn(ctx, pipe, time.Hour)
	}); !errors.Is(err, ErrDelivered) {
		t.Fatalf("claim of a delivered message: %v; want ErrDelivered", err)
	}
	if err := result(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delivered(ctx, "fwd.5@distributor.example"); err != nil || !ok {
		t.Fatalf("third message Delivered = %v, %v; want true", ok, err)
	}
	second.Release(ctx)
}
