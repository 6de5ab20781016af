// Package queue is rmad's work queue on Redis Streams: the inbox (raw mail and webhook
// submissions) and the outbox (replies to send).
//
// A Queue is one stream with one consumer group and a dead-letter stream. Every rmad instance
// runs a consumer in the group, so the instances share the work. An entry is acknowledged only
// after its handler succeeded, and deleted with it: so that a busy queue does not pay an XACK
// and an XDEL per entry, a consumer settles the small entries handled at their first attempt
// in batches (one XDEL and one XACK for up to deleteBatch of them, at most deleteDelay after
// the first, or a quarter of the visibility timeout when that is shorter), while an entry of
// deleteAtOnceFrom bytes or more (a large raw mail) or one that failed before is acknowledged
// and deleted at once. A crash before its batch hands a handled entry out once more, as a crash
// between a handler and its ack always could (handlers are idempotent: a commit replays, a sent
// marker stops a second send); until then this consumer does not take it up again itself.
// Entries a crash left acknowledged but not deleted are removed by a sweep (XTRIM MINID below
// the group's oldest pending entry and its last delivered one: everything there is done) when
// a consumer starts and every sweepEvery in which it acknowledged entries. Depth does not count
// the handled entries this Queue still has to settle, so it is the work not yet done, up to
// handled entries of other instances for at most deleteDelay (or, after a crash, until they
// are handled again or a sweep).
//
//   - At start a consumer first takes up its own pending entries (left by a crash), then new ones.
//   - An entry whose consumer went quiet for longer than the visibility timeout is reclaimed
//     (XAUTOCLAIM) by another consumer. A consumer keeps the entries it holds fresh (every
//     third of the timeout) so slow handlers and waiting retries are not taken from it.
//   - A failed attempt stays pending and is tried again after an exponential backoff with
//     jitter. Attempts are counted in Redis before the handler runs, so a message that crashes
//     the process also runs out of attempts: the count is the entry's delivery count in the
//     consumer group (XPENDING), which every read that hands it out raises (a new entry's
//     first read, the pending scan after a restart, XAUTOCLAIM, the claim of a due retry) and
//     a refresh (XCLAIM JUSTID) does not; an attempt that was not the message's fault is
//     uncounted by setting it back (XCLAIM RETRYCOUNT). So the happy path writes nothing per
//     entry besides the stream itself.
//   - After MaxAttempts, or at once for an error wrapping ErrPermanent, the entry moves to the
//     dead-letter stream with its last error; Retry puts it back.
//   - A failure of Redis itself (see StoreUnavailable; or any error while Redis fails a PING)
//     is not an attempt: the consumer holds back, logs it once per StoreLogEvery, and goes on
//     when Redis serves again, however long it was away.
//   - A handler error wrapping ErrHold (the handler's own dependency is down) is not an attempt
//     either: the entry waits until Options.Ready returns, with every other entry.
//   - A lost consumer group (NOGROUP: Redis lost its data) is created again from the start of
//     the stream, which then holds only unfinished work.
//
// It needs Redis 6.2 or later (XAUTOCLAIM).
//
// The last error and due time of a failed attempt live in a hash that shares the stream's hash
// slot, so acknowledging is one pipeline to one node on Redis Cluster too (not MULTI, which Redis refuses when out of memory). The dead-letter stream is another key (its name is fixed as
// <prefix>dead:<stream>); moving an entry there writes the dead letter first and then
// acknowledges, so a crash in between can only deliver the entry once more.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// ErrPermanent marks a handler error that no retry can fix (wrap it: fmt.Errorf("...: %w",
// queue.ErrPermanent)); the entry goes to the dead letters at once.
var ErrPermanent = errors.New("permanent failure")

// ErrHold marks a handler error that is the fault of something the handler needs, not of the
// message (an SMTP relay that does not answer): the attempt is not counted and never leads to a
// dead letter, and the entry is tried again as soon as Options.Ready lets the consumer go on.
var ErrHold = errors.New("held until what the handler needs is back")

// ErrNotFound is returned by Retry for an unknown dead-letter id.
var ErrNotFound = errors.New("dead letter not found")

// Stream names of rmad's two queues (before the key prefix).
const (
	Inbox  = "inbox"
	Outbox = "outbox"
)

