package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
)

// DefaultReplyRetention is how long the partner mails about an RMA are kept for staff to send
// again when KeptMail.Retention (console.reply_retention) does not say.
const DefaultReplyRetention = config.DefaultReplyRetention

// KeptPerRMA is how many of an RMA's newest partner mails are kept: the newest is what "send
// the last mail again" means; the two before it cover "not that one, the estimate".
const KeptPerRMA = 3

// ErrNoReply is returned when no partner mail is kept for the RMA (none sent within the
// retention, or the one asked for is no longer among its newest).
var ErrNoReply = errors.New("no partner mail kept for this RMA")

// KeptMail is a partner mail rmad sent about RMAs, kept so staff can send it again: what the
// RMA page shows of it (kind, subject, date) and the mail, whose parts left out (the parcel
// labels, made again from the records) go back in at LabelsAt.
type KeptMail struct {
	ID      string    `json:"id"`      // Message-ID, no angle brackets
	Kind    string    `json:"kind"`    // reply, followup, status, estimate, estanswer, estlate, remind ...
	Subject string    `json:"subject"` // decoded
	Date    time.Time `json:"date"`
	From    string    `json:"from"` // envelope
	To      []string  `json:"to"`
	Raw     []byte    `json:"-"`
	// LabelsAt is where the base64 of each left-out labels PDF goes in Raw, in order (one for
	// rma-labels.pdf, several for rma-labels-1.pdf …); none: the mail is whole.
	LabelsAt []int  `json:"labels_at,omitempty"`
	Locale   string `json:"locale,omitempty"` // the mail's language (Content-Language)
	// Numbers are the RMAs the mail is about (filled in when read back).
	Numbers []string `json:"numbers,omitempty"`
	// Retention is how long it is kept (console.reply_retention); 0: DefaultReplyRetention.
	Retention time.Duration `json:"-"`
	// Dictionary, when set, is what the copy is deflated with (made of sample mails in its
	// language: see maildict.go); nil: the store's own dictionary of field names.
	Dictionary *MailDictionary `json:"-"`
}

// keptMail is KeptMail as stored: Raw as text (rmad's mails are 7-bit), which deflates far
// better than JSON's base64 of it.
type keptMail struct {
	KeptMail
	Raw string `json:"raw"`
}

// Keys: {p:<partner>}:mail:<Message-ID> holds a kept mail (packed JSON, one copy for all the
// RMAs it is about), {p:<partner>}:mails:<number> the Message-IDs of the RMA's newest
// KeptPerRMA as one short string, newest first, a line "<score> <Message-ID>" each (the score
// orders them: the time it was kept, ms); both expire after the retention. A string rather than
// a sorted set because keeping a mail then writes one key per RMA with one command (GET, then
// SET with the expiry) instead of five (ZSCORE, ZRANGE, ZADD, ZREMRANGEBYRANK, PEXPIRE).
// The first mail kept about one RMA alone (nearly every reply) is written into its list key
// itself, as keptInline, with one SET NX: no mail key and no script; the next mail kept for the
// RMA moves it to a mail key of its own and makes the list lines (keepMailScript).
// Earlier versions kept the list as a sorted set (member the Message-ID, scored the same way):
// both the script and KeptMails read that too, and the next mail kept rewrites it as a string.
func (k keys) keptMail(partner, id string) string { return k.partner(partner) + "mail:" + id }
func (k keys) keptMails(partner, number string) string {
	return k.partner(partner) + "mails:" + number
}

// keptInline starts an RMA's list that holds its only kept mail itself: "=<score> <Message-ID>\n"
// and then the mail's packed copy.
const keptInline = "="

// inlineKept is the list value keeping a mail about one RMA inline (args: keepMailArgs).
func inlineKept(packed []byte, score int64, id string) []byte {
	v := make([]byte, 0, len(keptInline)+20+len(id)+1+len(packed))
	v = append(v, keptInline...)
	v = strconv.AppendInt(v, score, 10)
	v = append(v, ' ')
	v = append(v, id...)
	v = append(v, '\n')
	return append(v, packed...)
}

// keepFirstIn queues, for a mail about one RMA, the SET NX that keeps it inline in the RMA's
// list when the RMA has no kept mail yet; once pipe ran, result runs the script instead when
// it has (a second round trip, for the RMA's later mails only).
func (s *Store) keepFirstIn(ctx context.Context, pipe redis.Pipeliner, keys []string, args []any, packed []byte, ttl time.Duration) (result func() error) {
	set := pipe.SetNX(ctx, keys[1], inlineKept(packed, args[3].(int64), args[2].(string)), ttl)
	return func() error {
		ok, err := set.Result()
		if err == nil && !ok {
			err = keepMailScript.Run(ctx, s.c, keys, args...).Err()
		}
		return err
	}
}

