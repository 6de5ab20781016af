package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
)

// Small entries are acknowledged alone and deleted in batches: Depth counts none of them once
// handled, and the stream loses them soon after; a large entry is deleted with its ack.
func TestAcknowledgedEntriesDeletedInBatches(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	const n = 150
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	bigID, err := q.Add(ctx, []byte(strings.Repeat("x", deleteAtOnceFrom)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var bigListed bool
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[m.ID]++
		q.doneMu.Lock()
		bigListed = bigListed || slices.Contains(q.done, bigID)
		q.doneMu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "all handled, depth 0", func() bool {
		mu.Lock()
		all := len(seen) == n+1
		mu.Unlock()
		d, err := q.Depth(ctx)
		return all && err == nil && d == 0
	})
	testenv.Eventually(t, 5*time.Second, "stream empty", func() bool {
		l, err := c.XLen(ctx, q.Key()).Result()
		return err == nil && l == 0
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s handled %d times", id, k)
		}
	}
	if bigListed {
		t.Error("the large entry waited for a batch delete")
	}
	if pend, _ := c.XPending(ctx, q.Key(), "rmad").Result(); pend == nil || pend.Count != 0 {
		t.Errorf("pending after all handled: %+v", pend)
	}
}

// A crash between acknowledging entries and deleting them leaves done entries in the stream:
// the next consumer's start sweeps them away (up to the oldest entry still pending) and never
// hands them out again; Depth is right again after the sweep.
func TestStartSweepsDoneEntriesACrashLeft(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	prefix := testPrefix(t)
	dead := New(c, prefix, fastOpts("dead"))
	var ids []string
	for i := range 4 {
		id, err := dead.Add(ctx, []byte(fmt.Sprint(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := dead.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	// The dead consumer read all four, acknowledged the first three and died before deleting.
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "rmad", Consumer: "dead",
		Streams: []string{dead.Key(), ">"}, Count: 4}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.XAck(ctx, dead.Key(), "rmad", ids[:3]...).Err(); err != nil {
		t.Fatal(err)
	}
	q := New(c, prefix, fastOpts("c2"))
	var mu sync.Mutex
	var got []string
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		got = append(got, m.ID)
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "pending entry reclaimed and the stream empty", func() bool {
		l, err := c.XLen(ctx, q.Key()).Result()
		mu.Lock()
		defer mu.Unlock()
		return err == nil && l == 0 && len(got) == 1
	})
	stop()
	if got[0] != ids[3] {
		t.Fatalf("handled %v, want only %s", got, ids[3])
	}
	if d, err := q.Depth(ctx); err != nil || d != 0 {
		t.Fatalf("depth %d %v", d, err)
	}
}

// commandCalls is how many times c's Redis ran cmd (INFO commandstats).
func commandCalls(t *testing.T, c redis.UniversalClient, cmd string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":calls="); ok {
			var k int64
			_, _ = fmt.Sscan(strings.SplitN(rest, ",", 2)[0], &k)
			return k
		}
	}
	return 0
}

// Small entries handled at their first attempt are acknowledged and deleted together: one XACK
// and one XDEL for the batch, none while they wait (an ack hook's commands go at once); Depth
// counts none of them meanwhile, and a pending scan of their consumer does not take them up
// again.
func TestHandledEntriesSettledInBatches(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	const n = 50
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	r := &runner{q: q, owned: map[string]time.Time{}, refund: map[string]bool{}}
	xs, err := r.readGroup(ctx, ">", n, -1)
	if err != nil || len(xs) != n {
		t.Fatalf("read %d entries: %v", len(xs), err)
	}
	hook := func(ctx context.Context, pipe redis.Pipeliner) func() {
		pipe.Set(ctx, q.Key()+":hooked", "1", 0)
		return nil
	}
	for i, x := range xs {
		var hooks []AckHook
		if i == 0 {
			hooks = append(hooks, hook)
		}
		if err := q.ackSized(ctx, x.ID, false, 1, hooks...); err != nil {
			t.Fatal(err)
		}
	}
	if v := c.Get(ctx, q.Key()+":hooked").Val(); v != "1" {
		t.Fatalf("the hook's command waited for the batch: %q", v)
	}
	if d, err := q.Depth(ctx); err != nil || d != 0 {
		t.Fatalf("depth %d %v while the batch waits", d, err)
	}
	msgs, _, err := r.pendingScan(ctx, "0", 2*n)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("the pending scan took up %d handled entries: %v", len(msgs), err)
	}
	q.deleteDone(ctx)
	if pend, err := c.XPending(ctx, q.Key(), "rmad").Result(); err != nil || pend.Count != 0 {
		t.Fatalf("pending after the batch: %+v %v", pend, err)
	}
	if l := c.XLen(ctx, q.Key()).Val(); l != 0 {
		t.Fatalf("%d entries left", l)
	}
	// One batch; two when the batch's timer went off part way.
	if acks, dels := commandCalls(t, c, "xack"), commandCalls(t, c, "xdel"); acks > 2 || dels > 2 {
		t.Errorf("%d XACK and %d XDEL calls for %d entries", acks, dels, n)
	}
}

