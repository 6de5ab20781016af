package queue

import (
	"context"
	"fmt"
)

// DeadLetterCount is the number of entries in the queue's dead-letter stream (for metrics).
func (q *Queue) DeadLetterCount(ctx context.Context) (int64, error) {
	n, err := q.c.XLen(ctx, q.dead).Result()
	if err != nil {
		return 0, fmt.Errorf("queue %s: dead letters: %w", q.opt.Stream, err)
	}
	return n, nil
}