// KeepMail keeps m, sent to partner about numbers, among each RMA's newest partner mails.
// Keeping it again (a retry) changes nothing but the expiry. It is KeepMailIn in a round trip
// of its own.
func (s *Store) KeepMail(ctx context.Context, partner string, numbers []string, m KeptMail) error {
	pipe := s.c.Pipeline()
	result := s.KeepMailIn(ctx, pipe, partner, numbers, m)
	_, _ = pipe.Exec(ctx) // result reads each command's own outcome
	return result()
}

// KeepMailIn is KeepMail with its script calls queued on pipe, for the caller to send with
// what follows (the mail's outbox entry: one round trip). Once pipe ran, result says whether
// the mail is kept; it must be called.
//
// The calls are EVALSHA, which Redis answers NOSCRIPT when it does not hold the script (its
// first use since Redis started, a failover, SCRIPT FLUSH): a pipeline cannot load it and
// repeat the call part way, as a plain Script.Run does, so result does that after the
// pipeline, with EVAL (which loads it for the next time). Keeping a mail twice changes nothing
// but its expiry, so the repeat is safe; until then the mail is not among the RMA's kept ones,
// and result's error makes the caller's step fail and come again.
func (s *Store) KeepMailIn(ctx context.Context, pipe redis.Pipeliner, partner string, numbers []string, m KeptMail) (result func() error) {
	if len(numbers) == 0 {
		return func() error { return nil }
	}
	ttl, b, err := s.packKept(ctx, numbers, m)
	if err != nil {
		return func() error { return fmt.Errorf("keep mail %s: %w", m.ID, err) }
	}
	if len(numbers) == 1 {
		result := s.keepFirstIn(ctx, pipe, s.keepMailKeys(partner, m.ID, numbers), s.keepMailArgs(m, ttl, b, true), b, ttl)
		return func() error {
			if err := result(); err != nil {
				return fmt.Errorf("keep mail %s: %w", m.ID, err)
			}
			return nil
		}
	}
	type call struct {
		cmd  *redis.Cmd
		keys []string
		args []any
	}
	var calls []call
	for chunk := range slices.Chunk(numbers, keptChunk) {
		c := call{keys: s.keepMailKeys(partner, m.ID, chunk), args: s.keepMailArgs(m, ttl, b, len(calls) == 0)}
		c.cmd = keepMailScript.EvalSha(ctx, pipe, c.keys, c.args...)
		calls = append(calls, c)
	}
	return func() error {
		for _, c := range calls {
			err := c.cmd.Err()
			if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				err = keepMailScript.Eval(ctx, s.c, c.keys, c.args...).Err()
			}
			if err != nil {
				return fmt.Errorf("keep mail %s: %w", m.ID, err)
			}
		}
		return nil
	}
}

// keptChunk bounds the RMAs one keep script lists a mail for: a reply about 10,000 RMAs in one
// script held Redis for 160 ms (four commands per RMA then), in chunks of 100 a call takes
// about 2 ms. A crash between chunks leaves some RMAs without the mail listed until the retry
// (a keep that fails fails the step that sends the mail, before or after its outbox entry:
// the step comes again and keeps it again).
const keptChunk = 100

// packKept is m about numbers as stored, and how long. With a dictionary, the first mail
// packed with it writes it to Redis (one round trip of its own, once).
func (s *Store) packKept(ctx context.Context, numbers []string, m KeptMail) (time.Duration, []byte, error) {
	ttl := m.Retention
	if ttl <= 0 {
		ttl = DefaultReplyRetention
	}
	m.Numbers = numbers
	if m.Dictionary == nil {
		b, err := packJSON(keptMail{KeptMail: m, Raw: string(m.Raw)})
		return ttl, b, err
	}
	if err := s.saveMailDict(ctx, m.Dictionary); err != nil {
		return 0, nil, err
	}
	b, err := m.Dictionary.pack(m)
	return ttl, b, err
}

func (s *Store) keepMailKeys(partner, id string, numbers []string) []string {
	keys := make([]string, 0, len(numbers)+1)
	keys = append(keys, s.k.keptMail(partner, id))
	for _, n := range numbers {
		keys = append(keys, s.k.keptMails(partner, n))
	}
	return keys
}

// keepMailArgs are the script's arguments; the mail itself goes with the first chunk only
// (an empty ARGV[1] leaves KEYS[1] as it is). keepFirstIn reads the id and the score.
func (s *Store) keepMailArgs(m KeptMail, ttl time.Duration, packed []byte, withMail bool) []any {
	if !withMail {
		packed = nil
	}
	return []any{packed, ttl.Milliseconds(), m.ID, time.Now().UnixMilli(), KeptPerRMA}
}