// With ReadAhead a read takes more entries than there are free handlers when a backlog waits:
// every entry handled once, with fewer reads than entries; entries read ahead and not handled
// when the consumer stops are given back uncounted (their next handling is still attempt 1).
func TestReadAhead(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "no")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	prefix := testPrefix(t)
	opt := fastOpts("c1")
	opt.Concurrency, opt.ReadAhead = 2, 4
	q := New(c, prefix, opt)
	const n = 60
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	reads := func() int64 { t.Helper(); return commandCalls(t, c, "xreadgroup") }
	var mu sync.Mutex
	seen := map[string]int{}
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		seen[m.ID]++
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	stop()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s handled %d times", id, k)
		}
	}
	// Each read with a backlog takes the free handlers' entries and ReadAhead more; the few
	// blocking reads of an idle queue at the end add a little.
	if got := reads(); got > n/2 {
		t.Errorf("%d XREADGROUP calls for %d entries", got, n)
	}

	// Stopped with entries read ahead: given back, uncounted.
	opt.Concurrency = 1
	q2 := New(c, prefix+"2:", opt)
	for i := range 4 {
		if _, err := q2.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{}, 1)
	stop2 := running(t, q2, func(ctx context.Context, m Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done() // held until the stop
		return ctx.Err()
	})
	<-started
	testenv.Eventually(t, 5*time.Second, "three entries read ahead", func() bool {
		pend, err := c.XPending(ctx, q2.Key(), "rmad").Result()
		return err == nil && pend.Count == 4
	})
	stop2()
	attempts := map[string]int{}
	stop3 := running(t, New(c, prefix+"2:", opt), func(ctx context.Context, m Message) error {
		mu.Lock()
		attempts[m.ID] = m.Attempt
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "all four handled after the restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) == 4
	})
	stop3()
	for id, a := range attempts {
		if a != 1 {
			t.Errorf("%s: attempt %d after the restart, want 1", id, a)
		}
	}
}

// A large entry read ahead is not held: it waits uncounted and is read again when a handler is
// free for it, still in its first attempt; every entry is handled once.
func TestReadAheadLargeEntries(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	opt := fastOpts("c1")
	opt.Concurrency, opt.ReadAhead = 1, 3
	q := New(c, testPrefix(t), opt)
	big := strings.Repeat("x", deleteAtOnceFrom)
	for i := range 6 {
		payload := fmt.Sprint(i)
		if i%2 == 0 {
			payload += big
		}
		if _, err := q.Add(ctx, []byte(payload), nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	attempts := map[string][]int{}
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[string(m.Payload[:1])] = append(attempts[string(m.Payload[:1])], m.Attempt)
		if len(m.Payload) != 1 && len(m.Payload) != 1+len(big) {
			return fmt.Errorf("%w: %d bytes", ErrPermanent, len(m.Payload))
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "all six handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(attempts) == 6
	})
	testenv.Eventually(t, 5*time.Second, "stream empty", func() bool {
		l, err := c.XLen(ctx, q.Key()).Result()
		return err == nil && l == 0
	})
	stop()
	for k, as := range attempts {
		if len(as) != 1 || as[0] != 1 {
			t.Errorf("entry %s: attempts %v, want [1]", k, as)
		}
	}
}
