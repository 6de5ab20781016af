package store

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

func redisClient(t testing.TB, addr string) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second,
		MaxRetries: 1, PoolSize: 8})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestCheckPersistence(t *testing.T) {
	ctx := context.Background()
	if err := CheckPersistence(ctx, testClient(t), false); err != nil {
		t.Fatalf("test redis has AOF, yet: %v", err)
	}
	volatile := testenv.StartRedis(t, "--appendonly", "no")
	c := redisClient(t, volatile.Addr)
	err := CheckPersistence(ctx, c, false)
	if err == nil || !strings.Contains(err.Error(), "CONFIG SET appendonly yes") || !strings.Contains(err.Error(), "allow_volatile") {
		t.Fatalf("volatile redis: %v", err)
	}
	if err := CheckPersistence(ctx, c, true); err != nil {
		t.Fatalf("allow_volatile: %v", err)
	}

	// Managed Redis without CONFIG: INFO persistence decides.
	noConfigAOF := testenv.StartRedis(t, "--appendonly", "yes", "--rename-command", "CONFIG", "")
	if err := CheckPersistence(ctx, redisClient(t, noConfigAOF.Addr), false); err != nil {
		t.Fatalf("AOF without CONFIG: %v", err)
	}
	noConfigVolatile := testenv.StartRedis(t, "--appendonly", "no", "--rename-command", "CONFIG", "")
	if err := CheckPersistence(ctx, redisClient(t, noConfigVolatile.Addr), false); err == nil {
		t.Fatal("volatile redis without CONFIG accepted")
	}
}

func TestConnect(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []config.Redis{
		{},
		{URL: "http://nope"},
		{URL: "redis://127.0.0.1:1/0"},
		{Cluster: &config.RedisCluster{}},
		{Sentinel: &config.RedisSentinel{Master: "m"}},
	} {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if c, err := Connect(ctx, cfg); err == nil {
			_ = c.Close()
			t.Errorf("Connect(%+v) succeeded", cfg)
		}
		cancel()
	}
	// The password comes from cfg.Password (password_file), not from the URL.
	locked := testenv.StartRedis(t, "--requirepass", "s3cret")
	cfg := config.Redis{URL: "redis://" + locked.Addr + "/0"}
	if c, err := Connect(ctx, cfg); err == nil {
		_ = c.Close()
		t.Error("connected without the password")
	}
	cfg.Password = "s3cret"
	c2, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("with password: %v", err)
	}
	_ = c2.Close()
}

// Proof: redis-server killed (SIGKILL) in the middle of a run and restarted from its AOF;
// afterwards every submission is committed exactly once, and the numbers have no gaps.
func TestCommitSurvivesRedisKillAndAOFRestart(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	s := New(redisClient(t, srv.Addr), "rmad:")
	ctx := context.Background()

	const total = 600
	subs := make([]rma.Submission, total)
	for i := range subs {
		items := []rma.Item{item(1, fmt.Sprintf("K%d-1", i), fmt.Sprintf("KS%d-1", i))}
		if i%3 == 0 { // some two-item submissions
			items = append(items, item(2, fmt.Sprintf("K%d-2", i), fmt.Sprintf("KS%d-2", i)))
		}
		subs[i] = mailSub("gr-net", fmt.Sprintf("kill%d@example.com", i), items...)
	}
	answers := make([]*Outcome, total)
	var answered atomic.Int32
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				out, err := s.Commit(ctx, subs[i], decide(subs[i].Items), testNow)
				if err == nil {
					answers[i] = &out
					answered.Add(1)
				}
			}
		})
	}
	killed := false
	for i := range subs {
		if !killed && answered.Load() >= total/3 {
			srv.Stop() // mid-run: the workers have commits in flight
			killed = true
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if !killed {
		t.Fatal("the run ended before the kill")
	}
	lost := total - int(answered.Load())
	t.Logf("answered before the crash: %d, unanswered: %d", answered.Load(), lost)
	if lost == 0 {
		t.Fatal("no submission was cut off by the kill")
	}

	srv.Start() // from the same data dir: the AOF is replayed
	// Like a worker's retry with backoff: wait until the client's pool dials again.
	for deadline := time.Now().Add(10 * time.Second); s.c.Ping(ctx).Err() != nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect after the restart")
		}
	}
	// The worker's way: whatever got no answer is committed again; answered ones are replays.
	used := map[string]int{}
	accepted := 0
	for i := range subs {
		out, err := s.Commit(ctx, subs[i], decide(subs[i].Items), testNow)
		if err != nil {
			t.Fatalf("after restart, submission %d: %v", i, err)
		}
		if prev := answers[i]; prev != nil {
			if !out.Replay {
				t.Fatalf("submission %d was answered before the crash but committed again", i)
			}
			for j := range prev.Decisions {
				if prev.Decisions[j].Number != out.Decisions[j].Number {
					t.Fatalf("submission %d item %d: %s before the crash, %s after", i, j, prev.Decisions[j].Number, out.Decisions[j].Number)
				}
			}
		}
		for j, d := range out.Decisions {
			if d.Result != rma.ResultAccepted {
				t.Fatalf("submission %d item %d: %s", i, j, d.Result)
			}
			if other, dup := used[d.Number]; dup {
				t.Fatalf("%s given to submissions %d and %d", d.Number, other, i)
			}
			used[d.Number] = i
			accepted++
			// Exactly one record holds the item.
			recs, err := s.Lookup(ctx, "gr-net", d.Item.OwnNumber)
			if err != nil || len(recs) != 1 || recs[0].Number != d.Number {
				t.Fatalf("submission %d item %d: records %+v (%v)", i, j, recs, err)
			}
		}
	}
	var ns []int
	for num := range used {
		n, _ := rma.ParseNumber(num)
		ns = append(ns, n.N)
	}
	sort.Ints(ns)
	for i, n := range ns {
		if n != i+1 {
			t.Fatalf("numbers have a gap: position %d holds %d", i, n)
		}
	}
	if next, _ := s.c.Get(ctx, s.k.seq(2026)).Int(); next != accepted {
		t.Fatalf("counter at %d after %d accepted items", next, accepted)
	}
}

func TestLogRedisTo(t *testing.T) {
	var buf bytes.Buffer
	LogRedisTo(zerolog.New(&buf).With().Str("component", "redis").Logger())
	defer redis.SetLogger(discardLogger{})
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	for i := 0; i < 12 && buf.Len() == 0; i++ { // until the pool complains about failed dials
		_ = c.Ping(context.Background()).Err()
	}
	if !strings.Contains(buf.String(), `"component":"redis"`) || !strings.Contains(buf.String(), `"level":"warn"`) {
		t.Fatalf("go-redis messages not in the zerolog output: %q", buf.String())
	}
}

// discardLogger keeps the remaining tests' expected connection failures out of the output.
type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}
