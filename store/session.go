package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Staff console sessions live under P session:<sha256 of the id>, so a copy of the database
// holds no usable cookie; login failures are counted under P throttle:<key>.

func (k keys) session(id string) string {
	sum := sha256.Sum256([]byte(id))
	return k.prefix + "session:" + hex.EncodeToString(sum[:])
}

func (k keys) throttle(key string) string { return k.prefix + "throttle:" + key }

// ErrNoSession is returned for a session id that is unknown, ended or expired.
var ErrNoSession = errors.New("no such session")

// Session is a signed-in staff member's session.
type Session struct {
	User    string    `json:"user"`
	Role    string    `json:"role"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
}

// PutSession stores a session under id; it expires after idle without a Touch.
func (s *Store) PutSession(ctx context.Context, id string, sess Session, idle time.Duration) error {
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	if err := s.c.Set(ctx, s.k.session(id), b, idle).Err(); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// TouchSession returns the session and extends its idle time (GETEX), or ErrNoSession.
func (s *Store) TouchSession(ctx context.Context, id string, idle time.Duration) (Session, error) {
	b, err := s.c.GetEx(ctx, s.k.session(id), idle).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(b, &sess); err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return sess, nil
}

// EndSession deletes a session (sign-out, or expired by its maximum age).
func (s *Store) EndSession(ctx context.Context, id string) error {
	if err := s.c.Del(ctx, s.k.session(id)).Err(); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	return nil
}

// Failures returns how many failures are counted under key (within their window).
func (s *Store) Failures(ctx context.Context, key string) (int, error) {
	n, err := s.c.Get(ctx, s.k.throttle(key)).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("throttle: %w", err)
	}
	return n, nil
}

// AddFailure counts one failure under key; the count is forgotten window after the first.
func (s *Store) AddFailure(ctx context.Context, key string, window time.Duration) (int, error) {
	pipe := s.c.TxPipeline()
	incr := pipe.Incr(ctx, s.k.throttle(key))
	pipe.ExpireNX(ctx, s.k.throttle(key), window)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("throttle: %w", err)
	}
	return int(incr.Val()), nil
}

// ClearFailures forgets the failures under key (after a successful sign-in).
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if err := s.c.Del(ctx, s.k.throttle(key)).Err(); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}
