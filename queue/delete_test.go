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
