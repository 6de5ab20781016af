// Package store keeps rmad's RMA records in Redis: numbering, deduplication, records with their
// history and indexes, mailbox cursors, idempotency markers and leases.
//
// # Key layout and Redis Cluster
//
// Every key starts with redis.key_prefix (P below). Keys that one Lua script touches share a
// hash tag, so the scripts also run on Redis Cluster:
//
//   - P{p:<partner>}:... holds everything of one partner: its submissions' stored outcomes
//     (sub:<id>, packed, kept SubmissionTTL), its records (rma:<yyyy>:<n>, a small hash with
//     the decision packed in 64-byte fields) and their histories (hist:<yyyy>:<n>, from the
//     first status change on: the creation entry is implied by the record), the
//     dedupe keys (own:<own number>, oserial:<serial> for the serial's open RMA) and the indexes
//     (sn:<serial>, a hash whose fields are the serial's closed RMAs: an open one is found by
//     its oserial key; status:<status>, updated) and listed (set once the partner is in
//     partners); for compacted RMAs their packed value (c:<yyyy>:<n>) and the compacted
//     index of their own numbers and serials (cx:<bucket>, compact.go).
//     Small hashes are kept as listpacks, which Redis 7.0 does not do for sets of strings.
//   - P{rma}:... holds what is global: the per-year counters (seq:<yyyy>), who owns a number
//     (owner:<yyyy>), the partners that have records (partners), the number reservations
//     (res:<submission id>) and the high-water marks of the numbers issued (issued:<yyyy>).
//
// On a single server or a Sentinel-managed master a commit (of at most commitChunk items that
// need numbers) is one script, commitOneScript: it classifies the items, numbers the new ones
// (raising the counter to the high-water mark first when it is behind), writes the records,
// dedupe keys, worklist and tracking indexes, and stores the outcome (the classification with
// the new numbers, and the decisions as given), all or nothing. On Redis Cluster the global
// counter and the partner's keys live on two slots, so a commit is three steps there:
//
//  1. classify (partner slot, read only): a stored outcome for the submission means a replay;
//     otherwise each item that needs a number is new or a duplicate of an existing RMA.
//  2. reserve (counter slot): as many numbers as there are new items, kept under the
//     submission's id, so a retry of the same submission gets the same numbers back and a
//     number is never taken twice for one item.
//  3. commit (partner slot): checks that the classification still holds, then writes the
//     records, indexes, dedupe keys and the submission's outcome
//     in one atomic step. If a concurrent commit changed the picture, the steps are repeated.
//
// The worklist index of the new RMAs is a fourth, idempotent step there (see worklist.go). A
// number can only be skipped when another submission claims the same own number or serial
// between steps 1 and 3; the item then turns out a duplicate and its reserved number stays
// unused. A crash between the steps skips nothing: the retry finds its reservation.
//
// Statuses change through rma.CheckTransition with a compare-and-set script, so two writers
// never both apply a change to the same old status.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// ErrNotFound is returned for an RMA number that has no record.
var ErrNotFound = errors.New("rma not found")

