package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// What the scheduled jobs (status digests and reminders, docs/contract.md §3) keep in Redis. All of it lives
// in the partner's hash slot, beside the records it is about:
//
//   - P{p:<partner>}:digest — the partner's digest watermark: the time (unix ms) up to which its
//     status changes have been told in a digest. The next digest tells what changed after it.
//   - P{p:<partner>}:ruled — which scheduled rules were recorded for which RMA ("<rule> <yyyy:n>"),
//     so a history event without a status change is written once even if a run is repeated.
//   - P{p:<partner>}:notices — the mails scheduled rules owe ("<rule> <RMA number>", scored by
//     the rule's time). A notice is written before the rule changes the record and removed after
//     its mail is on the outbox, so a crash in between cannot lose the mail.
//   - P{p:<partner>}:digestpending — the end (unix ms) of the digest window being sent to the
//     partner: set before the digest goes on the outbox, removed once the watermark has moved
//     past it, so the next run resends that same digest (same Message-ID) after a crash.
//
// and, as markers (P once:...) and leases (P lease:...), named by the functions below:
//
//   - once:run:<job>:<tick>:started and :done — a run of a job was started, was finished;
//   - once:digest:<partner>:<tick> — the partner's digest for that tick is done;
//   - lease:schedule:<job> — held by the one instance running the job.

// ErrStatusChanged is returned by AddEvent and AddEventOnce when the record is no longer in the
// status the event was meant for: someone moved it on in the meantime.
var ErrStatusChanged = errors.New("status changed meanwhile")

func (k keys) digestMark(partner string) string { return k.partner(partner) + "digest" }
func (k keys) ruled(partner string) string      { return k.partner(partner) + "ruled" }
func (k keys) notices(partner string) string    { return k.partner(partner) + "notices" }
func (k keys) digestPending(partner string) string {
	return k.partner(partner) + "digestpending"
}

// RunPhase is how far a run of a scheduled job got.
type RunPhase string

// The phases a run marks.
const (
	RunStarted RunPhase = "started"
	RunDone    RunPhase = "done"
)

// tickText writes a run's tick in its own zone: to the minute for a scheduled tick (the names
// of runs since the first release), to the millisecond for a run by hand.
func tickText(tick time.Time) string {
	if tick.Equal(tick.Truncate(time.Minute)) {
		return tick.Format("2006-01-02T15:04Z07:00")
	}
	return tick.Format("2006-01-02T15:04:05.000Z07:00")
}

func runMarker(job string, tick time.Time, phase RunPhase) string {
	return "run:" + job + ":" + tickText(tick) + ":" + string(phase)
}

func digestToldMarker(partner string, tick time.Time) string {
	return "digest:" + partner + ":" + tick.UTC().Format(time.RFC3339Nano)
}

// JobLease names the lease an instance holds while it runs job (any tick of it).
func JobLease(job string) string { return "schedule:" + job }

// MarkRun records that the run of job for tick (a time in schedule.timezone) reached phase,
// for ttl.
func (s *Store) MarkRun(ctx context.Context, job string, tick time.Time, phase RunPhase, ttl time.Duration) error {
	return s.Mark(ctx, runMarker(job, tick, phase), ttl)
}

// RunMarked reports whether the run of job for tick reached phase.
func (s *Store) RunMarked(ctx context.Context, job string, tick time.Time, phase RunPhase) (bool, error) {
	return s.Marked(ctx, runMarker(job, tick, phase))
}

// MarkDigestTold records that the partner's digest for tick is done (sent, or nothing to tell).
func (s *Store) MarkDigestTold(ctx context.Context, partnerID string, tick time.Time, ttl time.Duration) error {
	return s.Mark(ctx, digestToldMarker(partnerID, tick), ttl)
}

// DigestTold reports whether MarkDigestTold was called for the partner and tick.
func (s *Store) DigestTold(ctx context.Context, partnerID string, tick time.Time) (bool, error) {
	return s.Marked(ctx, digestToldMarker(partnerID, tick))
}

