package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/internal/testenv"
)

func TestStoreUnavailable(t *testing.T) {
	for _, msg := range []string{"CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys request during rehashing of slot",
		"NOREPLICAS Not enough good replicas to write.", "OOM command not allowed when used memory > 'maxmemory'.",
		"LOADING Redis is loading the dataset in memory", "READONLY You can't write against a read only replica.",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."} {
		if err := fmt.Errorf("commit: %w", proto(msg)); !StoreUnavailable(err) {
			t.Errorf("%q not seen as the store being unavailable", msg)
		}
	}
	for _, err := range []error{proto("WRONGTYPE Operation against a key holding the wrong kind of value"),
		redis.Nil, errors.New("OOM in a message that is not from Redis"), fmt.Errorf("x: %w", ErrPermanent)} {
		if StoreUnavailable(err) {
			t.Errorf("%v seen as the store being unavailable", err)
		}
	}
}

// proto is what go-redis returns for a Redis error reply.
func proto(msg string) error { return redisReply(msg) }

type redisReply string

func (e redisReply) Error() string { return string(e) }
func (e redisReply) RedisError()   {}

// A store that is away (connection refused) for longer than the whole retry horizon (MaxAttempts with their
// backoff) is not the messages' fault: nothing is dead-lettered and every message is handled
// once the store is back, with no help.
func TestStoreAwayLongerThanHorizonNoDeadLetter(t *testing.T) {
	t.Parallel()
	// Two servers, as in a Cluster whose master for the records' slots is down while the
	// queue's slot is served: the queue stays up, the handler's store goes away.
	t.Run("records server away", func(t *testing.T) { t.Parallel(); storeAway(t, false) })
	// One server for both, stopped.
	t.Run("the one server away", func(t *testing.T) { t.Parallel(); storeAway(t, true) })
}

func storeAway(t *testing.T, shared bool) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	qc := redis.UniversalClient(c)
	if !shared {
		qc = testClient(t)
	}
	ctx := context.Background()
	prefix := testPrefix(t)
	opt := fastOpts("c1")
	opt.MaxAttempts, opt.BaseBackoff, opt.MaxBackoff = 3, 20*time.Millisecond, 50*time.Millisecond // horizon < 0.2 s
	var logs testenv.SyncBuffer
	opt.Log = zerolog.New(&logs)
	opt.StorePing = func(ctx context.Context) error { return c.Ping(ctx).Err() }
	q := New(qc, prefix, opt)
	const n = 20
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var started atomic.Int32
	stop := running(t, q, func(ctx context.Context, m Message) error {
		started.Add(1)
		time.Sleep(20 * time.Millisecond)
		// The handler's own store write, as the inbox worker's commit is.
		if err := c.SAdd(ctx, prefix+"done", string(m.Payload)).Err(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
	testenv.Eventually(t, 5*time.Second, "a few handled", func() bool { return started.Load() >= 3 })
	srv.Stop()
	time.Sleep(3 * time.Second) // 15 times the old horizon
	srv.Start()
	testenv.Eventually(t, 20*time.Second, "every message handled after the store's return", func() bool {
		d, err := q.Depth(ctx)
		return err == nil && d == 0
	})
	stop()
	if got, _ := c.SCard(ctx, prefix+"done").Result(); got != n {
		t.Errorf("%d of %d messages done", got, n)
	}
	if dl, err := q.DeadLetters(ctx, 0); err != nil || len(dl) != 0 {
		t.Fatalf("dead letters after the store's outage: %+v %v\nlog:\n%s", dl, err, logs.Tail(4000))
	}
	if lines := strings.Count(logs.String(), "redis cannot serve"); lines > 3 {
		t.Errorf("%d log lines about the outage, want one per 30 s:\n%s", lines, logs.Tail(4000))
	}
}