// Connect opens the client that cfg describes: a Cluster (redis.cluster), a Sentinel-managed
// master (redis.sentinel) or a single server (redis.url). With Cluster or Sentinel, redis.url
// may still carry the username, database and TLS (rediss://); its host is then ignored. The
// password comes from cfg.Password (password_file / RMAD_REDIS_PASSWORD) when set.
func Connect(ctx context.Context, cfg config.Redis) (redis.UniversalClient, error) {
	var base *redis.Options
	if cfg.URL != "" {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		base = o
	} else if cfg.Cluster == nil && cfg.Sentinel == nil {
		return nil, errors.New("redis: set redis.url, redis.sentinel or redis.cluster")
	} else {
		base = &redis.Options{}
	}
	if pw := cfg.Password.Reveal(); pw != "" {
		base.Password = pw
	}

	var c redis.UniversalClient
	var where string
	switch {
	case cfg.Cluster != nil:
		if len(cfg.Cluster.Addresses) == 0 {
			return nil, errors.New("redis.cluster.addresses is empty")
		}
		c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:     cfg.Cluster.Addresses,
			Username:  base.Username,
			Password:  base.Password,
			TLSConfig: base.TLSConfig,
		})
		where = "cluster " + strings.Join(cfg.Cluster.Addresses, ",")
	case cfg.Sentinel != nil:
		if cfg.Sentinel.Master == "" || len(cfg.Sentinel.Addresses) == 0 {
			return nil, errors.New("redis.sentinel needs master and addresses")
		}
		c = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    cfg.Sentinel.Master,
			SentinelAddrs: cfg.Sentinel.Addresses,
			Username:      base.Username,
			Password:      base.Password,
			DB:            base.DB,
			TLSConfig:     base.TLSConfig,
		})
		where = "sentinel " + cfg.Sentinel.Master + "@" + strings.Join(cfg.Sentinel.Addresses, ",")
	default:
		c = redis.NewClient(base)
		where = base.Addr
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis %s: %w", where, err)
	}
	return c, nil
}

// CheckPersistence refuses a Redis that does not write an append-only file, unless
// allowVolatile: without AOF a Redis restart loses submissions that rmad already took out of
// the mailbox. Where CONFIG is disabled (managed Redis), INFO persistence answers instead. On
// Cluster every master is checked.
func CheckPersistence(ctx context.Context, c redis.UniversalClient, allowVolatile bool) error {
	if allowVolatile {
		return nil
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			return checkAOF(ctx, n, n.Options().Addr)
		})
	}
	return checkAOF(ctx, c, "")
}

func checkAOF(ctx context.Context, c redis.Cmdable, node string) error {
	on, err := aofEnabled(ctx, c)
	if err != nil {
		return err
	}
	if on {
		return nil
	}
	if node != "" {
		node = " " + node
	}
	return fmt.Errorf("redis%s has no AOF persistence, so a restart would lose queued mail and RMA numbers: "+
		"enable it with `redis-cli CONFIG SET appendonly yes` followed by `redis-cli CONFIG REWRITE` "+
		"(or `appendonly yes` in redis.conf), or set redis.allow_volatile: true to run without it (tests and demos only)", node)
}