// DigestPending returns the end of the partner's digest window that was being sent when the
// last run stopped (see the key layout); zero when none is.
func (s *Store) DigestPending(ctx context.Context, partnerID string) (time.Time, error) {
	return s.getMillis(ctx, s.k.digestPending(partnerID), "pending digest of "+partnerID)
}

// SetDigestPending records that the partner's digest up to t is being sent.
func (s *Store) SetDigestPending(ctx context.Context, partnerID string, t time.Time) error {
	if err := s.c.Set(ctx, s.k.digestPending(partnerID), t.UnixMilli(), 0).Err(); err != nil {
		return fmt.Errorf("pending digest of %s: %w", partnerID, err)
	}
	return nil
}

// ClearDigestPending forgets the partner's pending digest once the watermark is past it.
func (s *Store) ClearDigestPending(ctx context.Context, partnerID string) error {
	if err := s.c.Del(ctx, s.k.digestPending(partnerID)).Err(); err != nil {
		return fmt.Errorf("clear pending digest of %s: %w", partnerID, err)
	}
	return nil
}

// getMillis reads a time kept as unix ms; zero when the key is missing.
func (s *Store) getMillis(ctx context.Context, key, what string) (time.Time, error) {
	v, err := s.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", what, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: stored value %q: %w", what, v, err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// advanceScript moves a watermark forward only: KEYS[1]; ARGV unix ms.
var advanceScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
return 0
`)

// DigestWatermark returns the time up to which the partner's status changes have been told in a
// digest; zero when it never had one.
func (s *Store) DigestWatermark(ctx context.Context, partnerID string) (time.Time, error) {
	return s.getMillis(ctx, s.k.digestMark(partnerID), "digest watermark of "+partnerID)
}

// AdvanceDigestWatermark sets the partner's digest watermark to t unless it is already later:
// a late rerun of an older digest never makes the next one repeat what was told.
func (s *Store) AdvanceDigestWatermark(ctx context.Context, partnerID string, t time.Time) error {
	if err := advanceScript.Run(ctx, s.c, []string{s.k.digestMark(partnerID)}, t.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("advance digest watermark of %s: %w", partnerID, err)
	}
	return nil
}

// OpenRecords returns the partner's RMAs whose status is open (rma.Status.IsOpen), sorted by
// number: with ChangedSince, the input of the partner's digest.
func (s *Store) OpenRecords(ctx context.Context, partnerID string) ([]rma.Record, error) {
	pipe := s.c.Pipeline()
	var cmds []*redis.StringSliceCmd
	for _, st := range rma.AllStatuses {
		if st.IsOpen() {
			cmds = append(cmds, pipe.SMembers(ctx, s.k.status(partnerID, string(st))))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("open records of %s: %w", partnerID, err)
	}
	var members []string
	for _, c := range cmds {
		members = append(members, c.Val()...)
	}
	recs, err := s.load(ctx, partnerID, parseMembers(members))
	if err != nil {
		return nil, err
	}
	sortRecords(recs)
	return recs, nil
}

// addEventScript appends a history event if the record is still in the expected status, and
// with a once-field only the first time: KEYS rec, hist, ruled; ARGV status, event, field ("" for
// no once-check).
var addEventScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return 'missing' end
if cur ~= ARGV[1] then return 'conflict' end
if ARGV[3] ~= '' then
  if redis.call('HSETNX', KEYS[3], ARGV[3], ARGV[2]) == 0 then return 'seen' end
end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 'ok'
`)

// AddEvent appends ev to an RMA's history without changing its status: a reminder sent, a note
// for staff. ev.Status must be the RMA's current status (status changes go through SetStatus);
// when the RMA has moved on meanwhile the event is not written and the error wraps
// ErrStatusChanged. The record's updated_at stays: it is the time of the last status change.
func (s *Store) AddEvent(ctx context.Context, number string, ev rma.Event) error {
	_, err := s.addEvent(ctx, number, "", ev)
	return err
}