// Options configure a Queue. Zero values take the defaults in brackets.
type Options struct {
	Stream   string // stream name without prefix: Inbox or Outbox
	Group    string // consumer group ["rmad"]
	Consumer string // this consumer's name, stable across restarts of one instance [host-pid]
	// Block is how long one read waits for new entries; reads repeat until the context ends,
	// because cancelling a context does not interrupt a blocked read. [1s]
	Block time.Duration
	// VisibilityTimeout is how long an entry may go without a sign of life from its consumer
	// before another consumer takes it over. [1m]
	VisibilityTimeout time.Duration
	MaxAttempts       int           // attempts before an entry is dead [8]
	BaseBackoff       time.Duration // wait after the first failure, doubled each time [1s]
	MaxBackoff        time.Duration // longest wait between attempts [5m]
	Concurrency       int           // handlers running at once [1]
	// ReadAhead is how many new entries a read takes beyond the free handlers, to hand to the
	// next handlers that come free without a read of their own: fewer XREADGROUP calls when
	// there is a backlog. They are this consumer's (pending, kept fresh) while they wait, for
	// no longer than a handler takes, and a shutdown gives them back uncounted. A large entry
	// (deleteAtOnceFrom or more) read ahead is not held in memory: it is read again when a
	// handler is free for it. [0]
	ReadAhead int
	// ShutdownGrace is how long running handlers may finish after Run's context ends before
	// their own context is cancelled. [0: cancelled at once]
	ShutdownGrace time.Duration
	// SettleTimeout bounds the Redis commands that count an attempt before the handler and
	// settle it (ack, retry, dead letter) after; the settling deadline starts when the handler
	// returns, however long it ran. [10s]
	SettleTimeout time.Duration
	// StorePing checks that the store the handler uses can serve; a handler error while it
	// fails is not counted as an attempt. [PING the queue's client, every master of a Cluster]
	StorePing func(context.Context) error
	// StoreLogEvery: while Redis cannot serve (down, out of memory, ...) the consumer logs
	// the failure at most once per this interval. [30s]
	StoreLogEvery time.Duration
	// Ready, when set, blocks until what the handlers need is usable (or ctx ends): the
	// consumer takes no entry while it blocks, and every entry held by ErrHold is due the
	// moment it returns. [nil: never blocks]
	Ready func(ctx context.Context)
	// Log is the caller's component logger (component=queue); entries add stream=<Stream>.
	Log zerolog.Logger
}

