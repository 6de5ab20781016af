package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Markers hold "1" (only their existence counts: a small integer costs Redis no allocation).

// Once reports true the first time it is called for key within ttl (SET NX): rate limits,
// "reply sent" markers, one cron run per schedule tick across instances.
func (s *Store) Once(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.c.SetNX(ctx, s.k.once(key), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("once %s: %w", key, err)
	}
	return ok, nil
}

// Mark sets the marker key for ttl, whether or not it was set: a "sent" marker written after
// the work is done. It shares Once's markers.
func (s *Store) Mark(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.c.Set(ctx, s.k.once(key), "1", ttl).Err(); err != nil {
		return fmt.Errorf("mark %s: %w", key, err)
	}
	return nil
}

// Marked reports whether the marker key is set (by Mark or Once) and not expired.
func (s *Store) Marked(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Exists(ctx, s.k.once(key)).Result()
	if err != nil {
		return false, fmt.Errorf("marked %s: %w", key, err)
	}
	return n == 1, nil
}

// Cursor returns a mailbox's UIDVALIDITY and the last UID fully handed to the inbox queue; both
// are 0 for a mailbox never read.
func (s *Store) Cursor(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error) {
	vals, err := s.c.HMGet(ctx, s.k.cursor(mailbox), "uid_validity", "last_uid").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("cursor %s: %w", mailbox, err)
	}
	parse := func(v any) (uint32, error) {
		str, ok := v.(string)
		if !ok { // missing field
			return 0, nil
		}
		n, err := strconv.ParseUint(str, 10, 32)
		return uint32(n), err
	}
	if uidValidity, err = parse(vals[0]); err != nil {
		return 0, 0, fmt.Errorf("cursor %s: uid_validity: %w", mailbox, err)
	}
	if lastUID, err = parse(vals[1]); err != nil {
		return 0, 0, fmt.Errorf("cursor %s: last_uid: %w", mailbox, err)
	}
	return uidValidity, lastUID, nil
}

// SetCursor records a mailbox's UIDVALIDITY and last handled UID.
func (s *Store) SetCursor(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	err := s.c.HSet(ctx, s.k.cursor(mailbox), "uid_validity", uidValidity, "last_uid", lastUID).Err()
	if err != nil {
		return fmt.Errorf("set cursor %s: %w", mailbox, err)
	}
	return nil
}

// rememberScript stores a response unless one is stored: KEYS[1]; ARGV value, ttl ms.
var rememberScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// RememberResponse keeps the response to a webhook delivery id for ttl. The first call stores
// status and body and reports seen false; later calls get the first response back with seen
// true, so a replayed delivery is answered the same and never applied twice.
func (s *Store) RememberResponse(ctx context.Context, key string, status int, body []byte, ttl time.Duration) (prevStatus int, prevBody []byte, seen bool, err error) {
	val := strconv.Itoa(status) + "\n" + string(body)
	prev, err := rememberScript.Run(ctx, s.c, []string{s.k.response(key)}, val, ttl.Milliseconds()).Text()
	return parseResponse("remember response", key, prev, err)
}

// PeekResponse returns the response RememberResponse keeps for key, with seen false when there
// is none (never stored, or expired). It only reads.
func (s *Store) PeekResponse(ctx context.Context, key string) (status int, body []byte, seen bool, err error) {
	val, err := s.c.Get(ctx, s.k.response(key)).Result()
	return parseResponse("peek response", key, val, err)
}

// parseResponse reads a stored "status\nbody" value; a redis.Nil err means none is stored.
func parseResponse(op, key, val string, err error) (status int, body []byte, seen bool, _ error) {
	if errors.Is(err, redis.Nil) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("%s %s: %w", op, key, err)
	}
	code, rest, ok := strings.Cut(val, "\n")
	st, cerr := strconv.Atoi(code)
	if !ok || cerr != nil {
		return 0, nil, false, fmt.Errorf("%s %s: stored value is malformed", op, key)
	}
	return st, []byte(rest), true, nil
}

// ContentKeyedSince is when this Redis first served a version of rmad that keys mail by its
// decoded content (the first call's now, kept for good). Until SubmissionTTL after it, state
// under the earlier keys may still exist (KeyedBefore); after that none can. The first call
// also notes whether the store held any partner's data then (OldKeysUntil).
func (s *Store) ContentKeyedSince(ctx context.Context, now time.Time) (time.Time, error) {
	k := s.k.once("content-keys-since")
	first, err := s.c.SetNX(ctx, k, now.Unix(), 0).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("content keys: %w", err)
	}
	if first {
		held, err := s.heldPartnerData(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("content keys: %w", err)
		}
		if !held {
			// Created by a content-keyed version: nothing was ever keyed the old way.
			if err := s.c.Set(ctx, s.k.once("content-keys-fresh"), "1", 0).Err(); err != nil {
				return time.Time{}, fmt.Errorf("content keys: %w", err)
			}
		}
	}
	v, err := s.c.Get(ctx, k).Int64()
	if err != nil {
		return time.Time{}, fmt.Errorf("content keys: %w", err)
	}
	return time.Unix(v, 0), nil
}

// OldKeysUntil is until when a mail must be checked for state under the keys of versions
// before mails were keyed by content (KeyedBefore): SubmissionTTL after ContentKeyedSince, or
// ContentKeyedSince itself (never) for a store that held no partner's data when a
// content-keyed version first served it, so a store created fresh saves the check on every
// mail.
func (s *Store) OldKeysUntil(ctx context.Context, now time.Time) (time.Time, error) {
	since, err := s.ContentKeyedSince(ctx, now)
	if err != nil {
		return time.Time{}, err
	}
	n, err := s.c.Exists(ctx, s.k.once("content-keys-fresh")).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("content keys: %w", err)
	}
	if n > 0 {
		return since, nil
	}
	return since.Add(SubmissionTTL), nil
}

// heldPartnerData reports whether any key of a partner's slot exists (a submission's outcome,
// a record, a thread entry: what handling a mail writes).
func (s *Store) heldPartnerData(ctx context.Context) (bool, error) {
	held := false
	err := s.scanKeys(ctx, escapeGlob(s.k.prefix)+"{p:*", func(context.Context, redis.Cmdable, []string) (bool, error) {
		held = true
		return false, nil
	})
	return held, err
}

// scanKeys calls fn with the keys matching a glob pattern, a batch at a time, on the server
// that holds them (every master of a Cluster), until fn says to stop or all are seen.
func (s *Store) scanKeys(ctx context.Context, match string, fn func(context.Context, redis.Cmdable, []string) (bool, error)) error {
	var mu sync.Mutex // fn runs for one master at a time
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			ks, next, err := c.Scan(ctx, cursor, match, 1000).Result()
			if err != nil {
				return err
			}
			if len(ks) > 0 {
				mu.Lock()
				more, err := fn(ctx, c, ks)
				mu.Unlock()
				if err != nil || !more {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	}
	return scan(ctx, s.c)
}

// escapeGlob quotes the characters a Redis glob pattern gives a meaning.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
