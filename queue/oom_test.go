package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/internal/testenv"
)

// Redis over maxmemory (noeviction) refuses writes that grow it, MULTI included. A handler that
// finished then is still acknowledged (no second run: a reply is not sent twice), the consumer
// waits instead of spinning on refused writes and logs them once per interval, and carries on
// when memory is free again.
func TestOutOfMemoryAckNoResendBoundedLog(t *testing.T) {
	t.Parallel()
	srv := testenv.StartRedis(t, "--maxmemory-policy", "noeviction")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	opt := fastOpts("c1")
	opt.StoreLogEvery = time.Second
	var logs testenv.SyncBuffer
	opt.Log = zerolog.New(&logs).Level(zerolog.InfoLevel) // not each message's debug events: the spin is what counts
	q := New(c, testPrefix(t), opt)
	const n = 5
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{})
	var calls [n]atomic.Int32
	stop := running(t, q, func(ctx context.Context, m Message) error {
		i, _ := strconv.Atoi(string(m.Payload))
		if calls[i].Add(1) == 1 && i == 0 {
			<-gate // the first message is being sent when memory runs out
		}
		return nil
	})
	testenv.Eventually(t, 5*time.Second, "first handler running", func() bool { return calls[0].Load() == 1 })
	// Fill the server to its limit.
	if err := c.ConfigSet(ctx, "maxmemory", "4mb").Err(); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 64<<10)
	for i := 0; ; i++ {
		if err := c.Set(ctx, fmt.Sprintf("fill:%d", i), blob, 0).Err(); err != nil {
			if !strings.HasPrefix(err.Error(), "OOM") {
				t.Fatal(err)
			}
			break
		}
	}
	close(gate)
	time.Sleep(3 * time.Second) // out of memory for 3 s: the consumer must not spin
	lines := strings.Count(logs.String(), "\n")
	if err := c.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "every message handled after memory was freed", func() bool {
		d, err := q.Depth(ctx)
		return err == nil && d == 0
	})
	stop()
	for i := range n {
		if k := calls[i].Load(); k != 1 {
			t.Errorf("message %d handled %d times", i, k)
		}
	}
	if lines > 8 {
		t.Errorf("%d log lines in 3 s out of memory, want about one a second:\n%s", lines, logs.Tail(3000))
	}
	t.Logf("%d log lines in 3 s out of memory", lines)
}
