package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// LinkKey is the key that signs repair-estimate links when the configuration names none: 32
// random bytes made by the first instance that asks and kept in Redis without expiry, so every
// instance of that Redis signs and checks alike and links survive restarts.
func (s *Store) LinkKey(ctx context.Context) ([]byte, error) {
	k := s.k.prefix + "estimate:link_key"
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("estimate link key: %w", err)
	}
	if err := s.c.SetNX(ctx, k, hex.EncodeToString(fresh), 0).Err(); err != nil {
		return nil, fmt.Errorf("estimate link key: %w", err)
	}
	v, err := s.c.Get(ctx, k).Result()
	if err != nil {
		return nil, fmt.Errorf("estimate link key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("estimate link key %s in Redis is damaged: delete it (links sent so far stop working)", k)
	}
	return key, nil
}
