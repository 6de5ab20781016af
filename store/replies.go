package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ReplyRetention is how long the partner's last reply is kept for staff to send again.
const ReplyRetention = 30 * 24 * time.Hour

// ErrNoReply is returned by LastReply when no reply is kept for the RMA (older than
// ReplyRetention, or sent by an rmad that did not keep replies).
var ErrNoReply = errors.New("no reply kept for this RMA")

// Keys: {p:<partner>}:reply:<Message-ID> holds the composed mail (the caller's encoding), and
// {p:<partner>}:lastreply:<number> the Message-ID of the newest reply about that RMA; both
// expire after ReplyRetention. One reply covers all the RMAs of its submission, so it is kept
// once.
func (k keys) reply(partner, id string) string { return k.partner(partner) + "reply:" + id }
func (k keys) lastReply(partner, number string) string {
	return k.partner(partner) + "lastreply:" + number
}

// KeepReply keeps a reply sent to partner about numbers (payload: the composed mail) as their
// last reply. Keeping it again (a retry) changes nothing but the expiry.
func (s *Store) KeepReply(ctx context.Context, partner string, numbers []string, id string, payload []byte) error {
	if len(numbers) == 0 {
		return nil
	}
	pipe := s.c.TxPipeline()
	s.KeepReplyIn(ctx, pipe, partner, numbers, id, payload)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("keep reply %s: %w", id, err)
	}
	return nil
}

// KeepReplyIn is KeepReply with its writes queued on pipe, for the caller to send with what
// follows (the reply's outbox entry: one round trip). On a plain pipeline the reply goes
// before the pointers to it, so what a failure part way leaves is a reply nothing points to,
// which expires. It returns the commands, whose errors the caller checks after Exec.
func (s *Store) KeepReplyIn(ctx context.Context, pipe redis.Pipeliner, partner string, numbers []string, id string, payload []byte) []redis.Cmder {
	if len(numbers) == 0 {
		return nil
	}
	cmds := []redis.Cmder{pipe.Set(ctx, s.k.reply(partner, id), payload, ReplyRetention)}
	for _, n := range numbers {
		cmds = append(cmds, pipe.Set(ctx, s.k.lastReply(partner, n), id, ReplyRetention))
	}
	return cmds
}

// LastReply returns the last reply kept for partner's RMA number (ErrNoReply when none).
func (s *Store) LastReply(ctx context.Context, partner, number string) ([]byte, error) {
	id, err := s.c.Get(ctx, s.k.lastReply(partner, number)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", number, ErrNoReply)
	}
	if err != nil {
		return nil, fmt.Errorf("last reply of %s: %w", number, err)
	}
	b, err := s.c.Get(ctx, s.k.reply(partner, id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%s: %w", number, ErrNoReply)
	}
	if err != nil {
		return nil, fmt.Errorf("last reply of %s: %w", number, err)
	}
	return b, nil
}