// AddEventOnce is AddEvent done at most once per RMA and key (a scheduled rule's name): it
// reports false, writing nothing, when an event with this key was added before.
func (s *Store) AddEventOnce(ctx context.Context, number, key string, ev rma.Event) (bool, error) {
	if strings.TrimSpace(key) == "" {
		return false, fmt.Errorf("add event to %s: empty once-key", number)
	}
	return s.addEvent(ctx, number, key, ev)
}

func (s *Store) addEvent(ctx context.Context, number, key string, ev rma.Event) (bool, error) {
	r, err := s.getForChange(ctx, number)
	if err != nil {
		return false, err
	}
	n, _ := rma.ParseNumber(r.Number) // came from the store: well formed
	nk := numberKey{Year: n.Year, N: n.N}
	if ev.Status == "" {
		ev.Status = r.Status
	}
	ev.At = ev.At.UTC()
	evJSON, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("add event to %s: %w", r.Number, err)
	}
	field := ""
	if key != "" {
		field = key + " " + nk.String()
	}
	p := r.PartnerID
	res, err := addEventScript.Run(ctx, s.c, []string{s.k.rec(p, nk), s.k.hist(p, nk), s.k.ruled(p)},
		string(ev.Status), evJSON, field).Text()
	if err != nil {
		return false, fmt.Errorf("add event to %s: %w", r.Number, err)
	}
	if (res == "ok" || res == "seen") && ev.FromPartner() {
		// A retry ("seen") indexes again: the first attempt may have stopped before it.
		if err := s.indexPartnerNote(ctx, r.Number, ev.At); err != nil {
			return false, err
		}
	}
	switch res {
	case "ok":
		return true, nil
	case "seen":
		return false, nil
	case "missing":
		return false, fmt.Errorf("%s: %w", r.Number, ErrNotFound)
	}
	return false, fmt.Errorf("add %s event to %s: %w", ev.Status, r.Number, ErrStatusChanged)
}

// Notice is a mail a scheduled rule owes about one RMA (see the key layout above).
type Notice struct {
	Partner string
	Number  string
	Rule    string
	At      time.Time // when the rule applied (the run's tick)
}

func (n Notice) member() string { return n.Rule + " " + n.Number }

// AddNotice records that rule's mail about an RMA is owed. Recording it again keeps the first
// time.
func (s *Store) AddNotice(ctx context.Context, n Notice) error {
	if n.Partner == "" || n.Rule == "" || strings.ContainsRune(n.Rule, ' ') || n.Number == "" {
		return fmt.Errorf("add notice: partner, rule (one word) and number are needed, got %+v", n)
	}
	err := s.c.ZAddNX(ctx, s.k.notices(n.Partner), redis.Z{Score: float64(n.At.UnixMilli()), Member: n.member()}).Err()
	if err != nil {
		return fmt.Errorf("add notice %s for %s: %w", n.Rule, n.Number, err)
	}
	return nil
}

// Notices returns the owed mails of every partner with RMAs, oldest first per partner.
func (s *Store) Notices(ctx context.Context) ([]Notice, error) {
	partners, err := s.Partners(ctx)
	if err != nil {
		return nil, err
	}
	var out []Notice
	for _, p := range partners {
		zs, err := s.c.ZRangeWithScores(ctx, s.k.notices(p), 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("notices of %s: %w", p, err)
		}
		for _, z := range zs {
			m, _ := z.Member.(string)
			rule, number, ok := strings.Cut(m, " ")
			if !ok {
				continue
			}
			out = append(out, Notice{Partner: p, Number: number, Rule: rule, At: time.UnixMilli(int64(z.Score)).UTC()})
		}
	}
	return out, nil
}

// DropNotice removes an owed mail: it is on the outbox, or nothing is to be told after all.
func (s *Store) DropNotice(ctx context.Context, n Notice) error {
	if err := s.c.ZRem(ctx, s.k.notices(n.Partner), n.member()).Err(); err != nil {
		return fmt.Errorf("drop notice %s for %s: %w", n.Rule, n.Number, err)
	}
	return nil
}
