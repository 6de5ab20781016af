package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// unavailablePrefixes are the Redis replies that say the server cannot serve now, whatever
// the command: a cluster without a master for a slot, a slot moving, too few replicas, out of
// memory, loading its data, a replica that refuses writes, a master down behind a replica.
var unavailablePrefixes = []string{"CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS", "OOM", "LOADING", "READONLY", "MASTERDOWN"}

// StoreUnavailable reports whether err is Redis saying it cannot serve right now (CLUSTERDOWN,
// TRYAGAIN, NOREPLICAS, OOM, LOADING, READONLY, MASTERDOWN), found anywhere in err's chain, or
// an error that says so itself with a StoreUnavailable() true method (a write the replicas did
// not confirm in time, store.NotReplicatedError).
// Such a failure is not the message's fault: the queue does not count it as an attempt.
// Any other handler error is the store's when the store also fails Options.StorePing then
// (a connection refused by an SMTP relay is not); Run checks that itself.
func StoreUnavailable(err error) bool {
	var says interface{ StoreUnavailable() bool }
	if errors.As(err, &says) && says.StoreUnavailable() {
		return true
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	for _, p := range unavailablePrefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// storeDown reports whether err is the store's: an unavailable reply, or any error while the
// store does not answer a PING.
func (q *Queue) storeDown(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if StoreUnavailable(err) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return q.opt.StorePing(ctx) != nil
}

// pingAll checks every master of a Cluster (one of them may hold the handler's keys while the
// queue's own slot is fine), or the one server.
func pingAll(c redis.UniversalClient) func(context.Context) error {
	return func(ctx context.Context) error {
		if cc, ok := c.(*redis.ClusterClient); ok {
			return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() })
		}
		return c.Ping(ctx).Err()
	}
}

// storeTrouble paces a consumer while its store fails: each failure in a row doubles the pause
// (200 ms up to 5 s, with jitter), and the failure is logged once per logEvery with how many
// came since, not once per try.
type storeTrouble struct {
	log      zerolog.Logger
	logEvery time.Duration

	mu         sync.Mutex
	inARow     int
	holdUntil  time.Time
	since      time.Time // first failure of this run of failures
	lastLog    time.Time
	suppressed int
}

// failed records a store failure and returns how long to hold off.
func (s *storeTrouble) failed(err error, what string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.inARow == 0 {
		s.since = now
	}
	s.inARow++
	step := min(200*time.Millisecond<<min(s.inARow-1, 5), 5*time.Second)
	d := step/2 + rand.N(step/2+1)
	s.holdUntil = now.Add(d)
	if now.Sub(s.lastLog) >= s.logEvery {
		s.log.Error().Err(err).Str("action", what).Int("failures", s.inARow).
			Int("not_logged", s.suppressed).Time("since", s.since).Dur("retry_in", d).
			Msg("redis cannot serve; waiting for it")
		s.lastLog, s.suppressed = now, 0
	} else {
		s.suppressed++
	}
	return d
}

// ok ends a run of failures.
func (s *storeTrouble) ok() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inARow == 0 {
		return
	}
	s.log.Info().Int("failures", s.inARow).Dur("down_for", time.Since(s.since)).Msg("redis serves again")
	s.inARow, s.suppressed, s.lastLog = 0, 0, time.Time{}
	s.holdUntil = time.Time{}
}

// wait blocks until the hold is over or ctx ends.
func (s *storeTrouble) wait(ctx context.Context) {
	s.mu.Lock()
	d := time.Until(s.holdUntil)
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