func (o *Options) defaults() {
	if o.Group == "" {
		o.Group = "rmad"
	}
	if o.Consumer == "" {
		host, _ := os.Hostname()
		o.Consumer = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Block <= 0 {
		o.Block = time.Second
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.StoreLogEvery <= 0 {
		o.StoreLogEvery = 30 * time.Second
	}
	if o.SettleTimeout <= 0 {
		o.SettleTimeout = 10 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
}

// Queue is one stream, its consumer group and its dead-letter stream.
type Queue struct {
	c      redis.UniversalClient
	opt    Options
	stream string // <prefix><name>
	meta   string // attempt counters, errors and due times, on the stream's slot
	dead   string // <prefix>dead:<name>
	log    zerolog.Logger

	// done holds handled entries not yet acknowledged and deleted from the stream (doneSet
	// the same ids, for the runner's look-ups); deleting takes delMu for writing from its XDEL
	// until done no longer lists them, and Depth for reading around its XLEN, so what it
	// subtracts is still in the stream.
	delMu     sync.RWMutex
	doneMu    sync.Mutex
	done      []string
	doneSet   map[string]struct{}
	doneTimer *time.Timer
	acked     atomic.Bool // an entry was acknowledged since the last sweep
}

// Deleting acknowledged entries: see the package comment.
const (
	deleteBatch      = 100
	deleteDelay      = 250 * time.Millisecond
	deleteAtOnceFrom = 256 << 10
	sweepEvery       = 10 * time.Second
)

// New returns the queue opt.Stream under prefix (redis.key_prefix).
func New(c redis.UniversalClient, prefix string, opt Options) *Queue {
	opt.defaults()
	if opt.StorePing == nil {
		opt.StorePing = pingAll(c)
	}
	stream := prefix + opt.Stream
	dead := prefix + "dead:" + opt.Stream
	return &Queue{
		c: c, opt: opt, stream: stream, dead: dead, doneSet: map[string]struct{}{},
		meta: sibling(stream, ":meta"),
		log:  opt.Log.With().Str("stream", opt.Stream).Logger(),
	}
}

// Key is the stream's Redis key (for store.ConfirmWrites after Add).
func (q *Queue) Key() string { return q.stream }

// Pipeline is a plain pipeline on the queue's Redis, for AddIn with the caller's commands.
func (q *Queue) Pipeline() redis.Pipeliner { return q.c.Pipeline() }

// Name is the stream's name without prefix.
func (q *Queue) Name() string { return q.opt.Stream }

// sibling names a key on the same Cluster slot as key.
func sibling(key, suffix string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			return key + suffix // key's own hash tag decides
		}
		return key + suffix // no valid tag: cannot be pinned, fine on a single Redis
	}
	return key + suffix + "{" + key + "}"
}

// Entry fields in the stream.
const (
	fieldPayload = "payload"
	fieldAttrs   = "attrs"
	fieldAdded   = "added"
)

// Add appends a message; payload may be large (a raw mail of up to 25 MiB).
func (q *Queue) Add(ctx context.Context, payload []byte, attrs map[string]string) (string, error) {
	pipe := q.c.Pipeline()
	add := q.AddIn(ctx, pipe, payload, attrs)
	_, _ = pipe.Exec(ctx)
	return add()
}

// AddIn is Add with the entry's XADD queued on pipe, to go with the caller's own commands in
// one round trip; once pipe ran, result returns the new entry's id or the error.
func (q *Queue) AddIn(ctx context.Context, pipe redis.Pipeliner, payload []byte, attrs map[string]string) (result func() (string, error)) {
	values := []any{fieldPayload, payload, fieldAdded, time.Now().UnixMilli()}
	if len(attrs) > 0 {
		a, _ := json.Marshal(attrs) // map[string]string cannot fail
		values = append(values, fieldAttrs, a)
	}
	add := pipe.XAdd(ctx, &redis.XAddArgs{Stream: q.stream, Values: values})
	return func() (string, error) {
		id, err := add.Result()
		if err != nil {
			return "", fmt.Errorf("queue %s: add: %w", q.opt.Stream, err)
		}
		return id, nil
	}
}

// Depth is the number of messages not yet done: waiting, in progress or waiting for a retry.
// It is the stream's length less the entries this Queue acknowledged and has not deleted yet;
// another instance's are counted until it deletes them (see the package comment).
func (q *Queue) Depth(ctx context.Context) (int64, error) {
	pipe := q.c.Pipeline()
	result := q.DepthIn(ctx, pipe)
	_, _ = pipe.Exec(ctx) // result reads the command's own outcome
	return result()
}

// DepthIn is Depth with its XLEN queued on pipe, so that the depths of several queues cost one
// round trip; result, which must be called once pipe ran, returns it. Until then the queue
// deletes no acknowledged entries (they would be subtracted twice).
func (q *Queue) DepthIn(ctx context.Context, pipe redis.Pipeliner) (result func() (int64, error)) {
	q.delMu.RLock()
	q.doneMu.Lock()
	done := int64(len(q.done))
	q.doneMu.Unlock()
	n := pipe.XLen(ctx, q.stream)
	return func() (int64, error) {
		q.delMu.RUnlock()
		if err := n.Err(); err != nil {
			return 0, fmt.Errorf("queue %s: depth: %w", q.opt.Stream, err)
		}
		return max(0, n.Val()-done), nil
	}
}

// Message is one queued item as a handler gets it.
type Message struct {
	ID string
	// Payload is read-only: it shares memory with the stream reply's string (no copy of a
	// raw mail of up to 25 MiB), so a handler that must change it copies it first.
	Payload []byte
	Attrs   map[string]string
	Attempt int // 1 for the first attempt

	acks *ackHooks // nil for a Message a caller made itself
}

// AckHook adds commands to the pipeline that acknowledges a handled message, ahead of the
// acknowledgement's own, and returns what to do once the pipeline ran (check its commands'
// results; may be nil).
type AckHook func(ctx context.Context, pipe redis.Pipeliner) (after func())

type ackHooks struct {
	mu sync.Mutex
	fs []AckHook
}

// AckWith has f's commands sent once m's handler returned nil, in the round trip that
// acknowledges m (on Redis Cluster a pipeline to each node they touch), before the ack's own
// commands; when m's ack waits for a batch (see the package comment), in a round trip of their
// own then. It returns false, keeping nothing, when m did not come from a Queue: the caller
// then runs its commands itself. f is not called when the handler fails; when the round trip
// fails, its commands may not have run (the entry is handled again).
func (m Message) AckWith(f AckHook) bool {
	if m.acks == nil {
		return false
	}
	m.acks.mu.Lock()
	m.acks.fs = append(m.acks.fs, f)
	m.acks.mu.Unlock()
	return true
}

// payloadBack is m with its payload read back from the stream (the runner lets go of it while
// the handler runs); an entry no longer there leaves it empty.
func (q *Queue) payloadBack(ctx context.Context, m Message) (Message, error) {
	xs, err := q.c.XRange(ctx, q.stream, m.ID, m.ID).Result()
	if err != nil {
		return m, fmt.Errorf("queue %s: read %s back: %w", q.opt.Stream, m.ID, err)
	}
	if len(xs) == 1 {
		if p, ok := xs[0].Values[fieldPayload].(string); ok {
			m.Payload = unsafe.Slice(unsafe.StringData(p), len(p))
		}
	}
	return m, nil
}

func decodeMessage(x redis.XMessage) (Message, error) {
	m := Message{ID: x.ID}
	p, ok := x.Values[fieldPayload].(string)
	if !ok {
		return m, fmt.Errorf("entry %s has no payload", x.ID)
	}
	// The string is go-redis's own fresh copy of the reply: use its bytes instead of copying
	// them again (a raw mail is up to 25 MiB). Handlers only read the payload.
	m.Payload = unsafe.Slice(unsafe.StringData(p), len(p))
	if a, ok := x.Values[fieldAttrs].(string); ok && a != "" {
		if err := json.Unmarshal([]byte(a), &m.Attrs); err != nil {
			return m, fmt.Errorf("entry %s: attrs: %w", x.ID, err)
		}
	}
	return m, nil
}

// ensureGroup creates the consumer group (and the stream) if missing. It starts at the
// beginning: the stream holds only unfinished work, and entries added before any consumer ran
// must not be skipped.
func (q *Queue) ensureGroup(ctx context.Context) error {
	err := q.c.XGroupCreateMkStream(ctx, q.stream, q.opt.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("queue %s: create group %s: %w", q.opt.Stream, q.opt.Group, err)
	}
	return nil
}

func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// Meta hash fields of one entry, written when an attempt failed. fAttempts is the attempt
// counter of versions before attempts were delivery counts: ack still deletes it.
func fAttempts(id string) string { return id + ":n" }
func fError(id string) string    { return id + ":err" }
func fDue(id string) string      { return id + ":due" }
func fFailed(id string) string   { return id + ":at" }

// ack finishes an entry: acknowledged, deleted from the stream (with later, when it is small:
// see deleteLater), and with meta its failure fields gone (an entry in its first attempt has
// none: it never failed). It is a plain pipeline, not MULTI: Redis over maxmemory (noeviction)
// refuses a transaction but not these commands, which only free memory. Deleting comes first,
// so a crash part way leaves at most a pending id without an entry (admit acknowledges it) and
// a few stale fields; a crash before a later delete leaves done entries for the sweep.
func (q *Queue) ack(ctx context.Context, id string, meta bool, hooks ...AckHook) error {
	return q.ackSized(ctx, id, meta, deleteAtOnceFrom, hooks...)
}

// ackSized is ack of an entry whose payload is size bytes: one smaller than deleteAtOnceFrom,
// in its first attempt, is acknowledged and deleted with the next batch (its hooks' commands
// go now, alone).
func (q *Queue) ackSized(ctx context.Context, id string, meta bool, size int, hooks ...AckHook) error {
	later := !meta && size < deleteAtOnceFrom
	if later && len(hooks) == 0 {
		q.deleteLater(id)
		return nil
	}
	pipe := q.c.Pipeline()
	afters := make([]func(), 0, len(hooks))
	for _, f := range hooks {
		if after := f(ctx, pipe); after != nil {
			afters = append(afters, after)
		}
	}
	var own []redis.Cmder
	if !later {
		own = append(own, pipe.XDel(ctx, q.stream, id), pipe.XAck(ctx, q.stream, q.opt.Group, id))
		if meta {
			own = append(own, pipe.HDel(ctx, q.meta, fAttempts(id), fError(id), fDue(id), fFailed(id)))
		}
	}
	_, execErr := pipe.Exec(ctx) // each command's own error below: a hook's failing is the hook's
	for _, after := range afters {
		after()
	}
	var reply redis.Error
	if later && execErr != nil && !errors.As(execErr, &reply) {
		// The round trip failed, not a command in it: handled again, as when an ack fails.
		return fmt.Errorf("queue %s: ack %s: %w", q.opt.Stream, id, execErr)
	}
	for _, c := range own {
		if err := c.Err(); err != nil {
			return fmt.Errorf("queue %s: ack %s: %w", q.opt.Stream, id, err)
		}
	}
	if later {
		q.deleteLater(id)
		return nil
	}
	q.acked.Store(true)
	return nil
}

// sweepLoop sweeps the stream every sweepEvery in which an entry was acknowledged here, until
// ctx ends: entries a crash left are gone at most sweepEvery after the work behind them is done.
func (q *Queue) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if q.acked.Swap(false) {
			q.sweep(ctx)
		}
	}
}

