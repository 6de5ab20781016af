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
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/rma"
)

// Replication says how many replicas must confirm the writes that release a mail or a number
// (redis.min_replicas, redis.replica_timeout). Without that, a failover to a replica that had
// not yet received them loses mail already moved out of the mailbox and gives numbers partners
// already hold to other mails.
type Replication struct {
	Replicas int           // 0: nothing waits, no extra round trip
	Timeout  time.Duration // how long one confirmation may wait
}

// NotReplicatedError is a write that not enough replicas confirmed in time. It is not the
// message's fault: the caller does not acknowledge and tries again later.
type NotReplicatedError struct {
	Node      string // the master's address, when known
	Want, Got int
	Timeout   time.Duration
	Command   string // WAIT or WAITAOF
}

func (e *NotReplicatedError) Error() string {
	node := ""
	if e.Node != "" {
		node = " on " + e.Node
	}
	return fmt.Sprintf("redis%s: %s: %d of %d replicas (redis.min_replicas) confirmed the write within %s (redis.replica_timeout)",
		node, e.Command, e.Got, e.Want, e.Timeout)
}

// StoreUnavailable is true: too few replicas in time is the store's state, not the message's
// fault (queue.StoreUnavailable reads it).
func (e *NotReplicatedError) StoreUnavailable() bool { return true }

// IsNotReplicated reports whether err is (or wraps) a NotReplicatedError.
func IsNotReplicated(err error) bool {
	var e *NotReplicatedError
	return errors.As(err, &e)
}

// SetReplication makes ConfirmWrites and ConfirmCommit wait for r.Replicas replicas. Call it
// before the store is used.
func (s *Store) SetReplication(r Replication) { s.repl = r }

// Replication is what SetReplication set.
func (s *Store) Replication() Replication { return s.repl }

// markerTTL bounds the life of the key a confirmation writes when it has nothing else to write.
const markerTTL = 10 * time.Minute

// ConfirmWrites waits until the configured number of replicas hold every write done before it
// on the masters of keys (one per Cluster node; one in all otherwise). Replication is in order,
// so a write of our own on a master, confirmed with WAIT on the same connection, confirms every
// earlier write there, whichever connection made it. A NotReplicatedError says that they did
// not in time. With Replicas 0 it sends nothing.
func (s *Store) ConfirmWrites(ctx context.Context, keys ...string) error {
	if s.repl.Replicas <= 0 || len(keys) == 0 {
		return nil
	}
	return s.confirm(ctx, keys, nil)
}

// ConfirmReplicas is ConfirmWrites on the numbering slot and keys (the inbox stream, say): nil
// while their masters have redis.min_replicas replicas that confirm a write in time, which the
// daemon's health check asks. With Replicas 0 it sends nothing.
func (s *Store) ConfirmReplicas(ctx context.Context, keys ...string) error {
	return s.ConfirmWrites(ctx, append([]string{s.k.seq(0)}, keys...)...)
}

// ConfirmCommit confirms a commit of partner's before its reply is queued (ConfirmWrites on the
// numbering slot and the partner's), and records the highest number of decisions per year as
// issued (the high-water mark NumberingGuard and every reservation check against), in the same
// round trip as the numbering slot's WAIT.
func (s *Store) ConfirmCommit(ctx context.Context, partner string, decisions []rma.Decision) error {
	if s.repl.Replicas <= 0 {
		return nil
	}
	high := map[int]int{}
	for _, d := range decisions {
		if n, err := rma.ParseNumber(d.Number); err == nil && n.N > high[n.Year] {
			high[n.Year] = n.N
		}
	}
	var hwKeys []string
	var hwArgs []any
	for y, n := range high {
		hwKeys = append(hwKeys, s.k.issued(y))
		hwArgs = append(hwArgs, n)
	}
	return s.confirm(ctx, []string{s.k.seq(0), s.k.partner(partner)}, func(key string) ([]string, []any) {
		if key == s.k.seq(0) && len(hwKeys) > 0 {
			return hwKeys, hwArgs
		}
		return nil, nil
	})
}

