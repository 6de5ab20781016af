package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// Unread partner notes (the console): the time of each RMA's newest partner note is kept in one
// sorted set ({rma}:pnotes, number → unix ms; entries older than NotesWindow are dropped), and
// each staff member's last look at each RMA in a hash ({rma}:seen:<user>, number → unix ms,
// expiring NotesWindow after the last look). A note is unread for a user when it is newer than
// that user's last look, so the worklist's count reads the recent notes and one HMGET — never
// the records.
const NotesWindow = 90 * 24 * time.Hour

func (k keys) partnerNotes() string    { return k.prefix + globalTag + ":pnotes" }
func (k keys) seen(user string) string { return k.prefix + globalTag + ":seen:" + user }

// indexPartnerNote records that number got a partner note at at (called for each partner event
// addEvent writes or finds written; ZADD GT keeps the newest).
func (s *Store) indexPartnerNote(ctx context.Context, number string, at time.Time) error {
	err := s.c.ZAddGT(ctx, s.k.partnerNotes(), redis.Z{Score: float64(at.UnixMilli()), Member: number}).Err()
	if err != nil {
		return fmt.Errorf("partner note index %s: %w", number, err)
	}
	return nil
}

// MarkSeen records that user opened number at at, and returns when the user had opened it
// before (zero for never).
func (s *Store) MarkSeen(ctx context.Context, user, number string, at time.Time) (time.Time, error) {
	key := s.k.seen(user)
	pipe := s.c.TxPipeline()
	prev := pipe.HGet(ctx, key, number)
	pipe.HSet(ctx, key, number, at.UnixMilli())
	pipe.Expire(ctx, key, NotesWindow)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return time.Time{}, fmt.Errorf("mark %s seen by %s: %w", number, user, err)
	}
	ms, err := strconv.ParseInt(prev.Val(), 10, 64)
	if err != nil {
		return time.Time{}, nil
	}
	return time.UnixMilli(ms), nil
}

// UnreadNotes returns the RMAs with a partner note user has not seen (newer than the user's
// last look, within NotesWindow of now), each with the time of its newest note.
func (s *Store) UnreadNotes(ctx context.Context, user string, now time.Time) (map[string]time.Time, error) {
	from := now.Add(-NotesWindow).UnixMilli()
	key := s.k.partnerNotes()
	if err := s.c.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(from, 10)).Err(); err != nil {
		return nil, fmt.Errorf("unread notes: %w", err)
	}
	zs, err := s.c.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: strconv.FormatInt(from, 10), Max: "+inf"}).Result()
	if err != nil || len(zs) == 0 {
		return map[string]time.Time{}, err
	}
	numbers := make([]string, len(zs))
	for i, z := range zs {
		numbers[i], _ = z.Member.(string)
	}
	seen, err := s.c.HMGet(ctx, s.k.seen(user), numbers...).Result()
	if err != nil {
		return nil, fmt.Errorf("unread notes of %s: %w", user, err)
	}
	out := map[string]time.Time{}
	for i, z := range zs {
		var last int64
		if v, ok := seen[i].(string); ok {
			last, _ = strconv.ParseInt(v, 10, 64)
		}
		if int64(z.Score) > last {
			out[numbers[i]] = time.UnixMilli(int64(z.Score))
		}
	}
	return out, nil
}

// LastSeen returns when user last opened each of numbers (those never opened are missing).
func (s *Store) LastSeen(ctx context.Context, user string, numbers []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(numbers))
	if len(numbers) == 0 {
		return out, nil
	}
	vals, err := s.c.HMGet(ctx, s.k.seen(user), numbers...).Result()
	if err != nil {
		return nil, fmt.Errorf("last looks of %s: %w", user, err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if ms, err := strconv.ParseInt(str, 10, 64); err == nil {
				out[numbers[i]] = time.UnixMilli(ms)
			}
		}
	}
	return out, nil
}

// GetMany returns the records of numbers, of any partners, in their order, in a few round
// trips (the worklist's unread-only view); numbers without a record are left out.
func (s *Store) GetMany(ctx context.Context, numbers []string) ([]rma.Record, error) {
	nks := make([]numberKey, 0, len(numbers))
	for _, n := range numbers {
		if num, err := rma.ParseNumber(n); err == nil {
			nks = append(nks, numberKey{Year: num.Year, N: num.N})
		}
	}
	return s.loadNumbers(ctx, nks)
}
