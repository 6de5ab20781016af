package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/store"
)

func TestGuardTakeover(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	prefix := make([]byte, 6)
	_, _ = rand.Read(prefix)
	wall := time.Now()
	g := Guard{Responses: store.New(c, "test:"+hex.EncodeToString(prefix)+":"), Now: func() time.Time { return wall }}
	ctx := t.Context()

	if _, owned, err := g.Acquire(ctx, "dji", "m1"); err != nil || !owned {
		t.Fatalf("first attempt: owned %v, %v", owned, err)
	}
	// The holder fails without an answer. A retry soon after is told to come back.
	if _, owned, err := g.Acquire(ctx, "dji", "m1"); owned || !errors.Is(err, ErrInProgress) {
		t.Fatalf("retry while locked: owned %v, %v", owned, err)
	}
	// Once the lock is stale the retry takes the delivery over.
	wall = wall.Add(StaleAfter + time.Second)
	if _, owned, err := g.Acquire(ctx, "dji", "m1"); err != nil || !owned {
		t.Fatalf("takeover: owned %v, %v", owned, err)
	}
	first := Answer{Status: 200, Body: []byte(`{"ok":"1"}`)}
	if got, err := g.Complete(ctx, "dji", "m1", first); err != nil || string(got.Body) != string(first.Body) {
		t.Fatalf("complete: %s %v", got.Body, err)
	}
	// From now on the answer is replayed, whatever the clock says.
	wall = wall.Add(3 * StaleAfter)
	a, owned, err := g.Acquire(ctx, "dji", "m1")
	if err != nil || owned || a.Status != 200 || string(a.Body) != string(first.Body) {
		t.Fatalf("after completion: owned %v, %d %s, %v", owned, a.Status, a.Body, err)
	}
	// A second completion (a takeover whose holder was alive after all) keeps the first answer.
	other := Answer{Status: 200, Body: []byte(`{"ok":"2"}`)}
	if got, _ := g.Complete(ctx, "dji", "m1", other); string(got.Body) != string(first.Body) {
		t.Fatalf("second completion replaced the answer: %s", got.Body)
	}
	// Other ids and sources are separate.
	if _, owned, _ := g.Acquire(ctx, "dji", "m1:0"); !owned {
		t.Fatal("id m1:0 shares m1's lock")
	}
	if _, owned, _ := g.Acquire(ctx, "portal", "m1"); !owned {
		t.Fatal("source portal shares dji's lock")
	}
}