// raiseScript sets each KEYS[i] to ARGV[i] where it holds less (or nothing): the high-water
// marks and, for NumberingGuard, the counters. It returns the keys it raised with their old value.
var raiseScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  local old = tonumber(redis.call('GET', k) or '0')
  local want = tonumber(ARGV[i])
  if old < want then
    redis.call('SET', k, want)
    out[#out + 1] = k
    out[#out + 1] = tostring(old)
  end
end
return out
`)

// confirm runs, per master holding keys, one pipeline on one connection: the raise script when
// writes names keys of that node to raise, a marker key, then WAIT (or WAITAOF) for them.
func (s *Store) confirm(ctx context.Context, keys []string, writes func(key string) ([]string, []any)) error {
	type node struct {
		c      *redis.Client
		marker string
		hwKeys []string
		hwArgs []any
	}
	var nodes []*node
	byAddr := map[string]*node{}
	for _, k := range keys {
		var c *redis.Client
		switch rc := s.c.(type) {
		case *redis.ClusterClient:
			m, err := rc.MasterForKey(ctx, k)
			if err != nil {
				return fmt.Errorf("confirm writes: master of %s: %w", k, err)
			}
			c = m
		case *redis.Client:
			c = rc
		default:
			return fmt.Errorf("confirm writes: unsupported client %T", s.c)
		}
		addr := c.Options().Addr
		n := byAddr[addr]
		if n == nil {
			n = &node{c: c, marker: replicatedMarker(k)}
			byAddr[addr] = n
			nodes = append(nodes, n)
		}
		if writes != nil {
			hk, ha := writes(k)
			n.hwKeys, n.hwArgs = append(n.hwKeys, hk...), append(n.hwArgs, ha...)
		}
	}
	for _, n := range nodes {
		if err := s.confirmNode(ctx, n.c, n.marker, n.hwKeys, n.hwArgs); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) confirmNode(ctx context.Context, c *redis.Client, marker string, hwKeys []string, hwArgs []any) error {
	addr := c.Options().Addr
	aof, err := s.hasWaitAOF(ctx, c)
	if err != nil {
		return fmt.Errorf("confirm writes: %w", err)
	}
	// The WAIT blocks for up to Timeout: the connection's read deadline must outlast it.
	c = c.WithTimeout(max(c.Options().ReadTimeout, s.repl.Timeout+3*time.Second))
	pipe := c.Pipeline()
	if len(hwKeys) > 0 {
		// EVAL, not EVALSHA: a master just promoted has an empty script cache, and a pipeline
		// cannot fall back on NOSCRIPT.
		raiseScript.Eval(ctx, pipe, hwKeys, hwArgs...)
	}
	// Always, and last before the WAIT: WAIT waits for the connection's last write that reached
	// the replication stream, and a raise that changed nothing (a retry) is not replicated, so
	// WAIT would confirm an older write of this connection at once.
	pipe.Set(ctx, marker, time.Now().UnixMilli(), markerTTL)
	ms := s.repl.Timeout.Milliseconds()
	command := "WAIT"
	var wait *redis.Cmd
	if aof {
		// 0 local: the master's own fsync is its appendfsync policy; what a failover loses is
		// what the replicas do not have.
		command = "WAITAOF"
		wait = pipe.Do(ctx, "WAITAOF", 0, s.repl.Replicas, ms)
	} else {
		wait = pipe.Do(ctx, "WAIT", s.repl.Replicas, ms)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("confirm writes on %s: %s: %w", addr, command, err)
	}
	got := 0
	if aof {
		if v, err := wait.Int64Slice(); err == nil && len(v) == 2 {
			got = int(v[1])
		}
	} else if v, err := wait.Int(); err == nil {
		got = v
	}
	if got < s.repl.Replicas {
		if addr == "FailoverClient" { // go-redis's name for the Sentinel-managed master
			addr = ""
		}
		return &NotReplicatedError{Node: addr, Want: s.repl.Replicas, Got: got, Timeout: s.repl.Timeout, Command: command}
	}
	return nil
}

// hasWaitAOF reports whether the server at c has WAITAOF (Redis 7.2 and later; Debian 12's 7.0
// has not), asked once per address.
func (s *Store) hasWaitAOF(ctx context.Context, c *redis.Client) (bool, error) {
	addr := c.Options().Addr
	s.waitAOF.mu.Lock()
	v, ok := s.waitAOF.at[addr]
	s.waitAOF.mu.Unlock()
	if ok {
		return v, nil
	}
	res, err := c.Do(ctx, "COMMAND", "INFO", "WAITAOF").Slice()
	if err != nil {
		return false, fmt.Errorf("COMMAND INFO WAITAOF on %s: %w", addr, err)
	}
	v = len(res) == 1 && res[0] != nil
	s.waitAOF.mu.Lock()
	if s.waitAOF.at == nil {
		s.waitAOF.at = map[string]bool{}
	}
	s.waitAOF.at[addr] = v
	s.waitAOF.mu.Unlock()
	return v, nil
}

// waitAOFCache remembers per master address whether it has WAITAOF.
type waitAOFCache struct {
	mu sync.Mutex
	at map[string]bool
}

// replicatedMarker is a key on key's Cluster slot that a confirmation may write.
func replicatedMarker(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			return key[:open+end+2] + ":replicated"
		}
	}
	return "{" + key + "}:replicated"
}

// issuedMemory is the highest number per year this process reserved. It outlives a failover
// that loses the counter's latest writes, so every reservation raises the counter to it first.
type issuedMemory struct {
	mu   sync.Mutex
	high map[int]int
}

func (m *issuedMemory) note(nums []numberKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.high == nil {
		m.high = map[int]int{}
	}
	for _, n := range nums {
		m.high[n.Year] = max(m.high[n.Year], n.N)
	}
}

func (m *issuedMemory) get(year int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.high[year]
}

func (m *issuedMemory) all() map[int]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]int, len(m.high))
	for y, n := range m.high {
		out[y] = n
	}
	return out
}

// Raised is a counter NumberingGuard or a reservation found below the highest number issued.
type Raised struct {
	Year     int
	From, To int
}

// NumberingGuard compares the numbering counters of years (and of every year this process
// issued numbers in) with the highest number issued: the high-water mark kept by ConfirmCommit
// and this process's own memory. A counter below it (the master lost its latest writes: a
// failover to a replica that was behind, a restart without the last fsync) is raised, so no
// number a partner may hold is given again. The daemon runs it on start and on every master
// change (and so it also forgets which masters have WAITAOF); what it raised is returned for
// the log.
func (s *Store) NumberingGuard(ctx context.Context, years ...int) ([]Raised, error) {
	// A new master may be another Redis version: ask it again whether it has WAITAOF.
	s.waitAOF.mu.Lock()
	clear(s.waitAOF.at)
	s.waitAOF.mu.Unlock()
	floor := s.issued.all()
	for _, y := range years {
		if _, ok := floor[y]; !ok {
			floor[y] = 0
		}
	}
	var ys []int
	var hwKeys []string
	for y := range floor {
		ys = append(ys, y)
		hwKeys = append(hwKeys, s.k.issued(y))
	}
	marks, err := s.c.MGet(ctx, hwKeys...).Result()
	if err != nil {
		return nil, fmt.Errorf("numbering guard: %w", err)
	}
	var keys []string
	var args []any
	want := map[string]int{}
	for i, y := range ys {
		n := floor[y]
		if str, ok := marks[i].(string); ok {
			if v, err := strconv.Atoi(str); err == nil {
				n = max(n, v)
			}
		}
		if n == 0 {
			continue
		}
		keys = append(keys, s.k.seq(y))
		args = append(args, n)
		want[s.k.seq(y)] = n
		if floor[y] > 0 { // what only this process knew goes into the high-water mark too
			keys = append(keys, s.k.issued(y))
			args = append(args, n)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	res, err := raiseScript.Run(ctx, s.c, keys, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("numbering guard: %w", err)
	}
	var raised []Raised
	for i := 0; i+1 < len(res); i += 2 {
		to, ok := want[res[i]]
		if !ok {
			continue // a high-water mark, not a counter
		}
		from, _ := strconv.Atoi(res[i+1])
		y, _ := strconv.Atoi(res[i][strings.LastIndexByte(res[i], ':')+1:])
		raised = append(raised, Raised{Year: y, From: from, To: to})
	}
	return raised, nil
}

// MasterID identifies the master that holds the numbering counters (its run id), so a change
// of master, or a restart of it, is seen.
func (s *Store) MasterID(ctx context.Context) (string, error) {
	var c redis.Cmdable = s.c
	if cc, ok := s.c.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, s.k.seq(0))
		if err != nil {
			return "", err
		}
		c = m
	}
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v, nil
		}
	}
	return "", errors.New("INFO server has no run_id")
}

// SetLogger gives the store a logger for what it repairs by itself (a numbering counter found
// behind the numbers issued). Without one it logs nothing.
func (s *Store) SetLogger(l zerolog.Logger) { s.log = l }

func (s *Store) raisedLog(year int, mark string) {
	from, to, _ := strings.Cut(strings.TrimPrefix(mark, "raised:"), ":")
	s.log.Warn().Str("component", "store").Int("year", year).Str("counter", from).Str("issued", to).
		Msg("numbering counter was below the highest number issued (Redis lost writes); raised before numbering")
}
