package queue

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/recovered"
)

// Handler handles one message. Returning nil acknowledges it; an error makes the attempt
// failed (retried later with backoff), or final when it wraps ErrPermanent.
type Handler func(ctx context.Context, m Message) error

// touchScript refreshes the idle time of the entries this consumer still holds and returns
// their ids; entries another consumer has taken over are left alone. KEYS[1] stream; ARGV
// group, consumer, ids...
var touchScript = redis.NewScript(`
local mine = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    mine[#mine + 1] = ARGV[i]
  end
end
return mine
`)

// claimScript takes back due retries this consumer still holds, counting the attempt: XCLAIM
// without JUSTID raises the delivery count and returns the entry. KEYS[1] stream; ARGV group,
// consumer, ids... Returns per id still ours {id, attempt, fields} (fields empty when the
// entry was deleted meanwhile).
var claimScript = redis.NewScript(`
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i])
    local fields = {}
    if #e > 0 and e[1] then fields = e[1][2] end
    out[#out + 1] = {ARGV[i], p[1][4] + 1, fields}
  end
end
return out
`)

// recountScript sets an entry's attempt count (its delivery count), if this consumer still
// holds it. KEYS[1] stream; ARGV group, consumer, id, count.
var recountScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'RETRYCOUNT', ARGV[4], 'JUSTID')
return 1
`)

// runner is one Run: the entries this consumer holds and the handlers in flight.
type runner struct {
	q     *Queue
	h     Handler
	hctx  context.Context // handlers' context: outlives Run's by ShutdownGrace
	slots chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex
	owned map[string]time.Time // held entries: zero time = in flight, else due time of the retry

	rescan      atomic.Bool // read own pending entries (at start, after errors that may have lost track)
	rescanReset atomic.Bool // ... from the first one

	trouble *storeTrouble   // pacing and logging while Redis cannot serve
	refund  map[string]bool // under mu: the last attempt was the store's fault but could not be uncounted
	ahead   []Message       // under mu: new entries read ahead (Options.ReadAhead), held, not yet handled
}

// requestRescan makes the loop read this consumer's pending entries again from the start.
func (r *runner) requestRescan() {
	r.rescanReset.Store(true)
	r.rescan.Store(true)
}

// Run consumes the queue until ctx ends: own pending entries first, then reclaimed and new
// ones, with retries and dead letters as the package comment describes. It returns nil after
// ctx ended and the running handlers returned.
func (q *Queue) Run(ctx context.Context, h Handler) error {
	if q.opt.Stream == "" || h == nil {
		return errors.New("queue: Run needs Options.Stream and a handler")
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() {
		if q.opt.ShutdownGrace <= 0 {
			cancel()
			return
		}
		t := time.AfterFunc(q.opt.ShutdownGrace, cancel)
		<-hctx.Done()
		t.Stop()
	})
	defer stopGrace()

	r := &runner{q: q, h: h, hctx: hctx, slots: make(chan struct{}, q.opt.Concurrency), owned: map[string]time.Time{},
		refund: map[string]bool{}, trouble: &storeTrouble{log: q.log, logEvery: q.opt.StoreLogEvery}}
	for range q.opt.Concurrency {
		r.slots <- struct{}{}
	}
	r.rescan.Store(true)
	touchDone := make(chan struct{})
	go func() {
		defer close(touchDone)
		r.touchLoop(ctx)
	}()
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		q.sweepLoop(ctx)
	}()
	defer func() { <-sweepDone }()
	q.log.Info().Str("consumer", q.opt.Consumer).Int("concurrency", q.opt.Concurrency).Msg("consuming")
	r.loop(ctx)
	r.wg.Wait()
	r.giveBackAhead()
	q.deleteDone(context.WithoutCancel(ctx)) // what the last handlers acknowledged
	<-touchDone
	q.log.Info().Msg("stopped")
	return nil
}

func (r *runner) loop(ctx context.Context) {
	q := r.q
	groupReady := false
	pendingFrom := "0"
	reclaimFrom := "0-0"
	var nextReclaim time.Time
	for ctx.Err() == nil {
		r.trouble.wait(ctx) // Redis refused a write: do not spin on it
		if !groupReady {
			// A group made again reads the stream from its start: entries acknowledged here
			// and not yet deleted must be gone before, or they would be handed out again.
			q.deleteDone(ctx)
			if err := q.ensureGroup(ctx); err != nil {
				r.pause(ctx, err)
				continue
			}
			groupReady = true
			// Done entries a crash left behind (acknowledged, not yet deleted).
			q.sweep(ctx)
		}
		n := r.acquire(ctx)
		if n == 0 {
			return
		}
		if q.opt.Ready != nil {
			q.opt.Ready(ctx) // e.g. the SMTP relay is down: take nothing until it answers
			if ctx.Err() != nil {
				return
			}
		}
		msgs, err := r.fetch(ctx, n, &pendingFrom, &reclaimFrom, &nextReclaim)
		for range n - len(msgs) {
			r.slots <- struct{}{}
		}
		for _, m := range msgs {
			r.wg.Add(1)
			go r.handle(m)
		}
		if err != nil {
			if isNoGroup(err) {
				q.log.Warn().Msg("consumer group lost (NOGROUP): creating it again")
				groupReady = false
				r.forgetDelayed()
				r.mu.Lock()
				for _, m := range r.ahead {
					delete(r.owned, m.ID) // the new group hands them out again
				}
				r.ahead = nil
				r.mu.Unlock()
				continue
			}
			if ctx.Err() == nil {
				r.pause(ctx, err)
			}
			continue
		}
	}
}

// pause waits after a Redis error, longer each time in a row, up to 5 s.
func (r *runner) pause(ctx context.Context, err error) {
	r.trouble.failed(err, "read")
	r.requestRescan()
	r.trouble.wait(ctx)
}

// acquire waits for a free handler slot and takes every free one; 0 when ctx ended.
func (r *runner) acquire(ctx context.Context) int {
	select {
	case <-ctx.Done():
		return 0
	case <-r.slots:
	}
	n := 1
	for {
		select {
		case <-r.slots:
			n++
		default:
			return n
		}
	}
}

// fetch finds up to n messages to handle, in order: retries that are due, own pending entries
// (after a start or an error), entries reclaimed from quiet consumers, new entries.
func (r *runner) fetch(ctx context.Context, n int, pendingFrom, reclaimFrom *string, nextReclaim *time.Time) ([]Message, error) {
	q := r.q
	msgs, err := r.dueRetries(ctx, n)
	if err != nil || len(msgs) == n {
		return msgs, err
	}
	if r.rescanReset.Swap(false) {
		*pendingFrom = "0"
	}
	if r.rescan.Load() {
		got, last, err := r.pendingScan(ctx, *pendingFrom, n-len(msgs))
		if err != nil {
			return append(msgs, got...), err
		}
		if last == "" {
			r.rescan.Store(false)
			*pendingFrom = "0"
		} else {
			*pendingFrom = last
			return append(msgs, got...), nil
		}
	}
	if time.Now().After(*nextReclaim) {
		xs, next, err := q.c.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: q.stream, Group: q.opt.Group, Consumer: q.opt.Consumer,
			MinIdle: q.opt.VisibilityTimeout, Start: *reclaimFrom, Count: int64(n - len(msgs)),
		}).Result()
		if err != nil {
			return msgs, err
		}
		*reclaimFrom = next
		if next == "0-0" || next == "" {
			*nextReclaim = time.Now().Add(r.reclaimEvery())
		}
		if len(xs) > 0 {
			q.log.Info().Int("count", len(xs)).Msg("reclaimed entries of a quiet consumer")
			got, err := r.admit(ctx, xs, false)
			return append(msgs, got...), err
		}
	}
	if len(msgs) > 0 {
		return msgs, nil
	}
	r.mu.Lock()
	if k := min(n, len(r.ahead)); k > 0 {
		msgs = append(msgs, r.ahead[:k]...)
		r.ahead = r.ahead[k:]
	}
	r.mu.Unlock()
	if len(msgs) > 0 {
		return msgs, nil
	}
	block := q.opt.Block
	if wait := r.untilNextDue(); wait < block {
		block = max(wait, time.Millisecond)
	}
	if wait := time.Until(*nextReclaim); wait < block {
		block = max(wait, time.Millisecond)
	}
	xs, err := r.readGroup(ctx, ">", n+q.opt.ReadAhead, block)
	if err != nil {
		return nil, err
	}
	msgs, err = r.admit(ctx, xs, true)
	if len(msgs) > n {
		r.keepAhead(ctx, msgs[n:])
		msgs = msgs[:n]
	}
	return msgs, err
}

// keepAhead holds entries read beyond the free handlers for the next ones. A large one
// (deleteAtOnceFrom or more: a raw mail) is not kept in memory meanwhile: uncounted and due at
// once, it is read again (and counted) when a handler takes it, as a retry is.
func (r *runner) keepAhead(ctx context.Context, ms []Message) {
	for _, m := range ms {
		if len(m.Payload) < deleteAtOnceFrom {
			r.mu.Lock()
			r.ahead = append(r.ahead, m)
			r.mu.Unlock()
			continue
		}
		if err := r.recount(ctx, m.ID, m.Attempt-1); err != nil {
			r.setRefund(m.ID)
		}
		r.mu.Lock()
		r.owned[m.ID] = time.Now()
		r.mu.Unlock()
	}
}

// giveBackAhead, once Run's handlers returned, uncounts the entries read ahead and not handled:
// they stay this consumer's pending entries, which its next start takes up first (or another
// consumer reclaims), in their first attempt still.
func (r *runner) giveBackAhead() {
	r.mu.Lock()
	ahead := r.ahead
	r.ahead = nil
	r.mu.Unlock()
	if len(ahead) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.hctx), r.q.opt.SettleTimeout)
	defer cancel()
	for _, m := range ahead {
		if err := r.recount(ctx, m.ID, m.Attempt-1); err != nil {
			r.q.log.Warn().Err(err).Str("id", m.ID).Msg("uncount entry read ahead")
		}
		r.release(m.ID)
	}
}

func (r *runner) reclaimEvery() time.Duration {
	return min(max(r.q.opt.VisibilityTimeout/4, 100*time.Millisecond), 15*time.Second)
}

// readGroup reads this consumer's entries from id ("0": own pending; ">": new ones).
// block < 0 means no BLOCK argument.
func (r *runner) readGroup(ctx context.Context, id string, count int, block time.Duration) ([]redis.XMessage, error) {
	q := r.q
	res, err := q.c.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.opt.Group, Consumer: q.opt.Consumer, Streams: []string{q.stream, id},
		Count: int64(count), Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var xs []redis.XMessage
	for _, s := range res {
		xs = append(xs, s.Messages...)
	}
	return xs, nil
}

// admit sorts read entries: those this Run already holds are skipped, deleted ones are
// cleaned up, retries not yet due wait, the rest are returned for handling (and held). first
// says they are new entries (read with ">"): in their first attempt, never failed, so there is
// nothing to look up; reclaimed ones (XAUTOCLAIM) get their delivery count and due time.
func (r *runner) admit(ctx context.Context, xs []redis.XMessage, first bool) ([]Message, error) {
	q := r.q
	r.mu.Lock()
	fresh := xs[:0:0]
	for _, x := range xs {
		if _, held := r.owned[x.ID]; !held && !q.handled(x.ID) {
			fresh = append(fresh, x)
		}
	}
	r.mu.Unlock()
	if len(fresh) == 0 {
		return nil, nil
	}
	dues := make([]any, len(fresh))
	attempts := make([]int, len(fresh))
	for i := range attempts {
		attempts[i] = 1
	}
	if !first {
		fields := make([]string, len(fresh))
		for i, x := range fresh {
			fields[i] = fDue(x.ID)
		}
		pipe := q.c.Pipeline()
		hm := pipe.HMGet(ctx, q.meta, fields...)
		pend := make([]*redis.XPendingExtCmd, len(fresh))
		for i, x := range fresh {
			pend[i] = pipe.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.stream, Group: q.opt.Group,
				Start: x.ID, End: x.ID, Count: 1, Consumer: q.opt.Consumer})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		dues = hm.Val()
		for i := range fresh {
			if p := pend[i].Val(); len(p) == 1 {
				attempts[i] = max(1, int(p[0].RetryCount))
			}
		}
	}
	now := time.Now()
	var msgs []Message
	for i, x := range fresh {
		if x.Values == nil { // deleted from the stream while pending (XDEL by hand)
			if err := q.ack(ctx, x.ID, true); err != nil {
				return msgs, err
			}
			continue
		}
		m, derr := decodeMessage(x)
		m.Attempt = attempts[i]
		due := parseMillis(dues[i])
		r.mu.Lock()
		if derr == nil && due.After(now) {
			r.owned[x.ID] = due
			r.mu.Unlock()
			// Reclaimed while its retry waits: XAUTOCLAIM counted an attempt that comes later.
			if err := r.recount(ctx, x.ID, m.Attempt-1); err != nil {
				return msgs, err
			}
			continue
		}
		r.owned[x.ID] = time.Time{}
		r.mu.Unlock()
		if derr != nil {
			// Not ours to understand: keep it for a person rather than retrying it forever.
			err := q.toDeadLetters(ctx, m, 0, derr.Error())
			r.release(x.ID)
			if err != nil {
				return msgs, err
			}
			continue
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func parseMillis(v any) time.Time {
	s, ok := v.(string)
	if !ok {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// dueRetries takes back up to n held entries whose backoff is over, if they are still ours,
// counting the attempt.
func (r *runner) dueRetries(ctx context.Context, n int) ([]Message, error) {
	now := time.Now()
	var ids []string
	r.mu.Lock()
	for id, due := range r.owned {
		if !due.IsZero() && !due.After(now) {
			ids = append(ids, id)
			r.owned[id] = time.Time{} // in flight from here on
			if len(ids) == n {
				break
			}
		}
	}
	r.mu.Unlock()
	return r.claim(ctx, ids)
}

// pendingScan looks at up to n of this consumer's pending entries after from ("0": from the
// start), after a start or an error. They are listed with XPENDING, not read, so that entries
// this Run already holds are not counted again; the others are held, and claimed (counted)
// unless their retry is not due yet. last is the last id listed, "" at the end.
func (r *runner) pendingScan(ctx context.Context, from string, n int) (msgs []Message, last string, err error) {
	q := r.q
	start := "-"
	if from != "0" {
		start = "(" + from
	}
	pend, err := q.c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: q.stream, Group: q.opt.Group,
		Start: start, End: "+", Count: int64(n), Consumer: q.opt.Consumer}).Result()
	if err != nil || len(pend) == 0 {
		return nil, "", err
	}
	last = pend[len(pend)-1].ID
	var ids []string
	r.mu.Lock()
	for _, p := range pend {
		if _, held := r.owned[p.ID]; !held && !q.handled(p.ID) {
			ids = append(ids, p.ID)
		}
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return nil, last, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = fDue(id)
	}
	dues, err := q.c.HMGet(ctx, q.meta, fields...).Result()
	if err != nil {
		return nil, last, err
	}
	now := time.Now()
	var claim []string
	r.mu.Lock()
	for i, id := range ids {
		if due := parseMillis(dues[i]); due.After(now) {
			r.owned[id] = due // a retry from before the restart, not due yet
		} else {
			r.owned[id] = time.Time{}
			claim = append(claim, id)
		}
	}
	r.mu.Unlock()
	msgs, err = r.claim(ctx, claim)
	return msgs, last, err
}

// claim takes held entries back for an attempt, if they are still this consumer's: counted,
// read, and returned for handling; the others are released.
func (r *runner) claim(ctx context.Context, ids []string) ([]Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q := r.q
	res, err := claimScript.Run(ctx, q.c, []string{q.stream}, q.groupArgs(ids)...).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		for _, id := range ids {
			r.release(id)
		}
		return nil, fmt.Errorf("claim: %w", err)
	}
	claimed := make(map[string]bool, len(res))
	var msgs []Message
	var firstErr error
	for _, e := range res {
		id, attempt, fields, ok := claimedEntry(e)
		if !ok {
			continue
		}
		claimed[id] = true
		if len(fields) == 0 { // deleted from the stream while pending (XDEL by hand)
			r.release(id)
			if err := q.ack(ctx, id, true); err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		m, derr := decodeMessage(redis.XMessage{ID: id, Values: fields})
		if derr != nil {
			// Not ours to understand: keep it for a person rather than retrying it forever.
			err := q.toDeadLetters(ctx, m, 0, derr.Error())
			r.release(id)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		m.Attempt = attempt
		msgs = append(msgs, m)
	}
	for _, id := range ids {
		if !claimed[id] {
			r.release(id) // another consumer took it over
		}
	}
	return msgs, firstErr
}

// claimedEntry reads one {id, attempt, {field, value, ...}} of claimScript.
func claimedEntry(v any) (id string, attempt int, fields map[string]any, ok bool) {
	e, _ := v.([]any)
	if len(e) != 3 {
		return "", 0, nil, false
	}
	id, _ = e[0].(string)
	n, _ := e[1].(int64)
	kv, _ := e[2].([]any)
	fields = make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, isStr := kv[i].(string); isStr {
			fields[k] = kv[i+1]
		}
	}
	return id, int(n), fields, id != ""
}

func (r *runner) untilNextDue() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := time.Duration(1<<63 - 1)
	for _, due := range r.owned {
		if !due.IsZero() {
			next = min(next, time.Until(due))
		}
	}
	return next
}

// release forgets an entry this Run held (handled, dead, or taken over by another consumer).
func (r *runner) release(id string) {
	r.mu.Lock()
	delete(r.owned, id)
	r.mu.Unlock()
}

// forgetDelayed drops waiting retries after the group was lost: they come back as new entries.
func (r *runner) forgetDelayed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, due := range r.owned {
		if !due.IsZero() {
			delete(r.owned, id)
		}
	}
}

// groupArgs are the ARGV of touchScript and claimScript: group, consumer, ids.
func (q *Queue) groupArgs(ids []string) []any {
	args := make([]any, 0, len(ids)+2)
	args = append(args, q.opt.Group, q.opt.Consumer)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// touch refreshes entries this consumer holds and reports which are still its own.
func (r *runner) touch(ctx context.Context, ids []string) (map[string]bool, error) {
	q := r.q
	mine, err := touchScript.Run(ctx, q.c, []string{q.stream}, q.groupArgs(ids)...).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("touch: %w", err)
	}
	out := make(map[string]bool, len(mine))
	for _, id := range mine {
		out[id] = true
	}
	return out, nil
}

// touchLoop keeps held entries (running handlers, waiting retries) from being reclaimed.
func (r *runner) touchLoop(ctx context.Context) {
	t := time.NewTicker(max(r.q.opt.VisibilityTimeout/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		ids := make([]string, 0, len(r.owned))
		for id := range r.owned {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		mine, err := r.touch(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				r.q.log.Warn().Err(err).Msg("could not refresh held entries")
			}
			continue
		}
		for _, id := range ids {
			if mine[id] {
				continue
			}
			r.mu.Lock()
			due, held := r.owned[id]
			if held && !due.IsZero() {
				delete(r.owned, id) // a waiting retry another consumer took over: its job now
			}
			r.mu.Unlock()
			if held && due.IsZero() {
				r.q.log.Warn().Str("id", id).Msg("entry taken over by another consumer while its handler runs")
			}
		}
	}
}

// handle runs one attempt of a message and settles it: ack, retry later, or dead letter.
func (r *runner) handle(m Message) {
	q := r.q
	defer r.wg.Done()
	defer func() { r.slots <- struct{}{} }()
	log := q.log.With().Str("id", m.ID).Logger()
	// Counting and settling must not be cut short by shutdown: they are a few quick commands,
	// each given SettleTimeout of its own, so a slow handler does not eat the time to settle.
	base := context.WithoutCancel(r.hctx)
	cctx, cancel := context.WithTimeout(base, q.opt.SettleTimeout)
	defer cancel()

	// An attempt the store spoiled and that could not be uncounted then is uncounted now: its
	// read counted it once more than it should.
	if r.takeRefund(m.ID) {
		m.Attempt = max(1, m.Attempt-1)
		if err := r.recount(cctx, m.ID, m.Attempt); err != nil {
			r.trouble.failed(err, "count attempt")
			r.forget(m.ID)
			r.setRefund(m.ID)
			return
		}
	}
	if m.Attempt > q.opt.MaxAttempts {
		// Earlier attempts never settled: the process died in the handler each time.
		last, _ := q.c.HGet(cctx, q.meta, fError(m.ID)).Result()
		if last == "" {
			last = "the worker stopped while handling it"
		}
		r.settleDead(cctx, m, m.Attempt-1, last)
		return
	}

	m.acks = &ackHooks{}
	log.Debug().Int("attempt", m.Attempt).Msg("handling")
	// The handler's copy is the only one holding the payload while it runs, so that one it is
	// done with (a mail of up to 25 MiB, once parsed) can be collected meanwhile; a dead letter
	// reads it back from the stream.
	in, size := m, len(m.Payload)
	m.Payload = nil
	herr := r.call(in)
	// The settle deadline starts now, when the handler has returned.
	sctx, cancelSettle := context.WithTimeout(base, q.opt.SettleTimeout)
	defer cancelSettle()
	switch {
	case herr == nil:
		if err := q.ackSized(sctx, m.ID, m.Attempt > 1, size, m.hooks()...); err != nil {
			r.trouble.failed(err, "ack")
			r.forget(m.ID)
			r.setRefund(m.ID) // handled again, but the store's fault: not another attempt
			return
		}
		log.Debug().Msg("acknowledged")
		// Only a handled and acknowledged message ends a run of store failures: with the
		// queue and the handler's store on different servers (a Cluster), counting the attempt
		// succeeds while the handler's store is still away.
		r.trouble.ok()
		r.release(m.ID)
	case r.hctx.Err() != nil:
		// Shutdown interrupted the handler: not the message's fault, so not counted.
		if err := r.recount(sctx, m.ID, m.Attempt-1); err != nil {
			log.Warn().Err(err).Msg("uncount interrupted attempt")
		}
		r.release(m.ID)
	case errors.Is(herr, ErrHold) && !errors.Is(herr, ErrPermanent):
		// Not the message's fault: uncounted, and due again as soon as Ready lets the loop on.
		if err := r.recount(sctx, m.ID, m.Attempt-1); err != nil {
			r.setRefund(m.ID)
		}
		log.Debug().Err(herr).Msg("held until the handler's dependency is back")
		r.mu.Lock()
		r.owned[m.ID] = time.Now()
		r.mu.Unlock()
	case !errors.Is(herr, ErrPermanent) && q.storeDown(herr):
		// Redis could not serve the handler: not the message's fault, so not an attempt, and
		// never a dead letter however long it lasts. Tried again when the store is back.
		if err := r.recount(sctx, m.ID, m.Attempt-1); err != nil {
			r.setRefund(m.ID)
		}
		d := r.trouble.failed(herr, "handle")
		r.mu.Lock()
		r.owned[m.ID] = time.Now().Add(d)
		r.mu.Unlock()
	case errors.Is(herr, ErrPermanent) || m.Attempt >= q.opt.MaxAttempts:
		if m, err := q.payloadBack(sctx, m); err != nil {
			r.trouble.failed(err, "dead letter")
			r.forget(m.ID)
		} else {
			r.settleDead(sctx, m, m.Attempt, herr.Error())
		}
	default:
		wait := q.backoff(m.Attempt)
		due := time.Now().Add(wait)
		err := q.c.HSet(sctx, q.meta, fError(m.ID), herr.Error(), fDue(m.ID), due.UnixMilli(),
			fFailed(m.ID), time.Now().UTC().Format(time.RFC3339)).Err()
		if err != nil {
			r.trouble.failed(err, "record failure")
		}
		r.mu.Lock()
		r.owned[m.ID] = due
		r.mu.Unlock()
		log.Warn().Err(herr).Int("attempt", m.Attempt).Dur("retry_in", wait).Msg("attempt failed")
	}
}

// recount sets the entry's attempt count to n (uncounting an attempt that was not the
// message's fault), if this consumer still holds it.
func (r *runner) recount(ctx context.Context, id string, n int) error {
	q := r.q
	err := recountScript.Run(ctx, q.c, []string{q.stream}, q.opt.Group, q.opt.Consumer, id, n).Err()
	if err != nil {
		return fmt.Errorf("queue %s: uncount attempt of %s: %w", q.opt.Stream, id, err)
	}
	return nil
}

func (r *runner) settleDead(ctx context.Context, m Message, attempts int, lastErr string) {
	if err := r.q.toDeadLetters(ctx, m, attempts, lastErr); err != nil {
		r.trouble.failed(err, "dead letter")
		r.forget(m.ID)
		return
	}
	r.release(m.ID)
}

func (r *runner) setRefund(id string) {
	r.mu.Lock()
	r.refund[id] = true
	r.mu.Unlock()
}

func (r *runner) takeRefund(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	had := r.refund[id]
	delete(r.refund, id)
	return had
}

// forget drops an entry whose state could not be written; the pending scan finds it again.
func (r *runner) forget(id string) {
	r.release(id)
	r.requestRescan()
}

// call runs the handler; a panic is a failed attempt, not a crashed daemon.
func (r *runner) call(m Message) (err error) {
	id := m.ID // not m: the deferred function would hold the payload as long as the handler runs
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
			r.q.log.Error().Str("id", id).Str("stack", string(debug.Stack())).Msg("handler panicked")
			recovered.Panic(p)
		}
	}()
	return r.h(r.hctx, m)
}