func aofEnabled(ctx context.Context, c redis.Cmdable) (bool, error) {
	m, cfgErr := c.ConfigGet(ctx, "appendonly").Result()
	if cfgErr == nil {
		if v, ok := m["appendonly"]; ok {
			return strings.EqualFold(v, "yes"), nil
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	info, err := c.Info(ctx, "persistence").Result()
	if err != nil {
		return false, fmt.Errorf("redis persistence check: CONFIG GET appendonly: %v; INFO persistence: %w", cfgErr, err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "aof_enabled:"); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("redis persistence check: INFO persistence has no aof_enabled line (CONFIG GET: %v)", cfgErr)
}

// Store is the RMA record store. It is safe for concurrent use.
type Store struct {
	c       redis.UniversalClient
	k       keys
	repl    Replication
	waitAOF waitAOFCache
	issued  issuedMemory
	log     zerolog.Logger
	// multiStep: a commit is the three steps of the package comment, not one script, and a
	// status change takes its general path (Cluster: the partner's keys and the global ones
	// are on two slots).
	multiStep bool
	// savedDicts: the kept-mail dictionaries this store wrote to Redis, and when (saveMailDict).
	savedDicts sync.Map
}

// New returns a store that keeps its keys under prefix (redis.key_prefix).
func New(c redis.UniversalClient, prefix string) *Store {
	_, cluster := c.(*redis.ClusterClient)
	return &Store{c: c, k: keys{prefix: prefix}, multiStep: cluster}
}

// keys builds every key name; see the package comment for the layout.
type keys struct{ prefix string }

const globalTag = "{rma}"

// partner is the hash-tagged prefix of a partner's keys. An ID with braces would break the
// tag, so such IDs are replaced by a digest.
func (k keys) partner(id string) string {
	if strings.ContainsAny(id, "{}") {
		id = "h:" + shortHash(id)
	}
	return k.prefix + "{p:" + id + "}:"
}

func (k keys) sub(partner, subID string) string   { return k.partner(partner) + "sub:" + subID }
func (k keys) own(partner, own string) string     { return k.partner(partner) + "own:" + own }
func (k keys) oserial(partner, ser string) string { return k.partner(partner) + "oserial:" + ser }
func (k keys) serial(partner, ser string) string  { return k.partner(partner) + "sn:" + ser }

// serialSet is the serial index as a set, as versions before the hash (serial) wrote it: read,
// never written.
func (k keys) serialSet(partner, ser string) string { return k.partner(partner) + "serial:" + ser }
func (k keys) status(partner string, st string) string {
	return k.partner(partner) + "status:" + st
}
func (k keys) updated(partner string) string { return k.partner(partner) + "updated" }

// listed is set, with the partner added to partners, by the first one-script commit that
// numbers an RMA of the partner: the commits after it read it (in their one MGET) instead of
// adding the partner again.
func (k keys) listed(partner string) string { return k.partner(partner) + "listed" }
func (k keys) rec(partner string, n numberKey) string {
	return k.partner(partner) + "rma:" + n.String()
}
func (k keys) hist(partner string, n numberKey) string {
	return k.partner(partner) + "hist:" + n.String()
}

func (k keys) seq(year int) string { return fmt.Sprintf("%s%s:seq:%04d", k.prefix, globalTag, year) }
func (k keys) owner(year int) string {
	return fmt.Sprintf("%s%s:owner:%04d", k.prefix, globalTag, year)
}

// issued is the high-water mark of a year's numbers given out in replies (ConfirmCommit).
func (k keys) issued(year int) string {
	return fmt.Sprintf("%s%s:issued:%04d", k.prefix, globalTag, year)
}
func (k keys) partners() string                { return k.prefix + globalTag + ":partners" }
func (k keys) reservation(subID string) string { return k.prefix + globalTag + ":res:" + subID }

func (k keys) once(key string) string       { return k.prefix + "once:" + key }
func (k keys) cursor(mailbox string) string { return k.prefix + "cursor:" + mailbox }
func (k keys) response(key string) string   { return k.prefix + "resp:" + key }
func (k keys) lease(name string) string     { return k.prefix + "lease:" + name }

// numberKey is the "yyyy:n" form of an RMA number used in key names and reservations.
type numberKey struct{ Year, N int }

func (n numberKey) String() string { return fmt.Sprintf("%04d:%d", n.Year, n.N) }

func parseNumberKey(s string) (numberKey, error) {
	y, n, ok := strings.Cut(s, ":")
	year, err1 := strconv.Atoi(y)
	num, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return numberKey{}, fmt.Errorf("bad number key %q", s)
	}
	return numberKey{Year: year, N: num}, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// normOwn and normSerial make the dedupe and look-up keys forgiving of case and spacing.
func normOwn(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), " ")) }

func normSerial(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }

// LogRedisTo sends go-redis's own messages (connection pool trouble, failed dials) to l as
// warnings instead of its plain lines on stderr. It sets a process-wide logger: call it once
// at start-up.
func LogRedisTo(l zerolog.Logger) { redis.SetLogger(redisLogger{l}) }

type redisLogger struct{ l zerolog.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Warn().Msgf(format, v...)
}

// MemoryPolicy returns Redis's maxmemory-policy (from CONFIG GET, else INFO memory where
// CONFIG is disabled). rmad needs noeviction: any other policy lets Redis drop queued mail and
// RMA records when it runs out of memory.
func MemoryPolicy(ctx context.Context, c redis.Cmdable) (string, error) {
	if m, err := c.ConfigGet(ctx, "maxmemory-policy").Result(); err == nil {
		if v, ok := m["maxmemory-policy"]; ok {
			return v, nil
		}
	}
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return "", fmt.Errorf("redis memory policy: %w", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			return v, nil
		}
	}
	return "", errors.New("redis memory policy: neither CONFIG GET nor INFO memory tells it")
}
