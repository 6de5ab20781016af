package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrPayloadGone is returned by DeadLetter when the entry is listed but its payload is not
// kept any more.
var ErrPayloadGone = errors.New("the dead letter's payload is gone")

// DeadLetter returns one dead letter and its payload (the raw mail, for the inbox), for a
// person to look at (the console's dead-letter page, with the explain view). ErrNotFound for
// an unknown id.
func (q *Queue) DeadLetter(ctx context.Context, id string) (DeadLetter, []byte, error) {
	xs, err := q.c.XRange(ctx, q.dead, id, id).Result()
	if err != nil {
		return DeadLetter{}, nil, fmt.Errorf("queue %s: dead letter %s: %w", q.opt.Stream, id, err)
	}
	if len(xs) == 0 {
		return DeadLetter{}, nil, fmt.Errorf("queue %s: %s: %w", q.opt.Stream, id, ErrNotFound)
	}
	d := decodeDeadLetter(xs[0])
	payload, err := q.c.Get(ctx, q.deadPayload(d.OriginID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return d, nil, fmt.Errorf("queue %s: dead letter %s: %w", q.opt.Stream, id, ErrPayloadGone)
	}
	if err != nil {
		return d, nil, fmt.Errorf("queue %s: dead letter %s: %w", q.opt.Stream, id, err)
	}
	return d, payload, nil
}