// deleteLater lists a handled entry for the next batch: at once when the batch is full, else
// at most batchDelay from the first entry of the batch.
func (q *Queue) deleteLater(id string) {
	q.doneMu.Lock()
	q.done = append(q.done, id)
	q.doneSet[id] = struct{}{}
	n := len(q.done)
	if n == 1 {
		q.doneTimer = time.AfterFunc(q.batchDelay(), func() { q.deleteDone(context.Background()) })
	}
	q.doneMu.Unlock()
	if n >= deleteBatch {
		go q.deleteDone(context.Background())
	}
}

// batchDelay is how long a handled entry may wait for its batch: deleteDelay, or less with a
// short visibility timeout, so that no consumer takes it for quiet meanwhile (it is not kept
// fresh while it waits).
func (q *Queue) batchDelay() time.Duration { return min(deleteDelay, q.opt.VisibilityTimeout/4) }

// handled says whether id is a handled entry this Queue has yet to acknowledge: not to be
// handled again by this consumer (a pending scan or a reclaim lists it).
func (q *Queue) handled(id string) bool {
	q.doneMu.Lock()
	defer q.doneMu.Unlock()
	_, ok := q.doneSet[id]
	return ok
}

// deleteDone deletes and acknowledges the handled entries listed so far, with one XDEL and one
// XACK in one round trip (deleting first: a crash in between leaves a pending id without an
// entry, which admit acknowledges); when the delete fails they are listed again for a later
// one. Once deleted an entry is done: a failed XACK only leaves its id pending, to be
// acknowledged when a consumer finds it without its entry.
func (q *Queue) deleteDone(ctx context.Context) {
	q.delMu.Lock()
	defer q.delMu.Unlock()
	q.doneMu.Lock()
	ids := q.done
	q.done = nil
	if q.doneTimer != nil {
		q.doneTimer.Stop()
		q.doneTimer = nil
	}
	q.doneMu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, q.opt.SettleTimeout)
	defer cancel()
	pipe := q.c.Pipeline()
	del := pipe.XDel(ctx, q.stream, ids...)
	ack := pipe.XAck(ctx, q.stream, q.opt.Group, ids...)
	_, _ = pipe.Exec(ctx)
	if err := del.Err(); err != nil && !errors.Is(err, redis.ErrClosed) {
		// Listed again for the next try (Depth keeps not counting them, the runner does not
		// take them up), up to a bound: what falls off is handled again once reclaimed.
		q.doneMu.Lock()
		q.done = append(ids, q.done...)
		if len(q.done) > 10*deleteBatch {
			for _, id := range q.done[:len(q.done)-10*deleteBatch] {
				delete(q.doneSet, id)
			}
			q.done = q.done[len(q.done)-10*deleteBatch:]
		}
		if q.doneTimer == nil {
			q.doneTimer = time.AfterFunc(time.Second, func() { q.deleteDone(context.Background()) })
		}
		q.doneMu.Unlock()
		q.log.Debug().Err(err).Int("count", len(ids)).Msg("could not delete handled entries yet")
		return
	}
	q.doneMu.Lock()
	for _, id := range ids {
		delete(q.doneSet, id)
	}
	q.doneMu.Unlock()
	if err := ack.Err(); err != nil && !isNoGroup(err) && !errors.Is(err, redis.ErrClosed) {
		q.log.Debug().Err(err).Int("count", len(ids)).Msg("deleted handled entries; could not acknowledge them")
	}
	q.acked.Store(true)
}

