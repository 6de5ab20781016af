package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
)

func testClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testPrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
}

// fast options for tests: short block, timeout and backoff.
func fastOpts(consumer string) Options {
	return Options{Stream: Inbox, Consumer: consumer, Block: 100 * time.Millisecond,
		VisibilityTimeout: 2 * time.Second, MaxAttempts: 4,
		BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
}

// running starts q.Run in the background; the returned stop cancels it and waits.
func running(t *testing.T, q *Queue, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestAddRunAckAndDepth(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t)
	ctx := context.Background()
	q := New(c, prefix, fastOpts("c1"))
	for i := range 20 {
		if _, err := q.Add(ctx, []byte(fmt.Sprintf("m%d", i)), map[string]string{"n": fmt.Sprint(i), "kind": "mail"}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := q.Depth(ctx); err != nil || d != 20 {
		t.Fatalf("depth %d %v", d, err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	stop := running(t, q, func(ctx context.Context, m Message) error {
		if string(m.Payload) != "m"+m.Attrs["n"] || m.Attrs["kind"] != "mail" || m.Attempt != 1 {
			return fmt.Errorf("%w: bad message %+v", ErrPermanent, m)
		}
		mu.Lock()
		seen[m.Attrs["n"]]++
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 5*time.Second, "20 messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 20 })
	testenv.Eventually(t, 5*time.Second, "empty queue", func() bool { d, _ := q.Depth(ctx); return d == 0 })
	stop()
	for n, k := range seen {
		if k != 1 {
			t.Fatalf("message %s handled %d times", n, k)
		}
	}
	if dl, _ := q.DeadLetters(ctx, 0); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
	// Run returns promptly when its context ends, even while blocked in a read.
	q2 := New(c, prefix, Options{Stream: Outbox, Consumer: "c1", Block: 2 * time.Second})
	ctx2, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = q2.Run(ctx2, func(context.Context, Message) error { return nil }); close(done) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case <-done:
		if el := time.Since(start); el > 2500*time.Millisecond {
			t.Fatalf("Run took %v to stop", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// At start a consumer takes up its own pending entries first, without waiting for a timeout.
func TestOwnPendingFirstAfterRestart(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	opt := fastOpts("worker-1")
	opt.VisibilityTimeout = time.Hour // reclaim cannot be what finds it
	q := New(c, testPrefix(t), opt)
	if err := q.ensureGroup(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := q.Add(ctx, []byte("left over"), nil)
	// The previous life of worker-1 read it and died.
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "rmad", Consumer: "worker-1",
		Streams: []string{q.stream, ">"}, Count: 1, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	newer, _ := q.Add(ctx, []byte("new"), nil)
	var mu sync.Mutex
	var order []string
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		order = append(order, m.ID)
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 3*time.Second, "both", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
	stop()
	if order[0] != old || order[1] != newer {
		t.Fatalf("order %v, want pending %s before new %s", order, old, newer)
	}
}

// A consumer that died after reading: another consumer reclaims the entry after the
// visibility timeout.
func TestReclaimFromDeadConsumer(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	prefix := testPrefix(t)
	opt := fastOpts("alive")
	opt.VisibilityTimeout = 400 * time.Millisecond
	q := New(c, prefix, opt)
	_ = q.ensureGroup(ctx)
	id, _ := q.Add(ctx, []byte("orphan"), nil)
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "rmad", Consumer: "ghost",
		Streams: []string{q.stream, ">"}, Count: 1, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := make(chan Message, 2)
	stop := running(t, q, func(ctx context.Context, m Message) error { got <- m; return nil })
	select {
	case m := <-got:
		// The ghost's read was a delivery, so an attempt: it may have died in the handler.
		if m.ID != id || string(m.Payload) != "orphan" || m.Attempt != 2 {
			t.Fatalf("got %+v", m)
		}
		if el := time.Since(start); el < 300*time.Millisecond {
			t.Fatalf("reclaimed after %v, before the visibility timeout", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("entry of the dead consumer was not reclaimed")
	}
	testenv.Eventually(t, 2*time.Second, "ack", func() bool { d, _ := q.Depth(ctx); return d == 0 })
	stop()
	select {
	case m := <-got:
		t.Fatalf("handled twice: %+v", m)
	default:
	}
}

func TestRetryWithBackoffThenDeadLetterAndRetry(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	flaky, _ := q.Add(ctx, []byte("flaky"), map[string]string{"k": "flaky"})
	poison, _ := q.Add(ctx, []byte("poison"), map[string]string{"k": "poison"})
	perm, _ := q.Add(ctx, []byte("perm"), map[string]string{"k": "perm"})
	panicky, _ := q.Add(ctx, []byte("panic"), map[string]string{"k": "panic"})

	var mu sync.Mutex
	attempts := map[string][]time.Time{}
	var healed atomic.Bool
	stop := running(t, q, func(ctx context.Context, m Message) error {
		mu.Lock()
		attempts[m.Attrs["k"]] = append(attempts[m.Attrs["k"]], time.Now())
		n := len(attempts[m.Attrs["k"]])
		mu.Unlock()
		if n != m.Attempt {
			return fmt.Errorf("%w: Attempt %d on call %d", ErrPermanent, m.Attempt, n)
		}
		switch m.Attrs["k"] {
		case "flaky":
			if m.Attempt < 3 {
				return errors.New("smtp: 451 try again")
			}
		case "poison":
			if !healed.Load() {
				return fmt.Errorf("parse: bad mime (attempt %d)", m.Attempt)
			}
		case "perm":
			return fmt.Errorf("partner unknown: %w", ErrPermanent)
		case "panic":
			panic(testenv.Deliberate("a bug in the handler"))
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "3 dead letters", func() bool { dl, _ := q.DeadLetters(ctx, 0); return len(dl) == 3 })
	testenv.Eventually(t, 5*time.Second, "flaky done", func() bool { d, _ := q.Depth(ctx); return d == 0 })
	mu.Lock()
	fl := attempts["flaky"]
	if len(fl) != 3 {
		t.Fatalf("flaky: %d attempts", len(fl))
	}
	for i := 1; i < len(fl); i++ {
		// Backoff after attempt i is at least half of base·2^(i-1).
		if gap, least := fl[i].Sub(fl[i-1]), (20*time.Millisecond<<(i-1))/2; gap < least {
			t.Fatalf("retry %d after %v, want ≥ %v", i, gap, least)
		}
	}
	if len(attempts["poison"]) != 4 || len(attempts["perm"]) != 1 || len(attempts["panic"]) != 4 {
		t.Fatalf("attempts: poison %d perm %d panic %d", len(attempts["poison"]), len(attempts["perm"]), len(attempts["panic"]))
	}
	mu.Unlock()

	dls, err := q.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := q.DeadLetterCount(ctx); err != nil || n != 3 {
		t.Fatalf("dead letter count %d %v", n, err)
	}
	byOrigin := map[string]DeadLetter{}
	for _, d := range dls {
		byOrigin[d.OriginID] = d
		if d.Stream != Inbox || d.At.IsZero() || time.Since(d.At) > time.Minute {
			t.Fatalf("dead letter %+v", d)
		}
	}
	if d := byOrigin[poison]; d.Attempts != 4 || d.LastError != "parse: bad mime (attempt 4)" || d.Attrs["k"] != "poison" || d.Size != 6 {
		t.Fatalf("poison dead letter %+v", d)
	}
	if d := byOrigin[perm]; d.Attempts != 1 || !strings.Contains(d.LastError, "partner unknown") {
		t.Fatalf("permanent dead letter %+v", d)
	}
	if d := byOrigin[panicky]; d.Attempts != 4 || !strings.Contains(d.LastError, "panic") {
		t.Fatalf("panic dead letter %+v", d)
	}
	_ = flaky

	// Retry one: it comes back as a new message with fresh attempts and succeeds.
	healed.Store(true)
	mu.Lock()
	delete(attempts, "poison") // the requeued copy starts again at attempt 1
	mu.Unlock()
	if err := q.Retry(ctx, byOrigin[poison].ID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "retried poison", func() bool { d, _ := q.Depth(ctx); return d == 0 })
	mu.Lock()
	if n := len(attempts["poison"]); n != 1 {
		t.Fatalf("retried poison: %d attempts", n)
	}
	mu.Unlock()
	if err := q.Retry(ctx, byOrigin[poison].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of a retried dead letter: %v", err)
	}
	stop()
	mu.Lock()
	attempts = map[string][]time.Time{} // Attempt counts restart with the retried copies
	mu.Unlock()
	n, err := q.RetryAll(ctx)
	if err != nil || n != 2 {
		t.Fatalf("retry all: %d %v", n, err)
	}
	if dl, _ := q.DeadLetters(ctx, 0); len(dl) != 0 {
		t.Fatalf("dead letters after retry all: %+v", dl)
	}
	if d, _ := q.Depth(ctx); d != 2 {
		t.Fatalf("depth after retry all: %d", d)
	}
}

// A message that kills the process in every attempt still runs out of attempts: they are
// counted before the handler runs.
func TestCrashLoopingMessageGoesDead(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	_ = q.ensureGroup(ctx)
	id, _ := q.Add(ctx, []byte("kills the worker"), nil)
	_ = c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "rmad", Consumer: "c1", Streams: []string{q.stream, ">"}, Count: 1, Block: -1})
	// Four earlier lives each counted an attempt (a delivery) and died in the handler.
	c.Do(ctx, "XCLAIM", q.stream, "rmad", "c1", 0, id, "RETRYCOUNT", 4, "JUSTID")
	called := make(chan struct{}, 1)
	stop := running(t, q, func(context.Context, Message) error { called <- struct{}{}; return nil })
	testenv.Eventually(t, 3*time.Second, "dead letter", func() bool { dl, _ := q.DeadLetters(ctx, 0); return len(dl) == 1 })
	stop()
	select {
	case <-called:
		t.Fatal("handler ran a fifth time")
	default:
	}
	dl, _ := q.DeadLetters(ctx, 0)
	if dl[0].Attempts != 4 || !strings.Contains(dl[0].LastError, "stopped while handling") {
		t.Fatalf("dead letter %+v", dl[0])
	}
}

// A retry that waits longer than the visibility timeout stays with its consumer: it is kept
// fresh, not reclaimed and run early by another consumer.
func TestLongBackoffIsNotReclaimedEarly(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	prefix := testPrefix(t)
	var mu sync.Mutex
	var calls []time.Time
	h := func(ctx context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if len(calls) == 1 {
			return errors.New("later please")
		}
		return nil
	}
	for _, name := range []string{"a", "b"} {
		opt := fastOpts(name)
		opt.VisibilityTimeout = 300 * time.Millisecond
		opt.BaseBackoff, opt.MaxBackoff = 1500*time.Millisecond, 1500*time.Millisecond
		running(t, New(c, prefix, opt), h)
	}
	q := New(c, prefix, fastOpts("producer"))
	if _, err := q.Add(ctx, []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "second attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(calls) >= 2 })
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d attempts, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 750*time.Millisecond {
		t.Fatalf("retried after %v: the backoff (≥ 750ms) was cut short by a reclaim", gap)
	}
}

// NOGROUP: Redis lost the group (and even the stream); the consumer recreates it and goes on.
func TestNoGroupRecovered(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	got := make(chan string, 10)
	running(t, q, func(ctx context.Context, m Message) error { got <- string(m.Payload); return nil })
	_, _ = q.Add(ctx, []byte("before"), nil)
	if p := <-got; p != "before" {
		t.Fatal(p)
	}
	if err := c.XGroupDestroy(ctx, q.stream, "rmad").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	_, _ = q.Add(ctx, []byte("after destroy"), nil)
	select {
	case p := <-got:
		if p != "after destroy" {
			t.Fatal(p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not consumed after the group was destroyed")
	}
	if err := c.Del(ctx, q.stream).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	_, _ = q.Add(ctx, []byte("after flush"), nil)
	select {
	case p := <-got:
		if p != "after flush" {
			t.Fatal(p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not consumed after the stream was lost")
	}
}

// Two consumers with several handlers each share the work; each message is handled once.
func TestConsumersShareWork(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	prefix := testPrefix(t)
	const total = 300
	var mu sync.Mutex
	seen := map[string]string{}
	dup := ""
	for _, name := range []string{"a", "b"} {
		opt := fastOpts(name)
		opt.Concurrency = 4
		running(t, New(c, prefix, opt), func(ctx context.Context, m Message) error {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := seen[m.ID]; ok {
				dup = m.ID
			}
			seen[m.ID] = name
			return nil
		})
	}
	q := New(c, prefix, fastOpts("producer"))
	for i := range total {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "all handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == total })
	mu.Lock()
	defer mu.Unlock()
	if dup != "" {
		t.Fatalf("%s handled twice", dup)
	}
	per := map[string]int{}
	for _, who := range seen {
		per[who]++
	}
	t.Logf("share: %v", per)
}

func TestLargePayload(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 25<<20/16) // 25 MiB raw mail
	if _, err := q.Add(ctx, big, map[string]string{"mailbox": "partners"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool, 1)
	running(t, q, func(ctx context.Context, m Message) error { got <- bytes.Equal(m.Payload, big); return nil })
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("payload changed on the way")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("large message not handled")
	}
}

// A handler done with a big payload can let it go while it goes on (the inbox worker, once the
// mail is parsed): the queue keeps no reference to it meanwhile, and a dead letter made after
// still carries the payload (read back from the stream).
func TestHandlerLetsGoOfThePayload(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	big := bytes.Repeat([]byte("a raw mail line\r\n"), 1<<20/17)
	id, err := q.Add(ctx, big, nil)
	if err != nil {
		t.Fatal(err)
	}
	collected := make(chan bool, 1)
	running(t, q, func(ctx context.Context, m Message) error {
		if !bytes.Equal(m.Payload, big) {
			return fmt.Errorf("%w: payload changed on the way", ErrPermanent)
		}
		payload := weak.Make(&m.Payload[0])
		m.Payload = nil
		runtime.GC()
		runtime.GC()
		collected <- payload.Value() == nil
		return fmt.Errorf("%w: not wanted", ErrPermanent)
	})
	if !<-collected {
		t.Error("the payload was not collected while the handler ran: the queue held on to it")
	}
	var dl DeadLetter
	testenv.Eventually(t, 10*time.Second, "a dead letter", func() bool {
		dls, _ := q.DeadLetters(ctx, 0)
		if len(dls) == 1 {
			dl = dls[0]
		}
		return len(dls) == 1
	})
	d, payload, err := q.DeadLetter(ctx, dl.ID)
	if err != nil || d.OriginID != id || d.Size != len(big) || !bytes.Equal(payload, big) {
		t.Fatalf("dead letter %+v with %d bytes of payload (%v), want %s with the %d bytes", d, len(payload), err, id, len(big))
	}
}

func TestBackoffBounds(t *testing.T) {
	q := New(nil, "", Options{Stream: Inbox, BaseBackoff: time.Second, MaxBackoff: time.Minute})
	for attempt := 1; attempt <= 70; attempt++ {
		want := time.Minute
		if attempt <= 6 {
			want = time.Second << (attempt - 1)
		}
		for range 20 {
			if d := q.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if s := sibling("rmad:inbox", ":meta"); s != "rmad:inbox:meta{rmad:inbox}" {
		t.Fatal(s)
	}
	if s := sibling("{rmad}:inbox", ":meta"); s != "{rmad}:inbox:meta" {
		t.Fatal(s)
	}
}

// A handler that runs longer than the settle deadline still acknowledges: the deadline for
// settling starts when the handler returns (a slow SMTP relay once took 12 s a message).
func TestSlowHandlerStillAcks(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	opt := fastOpts("c1")
	opt.SettleTimeout = 100 * time.Millisecond
	q := New(c, testPrefix(t), opt)
	for i := range 3 {
		if _, err := q.Add(ctx, []byte(fmt.Sprint(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	stop := running(t, q, func(ctx context.Context, m Message) error {
		calls.Add(1)
		time.Sleep(4 * opt.SettleTimeout)
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "empty queue", func() bool { d, _ := q.Depth(ctx); return d == 0 })
	time.Sleep(300 * time.Millisecond) // a lost ack would show as a second call
	stop()
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler called %d times for 3 messages", n)
	}
	if dl, _ := q.DeadLetters(ctx, 0); len(dl) != 0 {
		t.Fatalf("dead letters: %+v", dl)
	}
}

// A handler's AckWith commands go with the acknowledgement of its handled message, and only
// then: not after a failed attempt, and never for a Message a caller made itself.
func TestAckWithRunsWithTheAck(t *testing.T) {
	c := testClient(t)
	prefix := testPrefix(t)
	ctx := context.Background()
	q := New(c, prefix, fastOpts("c1"))
	if (Message{}).AckWith(func(context.Context, redis.Pipeliner) func() { return nil }) {
		t.Fatal("AckWith kept a hook of a Message not read from a queue")
	}
	if _, err := q.Add(ctx, []byte("m"), nil); err != nil {
		t.Fatal(err)
	}
	var attempts, afters atomic.Int32
	stop := running(t, q, func(ctx context.Context, m Message) error {
		n := attempts.Add(1)
		m.AckWith(func(ctx context.Context, pipe redis.Pipeliner) func() {
			set := pipe.Set(ctx, prefix+"done", n, time.Minute)
			return func() {
				if set.Err() == nil {
					afters.Add(1)
				}
			}
		})
		if n == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, "the entry handled and acknowledged", func() bool {
		d, err := q.Depth(ctx)
		return err == nil && d == 0
	})
	stop()
	if v, err := c.Get(ctx, prefix+"done").Result(); err != nil || v != "2" {
		t.Fatalf("hook's key %q, %v; want it written by the second, successful attempt only", v, err)
	}
	if n := afters.Load(); n != 1 {
		t.Fatalf("hook's after ran %d times, want once", n)
	}
}
