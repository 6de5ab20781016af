package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
)

// DeadLetter returns a dead letter with its payload; an unknown id is ErrNotFound, a letter
// whose payload was removed is ErrPayloadGone.
func TestDeadLetterPayload(t *testing.T) {
	c := testClient(t)
	ctx := context.Background()
	q := New(c, testPrefix(t), fastOpts("c1"))
	if _, err := q.Add(ctx, []byte("the raw mail"), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	stop := running(t, q, func(context.Context, Message) error { return errors.Join(errors.New("unreadable"), ErrPermanent) })
	testenv.Eventually(t, 10*time.Second, "a dead letter", func() bool { dl, _ := q.DeadLetters(ctx, 0); return len(dl) == 1 })
	stop()
	dls, _ := q.DeadLetters(ctx, 0)
	d, payload, err := q.DeadLetter(ctx, dls[0].ID)
	if err != nil || string(payload) != "the raw mail" || d.Attrs["k"] != "v" || d.OriginID != dls[0].OriginID {
		t.Fatalf("DeadLetter: %+v %q %v", d, payload, err)
	}
	if _, _, err := q.DeadLetter(ctx, "1-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	c.Del(ctx, q.deadPayload(d.OriginID))
	if _, _, err := q.DeadLetter(ctx, d.ID); !errors.Is(err, ErrPayloadGone) {
		t.Fatalf("payload gone: %v", err)
	}
}
