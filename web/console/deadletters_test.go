package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
)

// deadQueue is an outbox whose n messages all failed for good with why.
func deadQueue(t *testing.T, n int, why string) *queue.Queue {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rc.Close() })
	q := queue.New(rc, "test:dl:"+randomToken()[:10]+":", queue.Options{Stream: "outbox", Group: "couriers", Consumer: "t"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range n {
		if _, err := q.Add(ctx, []byte("payload"), map[string]string{"message_id": fmt.Sprintf("m%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		_ = q.Run(ctx, func(context.Context, queue.Message) error { return fmt.Errorf("%s: %w", why, queue.ErrPermanent) })
		close(done)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if k, _ := q.DeadLetterCount(ctx); k == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.New("dead letters not filed"))
		}
	}
	cancel()
	<-done
	return q
}

func TestDeadLettersForAdminsOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := deadQueue(t, 2, "550 mailbox <x@example.com> unknown")
	e.c.cfg.DeadLetters = []*queue.Queue{q}
	agent := e.signedIn("ann", annPassword)
	wantStatus(t, agent.get("/console/dead-letters"), http.StatusForbidden)
	wantStatus(t, agent.post("/console/dead-letters/retry", "all", "1"), http.StatusForbidden)
	wantNotIn(t, agent.get("/console/"), "/console/dead-letters")
	if k, _ := q.DeadLetterCount(t.Context()); k != 2 {
		t.Fatalf("an agent's retry went through: %d left", k)
	}

	admin := e.signedIn("root", rootPassword)
	p := admin.get("/console/dead-letters")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, "550 mailbox &lt;x@example.com&gt; unknown", "m0@example.com", "m1@example.com", "outbox")
	dls, _ := q.DeadLetters(t.Context(), 0)
	p = admin.post("/console/dead-letters/retry", "stream", dls[0].Stream, "id", dls[0].ID)
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, "Put back on their queue: 1")
	if k, _ := q.DeadLetterCount(t.Context()); k != 1 {
		t.Fatalf("after retrying one: %d left", k)
	}
	wantIn(t, admin.post("/console/dead-letters/retry", "all", "1"), "Put back on their queue: 1", "No dead letters.")
}
