package store

import (
	"context"
	"fmt"
	"time"
)

// Mark records that something was done (e.g. "sent:<Message-ID>"), for ttl.
func (s *Store) Mark(ctx context.Context, key string, ttl time.Duration) error {
	if err := s.c.Set(ctx, s.k.once(key), time.Now().UTC().Format(time.RFC3339), ttl).Err(); err != nil {
		return fmt.Errorf("mark %s: %w", key, err)
	}
	return nil
}

// Marked reports whether Mark (or Once) recorded key and it has not expired.
func (s *Store) Marked(ctx context.Context, key string) (bool, error) {
	n, err := s.c.Exists(ctx, s.k.once(key)).Result()
	if err != nil {
		return false, fmt.Errorf("marked %s: %w", key, err)
	}
	return n > 0, nil
}