// keepMailScript writes the mail (KEYS[1]; not when ARGV[1] is empty) and puts its id (ARGV[3])
// first on each RMA's list (KEYS[2..], see keys.keptMails) in the order rmad kept them: scored
// now (ARGV[4], ms) or just above the list's newest, so mails kept within a millisecond, or
// under a clock that stands still, keep their order; a mail already listed (a retry) keeps its
// place. Each list keeps its newest ARGV[5] and is written with the expiry (ARGV[2], ms): per
// RMA a GET and a SET. A list in the sorted set of earlier versions (GET: WRONGTYPE) is read
// with ZRANGE and written back as a string. A list holding its mail inline (keptInline) becomes
// that mail's line, the copy going to its own mail key (named like KEYS[1], on its slot) with
// the time the list had left: another mail's, or this one's when ARGV[1] does not bring it.
var keepMailScript = redis.NewScript(`
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
local id = ARGV[3]
local now = tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
for i = 2, #KEYS do
  local cur = redis.pcall('GET', KEYS[i])
  local lines = {}
  if type(cur) == 'table' and cur.err then
    local z = redis.call('ZRANGE', KEYS[i], 0, keep - 1, 'REV', 'WITHSCORES')
    for j = 1, #z, 2 do
      lines[#lines + 1] = string.format('%d', tonumber(z[j + 1])) .. ' ' .. z[j]
    end
  elseif cur and string.sub(cur, 1, 1) == '=' then
    local nl = string.find(cur, '\n', 1, true) or (#cur + 1)
    local line = string.sub(cur, 2, nl - 1)
    local its = string.match(line, '^%S+ (.+)$')
    if its and (its ~= id or ARGV[1] == '') then
      local left = redis.call('PTTL', KEYS[i])
      if left <= 0 then left = ARGV[2] end
      redis.call('SET', string.sub(KEYS[1], 1, #KEYS[1] - #id) .. its, string.sub(cur, nl + 1), 'PX', left)
    end
    lines[1] = line
  elseif cur then
    for line in string.gmatch(cur, '[^\n]+') do
      lines[#lines + 1] = line
    end
  end
  local listed = false
  for _, line in ipairs(lines) do
    if string.match(line, '^%S+ (.+)$') == id then
      listed = true
      break
    end
  end
  if not listed then
    local score = now
    if lines[1] then
      local top = tonumber(string.match(lines[1], '^(%d+) '))
      if top and top >= score then score = top + 1 end
    end
    table.insert(lines, 1, string.format('%d', score) .. ' ' .. id)
    while #lines > keep do table.remove(lines) end
  end
  redis.call('SET', KEYS[i], table.concat(lines, '\n'), 'PX', ARGV[2])
end
return 1
`)

// keptIDs reads an RMA's list of kept mails, newest first, in any form (see keys.keptMails);
// inline is the packed copy of a list that holds its only mail itself ("": none).
func (s *Store) keptIDs(ctx context.Context, key string) (ids []string, inline string, err error) {
	v, err := s.c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, "", nil
	}
	if err != nil && redis.HasErrorPrefix(err, "WRONGTYPE") {
		ids, err := s.c.ZRevRange(ctx, key, 0, KeptPerRMA-1).Result()
		return ids, "", err
	}
	if err != nil {
		return nil, "", err
	}
	if rest, ok := strings.CutPrefix(v, keptInline); ok {
		line, packed, _ := strings.Cut(rest, "\n")
		if _, id, ok := strings.Cut(line, " "); ok && id != "" && packed != "" {
			return []string{id}, packed, nil
		}
		return nil, "", fmt.Errorf("kept mail inline: no id or no copy after %q", line)
	}
	for line := range strings.SplitSeq(v, "\n") {
		if _, id, ok := strings.Cut(line, " "); ok && id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > KeptPerRMA {
		ids = ids[:KeptPerRMA]
	}
	return ids, "", nil
}

// KeptMails returns the partner mails kept for partner's RMA number, newest first (none: an
// empty list).
func (s *Store) KeptMails(ctx context.Context, partner, number string) ([]KeptMail, error) {
	ids, inline, err := s.keptIDs(ctx, s.k.keptMails(partner, number))
	if err != nil {
		return nil, fmt.Errorf("kept mails of %s: %w", number, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var vals []any
	if inline != "" {
		vals = []any{inline}
	} else {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = s.k.keptMail(partner, id)
		}
		if vals, err = s.c.MGet(ctx, keys...).Result(); err != nil {
			return nil, fmt.Errorf("kept mails of %s: %w", number, err)
		}
	}
	out := make([]KeptMail, 0, len(ids))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // expired before its index entry
		}
		m, err := s.unpackKept(ctx, []byte(str))
		if err != nil {
			return nil, fmt.Errorf("kept mail %s: %w", ids[i], err)
		}
		out = append(out, m)
	}
	return out, nil
}

// KeptMail returns the kept mail id about partner's RMA number: ErrNoReply when it is not (or
// no longer) among that RMA's kept mails.
func (s *Store) KeptMail(ctx context.Context, partner, number, id string) (KeptMail, error) {
	ms, err := s.KeptMails(ctx, partner, number)
	if err != nil {
		return KeptMail{}, err
	}
	if i := slices.IndexFunc(ms, func(m KeptMail) bool { return m.ID == id }); i >= 0 {
		return ms[i], nil
	}
	return KeptMail{}, fmt.Errorf("%s: %s: %w", number, strconv.Quote(id), ErrNoReply)
}
