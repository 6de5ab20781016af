package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// KindUsage is what one kind of key costs in Redis (MEMORY USAGE, bytes).
type KindUsage struct {
	Kind  string
	Keys  int
	Bytes int64
}

// MemoryUsage scans every key under prefix and sums MEMORY USAGE per kind of key, largest
// first: the benchmark's answer to "what does an RMA cost in Redis". The kind is the key name
// after the prefix and hash tag up to its first colon ("rma", "hist", "own", a queue stream's
// name), and for markers (once:) and leases the marker's own first word too ("once:sent"). On
// Cluster every master is scanned.
func MemoryUsage(ctx context.Context, c redis.UniversalClient, prefix string) ([]KindUsage, error) {
	by := map[string]*KindUsage{}
	scan := func(ctx context.Context, n redis.Cmdable) error {
		iter := n.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		flush := func() error {
			pipe := n.Pipeline()
			cmds := make([]*redis.IntCmd, len(batch))
			for i, k := range batch {
				cmds[i] = pipe.MemoryUsage(ctx, k, 0)
			}
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				return err
			}
			for i, k := range batch {
				kind := KeyKind(prefix, k)
				u := by[kind]
				if u == nil {
					u = &KindUsage{Kind: kind}
					by[kind] = u
				}
				u.Keys++
				u.Bytes += cmds[i].Val() // 0 for a key that expired in between
			}
			batch = batch[:0]
			return nil
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		return flush()
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	} else {
		err = scan(ctx, c)
	}
	if err != nil {
		return nil, fmt.Errorf("memory usage of %s*: %w", prefix, err)
	}
	out := make([]KindUsage, 0, len(by))
	for _, u := range by {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b KindUsage) int {
		if a.Bytes != b.Bytes {
			return int(b.Bytes - a.Bytes)
		}
		return strings.Compare(a.Kind, b.Kind)
	})
	return out, nil
}

// KeyKind names the kind of a key under prefix (see MemoryUsage).
func KeyKind(prefix, key string) string {
	k := strings.TrimPrefix(key, prefix)
	if strings.HasPrefix(k, "{") {
		if i := strings.Index(k, "}:"); i >= 0 {
			tag := k[:i+1]
			k = k[i+2:]
			if tag == globalTag {
				k = "rma/" + k // the global slot's keys: seq, owner, ix:..., res:...
			}
		}
	}
	first, rest, _ := strings.Cut(k, ":")
	switch first {
	case "once", "lease", "rma/ix":
		second, _, _ := strings.Cut(rest, ":")
		return first + ":" + second
	}
	return first
}
