package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
)

// On Redis Cluster every script and MULTI must stay on one slot (else CROSSSLOT): the whole
// store and queue work there, with partners spread over the masters.
func TestOnRedisCluster(t *testing.T) {
	addrs := testenv.ClusterAddrs(testenv.StartCluster(t))
	ctx := context.Background()
	c, err := Connect(ctx, config.Redis{URL: "redis://ignored:1/0", Cluster: &config.RedisCluster{Addresses: addrs}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*redis.ClusterClient); !ok {
		t.Fatalf("Connect made a %T for a cluster config", c)
	}
	if err := CheckPersistence(ctx, c, false); err != nil {
		t.Fatalf("persistence on the cluster: %v", err)
	}
	s := New(c, "rmad:")

	partners := []string{"gr-net", "ro-shop", "fr-pro", "bg-tech", "cy-store", "weird{id}"}
	nums := map[string]string{}
	for i, p := range partners {
		items := []rma.Item{item(1, "PO-1", "SN-"+p), item(2, "PO-1", "SN-X-"+p), item(3, "PO-3", "SN-Y-"+p)}
		sub := mailSub(p, fmt.Sprintf("c%d@example.com", i), items...)
		out, err := s.Commit(ctx, sub, decide(items), testNow)
		if err != nil {
			t.Fatalf("commit for %s: %v", p, err)
		}
		if out.Decisions[1].Result != rma.ResultDuplicate || out.Decisions[1].Number != out.Decisions[0].Number {
			t.Fatalf("in-submission duplicate for %s: %+v", p, out.Decisions[1])
		}
		again, err := s.Commit(ctx, sub, decide(items), testNow)
		if err != nil || !again.Replay {
			t.Fatalf("replay for %s: %v %v", p, again.Replay, err)
		}
		nums[p] = out.Decisions[0].Number
	}
	// 6 partners × 2 new items: numbers 1..12.
	if got, _ := s.c.Get(ctx, s.k.seq(2026)).Int(); got != 12 {
		t.Fatalf("counter %d, want 12", got)
	}
	for _, p := range partners {
		r, err := s.Get(ctx, nums[p])
		if err != nil || r.PartnerID != p {
			t.Fatalf("get %s: %+v %v", nums[p], r, err)
		}
		if recs, err := s.Lookup(ctx, p, "PO-1"); err != nil || len(recs) != 1 || recs[0].Number != nums[p] {
			t.Fatalf("lookup for %s: %+v %v", p, recs, err)
		}
	}
	if recs, err := s.Lookup(ctx, "", "po-3"); err != nil || len(recs) != len(partners) {
		t.Fatalf("lookup over all partners: %d %v", len(recs), err)
	}
	if _, err := s.SetStatus(ctx, nums["ro-shop"], rma.StatusReceived, "t", "in", nil, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var te *rma.TransitionError
	if _, err := s.SetStatus(ctx, nums["ro-shop"], rma.StatusClosed, "t", "", nil, testNow); !errors.As(err, &te) {
		t.Fatalf("illegal move on cluster: %v", err)
	}
	if recs, err := s.ChangedSince(ctx, "", testNow); err != nil || len(recs) != 1 {
		t.Fatalf("changed since: %d %v", len(recs), err)
	}
	if recs, err := s.ByStatus(ctx, rma.StatusAwaitingGoods); err != nil || len(recs) != 2*len(partners)-1 {
		t.Fatalf("by status: %d %v", len(recs), err)
	}
	if ok, err := s.Once(ctx, "x", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, _, _, err := s.RememberResponse(ctx, "wh:1", 200, []byte("ok"), time.Minute); err != nil {
		t.Fatal(err)
	}
	le, ok, err := s.Leases().TryAcquire(ctx, "cron:digest", time.Second)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := le.Release(ctx); err != nil {
		t.Fatal(err)
	}

	// The queue: add, fail, retry, dead letter, requeue.
	q := queue.New(c, "rmad:", queue.Options{Stream: queue.Inbox, Consumer: "c1", Block: 100 * time.Millisecond,
		MaxAttempts: 2, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if _, err := q.Add(ctx, []byte("ok"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, []byte("bad"), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		_ = q.Run(runCtx, func(_ context.Context, m queue.Message) error {
			if string(m.Payload) == "bad" {
				return errors.New("nope")
			}
			return nil
		})
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dls, err := q.DeadLetters(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := q.Depth(ctx); len(dls) == 1 && d == 0 {
			if dls[0].Attempts != 2 || dls[0].LastError != "nope" {
				t.Fatalf("dead letter %+v", dls[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %+v", dls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if n, err := q.RetryAll(ctx); err != nil || n != 1 {
		t.Fatalf("retry all: %d %v", n, err)
	}
}

// Connect through Sentinel finds the master and works like a single server.
func TestOnRedisSentinel(t *testing.T) {
	master := testenv.StartRedis(t, "--appendonly", "yes")
	sentinel := testenv.StartSentinel(t, "mymaster", master.Addr, 5*time.Second).Addr
	ctx := context.Background()
	c, err := Connect(ctx, config.Redis{URL: "redis://127.0.0.1:6379/0",
		Sentinel: &config.RedisSentinel{Master: "mymaster", Addresses: []string{sentinel}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := CheckPersistence(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	s := New(c, "rmad:")
	sub := mailSub("gr-net", "s1@example.com", item(1, "PO-S", "SN-S"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil || out.Decisions[0].Number != "RMA/1/SR/2026" {
		t.Fatalf("%+v %v", out.Decisions, err)
	}
	// It really went to the master.
	direct := redisClient(t, master.Addr)
	if n, _ := direct.Exists(ctx, s.k.rec("gr-net", numberKey{Year: 2026, N: 1})).Result(); n != 1 {
		t.Fatal("record not on the master")
	}
}
