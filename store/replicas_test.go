package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
)

// replicatedStore is a store on a private master whose one replica reads it through a proxy
// the test can hold.
func replicatedStore(t *testing.T, r Replication) (*Store, *testenv.Redis, *testenv.Proxy) {
	t.Helper()
	master := testenv.StartRedis(t, "--repl-diskless-sync-delay", "0") // the replica's first sync at once
	proxy := testenv.StartProxy(t, master.Addr)
	testenv.StartReplica(t, proxy.Addr)
	c, err := Connect(context.Background(), config.Redis{URL: "redis://" + master.Addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := New(c, "rmad:")
	s.SetReplication(r)
	return s, master, proxy
}

func waitCalls(t *testing.T, c redis.UniversalClient) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_wait:calls="); ok {
			n := 0
			for _, ch := range rest {
				if ch < '0' || ch > '9' {
					break
				}
				n = n*10 + int(ch-'0')
			}
			return n
		}
	}
	return 0
}

// A commit the replica has not received is not confirmed: ConfirmCommit says so with an error
// the queue takes for the store's state (no attempt counted), and confirms it once the
// replica has it. The high-water mark follows the confirmed numbers.
func TestConfirmCommitWaitsForTheReplica(t *testing.T) {
	t.Parallel()
	s, _, proxy := replicatedStore(t, Replication{Replicas: 1, Timeout: 200 * time.Millisecond})
	ctx := context.Background()

	sub := mailSub("gr-net", "c1@example.com", item(1, "PO-1", "SN-1"), item(2, "PO-2", "SN-2"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	// With the replica up a confirmation comes; 200 ms can pass before it on a loaded machine
	// (the replica's ack goes through the test's proxy), so a try that timed out is tried again.
	testenv.Eventually(t, 20*time.Second, "commit confirmed with the replica up", func() bool {
		err := s.ConfirmCommit(ctx, "gr-net", out.Decisions)
		if err != nil && !IsNotReplicated(err) {
			t.Fatalf("replica up: %v", err)
		}
		return err == nil
	})
	if hw, _ := s.c.Get(ctx, s.k.issued(2026)).Int(); hw != 2 {
		t.Errorf("high-water mark %d, want 2", hw)
	}

	proxy.Hold()
	sub = mailSub("gr-net", "c2@example.com", item(1, "PO-3", "SN-3"))
	out, err = s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	err = s.ConfirmCommit(ctx, "gr-net", out.Decisions)
	if !IsNotReplicated(err) || !queue.StoreUnavailable(err) {
		t.Fatalf("replication held: err %v, want a NotReplicatedError the queue takes for the store's", err)
	}
	if !strings.Contains(err.Error(), "0 of 1 replicas (redis.min_replicas) confirmed the write within 200ms") {
		t.Errorf("error says %q", err)
	}
	// A retry, whose high-water mark is already raised, is not confirmed either.
	if err := s.ConfirmCommit(ctx, "gr-net", out.Decisions); !IsNotReplicated(err) {
		t.Fatalf("retry with replication held: %v", err)
	}
	if err := s.ConfirmWrites(ctx, "rmad:inbox"); !IsNotReplicated(err) {
		t.Fatalf("ConfirmWrites with replication held: %v", err)
	}

	proxy.Release()
	testenv.Eventually(t, 20*time.Second, "commit confirmed after the release", func() bool {
		return s.ConfirmCommit(ctx, "gr-net", out.Decisions) == nil
	})
	if hw, _ := s.c.Get(ctx, s.k.issued(2026)).Int(); hw != 3 {
		t.Errorf("high-water mark %d, want 3", hw)
	}
}

// With min_replicas 0 nothing waits and no WAIT is sent, even with the replica held.
func TestNoReplicasNoWait(t *testing.T) {
	t.Parallel()
	s, _, proxy := replicatedStore(t, Replication{Replicas: 0, Timeout: time.Second})
	ctx := context.Background()
	proxy.Hold()
	before := waitCalls(t, s.c)
	sub := mailSub("gr-net", "z1@example.com", item(1, "PO-Z", "SN-Z"))
	out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmCommit(ctx, "gr-net", out.Decisions); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmWrites(ctx, "rmad:inbox"); err != nil {
		t.Fatal(err)
	}
	if n := waitCalls(t, s.c); n != before {
		t.Errorf("%d WAIT calls with min_replicas 0", n-before)
	}
}

// numberOf commits a fresh one-item submission and returns its number.
func numberOf(t *testing.T, s *Store, partner, msgID string) rma.Number {
	t.Helper()
	sub := mailSub(partner, msgID, item(1, "PO-"+msgID, "SN-"+msgID))
	out, err := s.Commit(context.Background(), sub, decide(sub.Items), testNow)
	if err != nil {
		t.Fatal(err)
	}
	n, err := rma.ParseNumber(out.Decisions[0].Number)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The counter losing writes (set back, as a failover to a replica that was behind would) never
// makes a number be given twice: the process's own memory, the high-water mark of another
// instance, and NumberingGuard's push of one instance's memory to the others each keep the
// next number above every number issued.
func TestNumberingGuard(t *testing.T) {
	for _, multi := range []bool{false, true} {
		t.Run(map[bool]string{false: "one script", true: "three steps"}[multi], func(t *testing.T) { testNumberingGuard(t, multi) })
	}
}

func testNumberingGuard(t *testing.T, multiStep bool) {
	ctx := context.Background()
	prefix := testPrefix(t)
	mk := func() *Store {
		s := New(testClient(t), prefix)
		s.multiStep = multiStep
		return s
	}
	a := mk()
	for i, want := range []int{1, 2, 3} {
		if n := numberOf(t, a, "gr-net", "a"+string(rune('0'+i))); n.N != want {
			t.Fatalf("number %d, want %d", n.N, want)
		}
	}
	seq := a.k.seq(2026)

	// The same process: its reservation raises the counter to what it gave out.
	a.c.Set(ctx, seq, 1, 0)
	if n := numberOf(t, a, "gr-net", "a-after-loss"); n.N != 4 {
		t.Fatalf("after the counter fell back to 1: number %d, want 4", n.N)
	}

	// Another instance knows nothing of a's numbers; the guard puts a's memory into the
	// high-water mark, and the counter back up.
	a.c.Set(ctx, seq, 2, 0)
	raised, err := a.NumberingGuard(ctx, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if len(raised) != 1 || raised[0] != (Raised{Year: 2026, From: 2, To: 4}) {
		t.Errorf("raised %+v, want 2026 from 2 to 4", raised)
	}
	if hw, _ := a.c.Get(ctx, a.k.issued(2026)).Int(); hw != 4 {
		t.Errorf("high-water mark %d after the guard, want 4", hw)
	}
	a.c.Set(ctx, seq, 2, 0) // lost again: b's reservation reads the high-water mark itself
	b := mk()
	if n := numberOf(t, b, "ro-tech", "b1"); n.N != 5 {
		t.Fatalf("other instance after the loss: number %d, want 5", n.N)
	}

	// A new process (no memory) on start: the high-water mark alone raises the counter.
	a.c.Set(ctx, a.k.issued(2026), 9, 0)
	a.c.Set(ctx, seq, 5, 0)
	fresh := mk()
	raised, err = fresh.NumberingGuard(ctx, 2026, 2025)
	if err != nil {
		t.Fatal(err)
	}
	if len(raised) != 1 || raised[0] != (Raised{Year: 2026, From: 5, To: 9}) {
		t.Errorf("raised %+v, want 2026 from 5 to 9", raised)
	}
	if n := numberOf(t, fresh, "gr-net", "f1"); n.N != 10 {
		t.Fatalf("after start: number %d, want 10", n.N)
	}
	// Nothing behind: nothing raised, the counter untouched.
	if raised, err := fresh.NumberingGuard(ctx, 2026); err != nil || len(raised) != 0 {
		t.Errorf("second guard: %+v %v", raised, err)
	}
}