// sweep removes the entries before the consumer group's oldest pending entry and after none it
// has not delivered yet: all of them are done (acknowledged), left by a crash between an ack
// and its delete. An error is only logged: the next sweep tries again.
func (q *Queue) sweep(ctx context.Context) {
	pipe := q.c.Pipeline()
	groups := pipe.XInfoGroups(ctx, q.stream)
	pending := pipe.XPending(ctx, q.stream, q.opt.Group)
	_, _ = pipe.Exec(ctx)
	gs, err := groups.Result()
	if err != nil {
		if !isNoGroup(err) && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "no such key") {
			q.log.Warn().Err(err).Msg("sweep: could not read the consumer groups")
		}
		return
	}
	var minID string
	for _, g := range gs {
		next, ok := nextID(g.LastDeliveredID)
		if !ok {
			return
		}
		if minID == "" || lessID(next, minID) {
			minID = next
		}
	}
	p, err := pending.Result()
	if err != nil {
		q.log.Warn().Err(err).Msg("sweep: could not read the pending entries")
		return
	}
	if p.Count > 0 && lessID(p.Lower, minID) {
		minID = p.Lower
	}
	if minID == "" || minID == "0-1" {
		return
	}
	if err := q.c.XTrimMinID(ctx, q.stream, minID).Err(); err != nil {
		q.log.Warn().Err(err).Msg("sweep: could not trim done entries")
	}
}

// parseID splits a stream id ms-seq.
func parseID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// nextID is the smallest stream id after id.
func nextID(id string) (string, bool) {
	ms, seq, ok := parseID(id)
	if !ok || seq == ^uint64(0) {
		return "", false
	}
	return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq+1, 10), true
}

// lessID orders stream ids (both well formed; a malformed one is never less).
func lessID(a, b string) bool {
	ams, aseq, ok1 := parseID(a)
	bms, bseq, ok2 := parseID(b)
	if !ok1 || !ok2 {
		return false
	}
	return ams < bms || ams == bms && aseq < bseq
}

// hooks returns the AckHooks the handler of m registered.
func (m Message) hooks() []AckHook {
	if m.acks == nil {
		return nil
	}
	m.acks.mu.Lock()
	defer m.acks.mu.Unlock()
	return m.acks.fs
}

// backoff is the wait before the attempt after attempt: exponential, capped, with jitter
// (half fixed, half random) so entries that failed together do not retry together.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opt.MaxBackoff
	if attempt <= 30 {
		if e := q.opt.BaseBackoff << (attempt - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// DeadLetter is a message that ran out of attempts or failed permanently.
type DeadLetter struct {
	ID        string            `json:"id"`        // in the dead-letter stream
	Stream    string            `json:"stream"`    // the queue it came from (inbox, outbox)
	OriginID  string            `json:"origin_id"` // its id there
	Attrs     map[string]string `json:"attrs,omitempty"`
	Size      int               `json:"size"` // payload bytes
	Attempts  int               `json:"attempts"`
	LastError string            `json:"last_error"`
	At        time.Time         `json:"at"` // when it was given up
}

// deadScript files a dead letter once: KEYS dead stream, payload key; ARGV payload, then the
// entry's field/value pairs. A second call for the same entry (a crash before the ack) adds
// nothing.
var deadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
return 1
`)

// deadPayload keeps a dead letter's payload apart from its entry, so listing dead letters
// does not read megabytes of mail.
func (q *Queue) deadPayload(originID string) string { return sibling(q.dead, ":payload:"+originID) }

func (q *Queue) toDeadLetters(ctx context.Context, m Message, attempts int, lastErr string) error {
	attrs, _ := json.Marshal(m.Attrs) // map[string]string cannot fail
	now := time.Now().UTC()
	err := deadScript.Run(ctx, q.c, []string{q.dead, q.deadPayload(m.ID)}, m.Payload,
		"origin_id", m.ID, "stream", q.opt.Stream, "attrs", attrs, "size", len(m.Payload),
		"attempts", attempts, "error", lastErr, "at", now.Format(time.RFC3339Nano)).Err()
	if err != nil {
		return fmt.Errorf("queue %s: dead letter %s: %w", q.opt.Stream, m.ID, err)
	}
	if err := q.ack(ctx, m.ID, true); err != nil {
		return err
	}
	q.log.Warn().Str("id", m.ID).Int("attempts", attempts).Str("error", lastErr).Msg("moved to dead letters")
	return nil
}

// DeadLetters lists up to count dead letters (all for count <= 0), oldest first.
func (q *Queue) DeadLetters(ctx context.Context, count int64) ([]DeadLetter, error) {
	var xs []redis.XMessage
	var err error
	if count > 0 {
		xs, err = q.c.XRangeN(ctx, q.dead, "-", "+", count).Result()
	} else {
		xs, err = q.c.XRange(ctx, q.dead, "-", "+").Result()
	}
	if err != nil {
		return nil, fmt.Errorf("queue %s: dead letters: %w", q.opt.Stream, err)
	}
	out := make([]DeadLetter, 0, len(xs))
	for _, x := range xs {
		out = append(out, decodeDeadLetter(x))
	}
	return out, nil
}

func decodeDeadLetter(x redis.XMessage) DeadLetter {
	str := func(k string) string { s, _ := x.Values[k].(string); return s }
	d := DeadLetter{ID: x.ID, Stream: str("stream"), OriginID: str("origin_id"), LastError: str("error")}
	d.Size, _ = strconv.Atoi(str("size"))
	d.Attempts, _ = strconv.Atoi(str("attempts"))
	d.At, _ = time.Parse(time.RFC3339Nano, str("at"))
	if a := str("attrs"); a != "" && a != "null" {
		_ = json.Unmarshal([]byte(a), &d.Attrs) // written by us; a bad value only loses attrs
	}
	return d
}

// Retry puts a dead letter back on its queue as a new message with fresh attempts.
func (q *Queue) Retry(ctx context.Context, id string) error {
	xs, err := q.c.XRange(ctx, q.dead, id, id).Result()
	if err != nil {
		return fmt.Errorf("queue %s: retry %s: %w", q.opt.Stream, id, err)
	}
	if len(xs) == 0 {
		return fmt.Errorf("queue %s: %s: %w", q.opt.Stream, id, ErrNotFound)
	}
	d := decodeDeadLetter(xs[0])
	pkey := q.deadPayload(d.OriginID)
	payload, err := q.c.Get(ctx, pkey).Bytes()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("queue %s: retry %s: its payload is gone", q.opt.Stream, id)
	}
	if err != nil {
		return fmt.Errorf("queue %s: retry %s: %w", q.opt.Stream, id, err)
	}
	newID, err := q.Add(ctx, payload, d.Attrs)
	if err != nil {
		return err
	}
	pipe := q.c.TxPipeline()
	pipe.XDel(ctx, q.dead, id)
	pipe.Del(ctx, pkey)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("queue %s: retry %s: requeued as %s, but removing the dead letter failed: %w", q.opt.Stream, id, newID, err)
	}
	q.log.Info().Str("dead_id", id).Str("id", newID).Msg("dead letter requeued")
	return nil
}

// RetryAll puts every dead letter back; it returns how many were requeued.
func (q *Queue) RetryAll(ctx context.Context) (int, error) {
	n := 0
	for {
		batch, err := q.DeadLetters(ctx, 100)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, d := range batch {
			if err := q.Retry(ctx, d.ID); err != nil {
				return n, err
			}
			n++
		}
	}
}
