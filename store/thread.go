package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// The thread index maps the Message-IDs of an RMA conversation to its RMA numbers, so that a
// partner's reply (In-Reply-To, References) is recognised as a follow-up of those RMAs. Each
// entry is a string P{p:<partner>}:tn:<digest of the Message-ID> holding the numbers
// ("yyyy:n", space-separated) with its expiry, written with one SET NX EX (the hash under th:
// with an EXPIRE beside it, and the set under thread: of earlier versions, are still read until
// they expire), in the partner's slot: a look-up only ever sees the sender's own partner's
// threads, so another partner's mail that quotes a Message-ID learns nothing.

// ThreadTTL is how long a thread entry lives after it was last written or read: RMAs are
// usually closed well within it, and every use of the thread renews it.
const ThreadTTL = 180 * 24 * time.Hour

// thread's digest is 64 bits: a partner's threads never come near a collision, and the
// shorter name is a smaller allocation for each of the three entries of a new RMA.
func (k keys) thread(partner, messageID string) string {
	return k.partner(partner) + "tn:" + threadDigest(messageID)
}

// threadHash is the hash form of an entry (read, no longer written).
func (k keys) threadHash(partner, messageID string) string {
	return k.partner(partner) + "th:" + threadDigest(messageID)
}

func (k keys) threadSet(partner, messageID string) string {
	return k.partner(partner) + "thread:" + shortHash(normMessageID(messageID))
}

func threadDigest(messageID string) string { return shortHash(normMessageID(messageID))[:16] }

func normMessageID(id string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(id), "<>"))
}

// threadAddScript adds numbers to thread entries that exist already (KEYS) and renews them;
// ARGV: the numbers ("yyyy:n", space-separated), the expiry in ms.
var threadAddScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  local out = redis.call('GET', k) or ''
  local have = {}
  for n in string.gmatch(out, '%S+') do have[n] = true end
  for n in string.gmatch(ARGV[1], '%S+') do
    if not have[n] then
      have[n] = true
      if out == '' then out = n else out = out .. ' ' .. n end
    end
  end
  redis.call('SET', k, out, 'PX', ARGV[2])
end
return 1
`)

// threadValue is how a thread entry keeps an RMA number: "yyyy:n" (or as given, if it is none).
func threadValue(number string) string {
	if n, err := rma.ParseNumber(number); err == nil {
		return numberKey{Year: n.Year, N: n.N}.String()
	}
	return number
}

// threadNumber reads a threadValue back.
func threadNumber(v string) string {
	if nk, err := parseNumberKey(v); err == nil {
		return rma.Number{N: nk.N, Year: nk.Year}.String()
	}
	return v
}

// IndexThread records that the mails messageIDs (rmad's replies, answers and staff copies, and
// the partner mail they answer) belong to the thread of the partner's RMAs numbers. Indexing
// again adds to the thread and renews it. A Message-ID given together with its reference token
// (rma.RefToken: one of rmad's own mails) is indexed under the token alone, which
// ThreadNumbers looks up for every Message-ID too: one entry per mail instead of two.
func (s *Store) IndexThread(ctx context.Context, partner string, numbers []string, messageIDs ...string) error {
	pipe := s.c.Pipeline()
	result := s.indexThreadIn(ctx, pipe, partner, numbers, messageIDs)
	_, _ = pipe.Exec(ctx) // result reads each command's own outcome
	return result()
}

// IndexThreadIn is IndexThread with its writes queued on pipe, ahead of what the caller queues
// after them (the outbox entry of the mails messageIDs: one round trip instead of two). Redis
// runs a pipeline's commands in order, so the entries are there before anyone can read the
// outbox entry. Entries that existed already (a retry, a thread that grows) get the numbers
// added by result, after pipe ran; a new mail's are all new (its Message-IDs are), and a
// retry's hold its numbers already. On Cluster a pipeline goes to each node at once, in no
// order, so there it indexes at once, before it returns. result must be called once pipe ran.
func (s *Store) IndexThreadIn(ctx context.Context, pipe redis.Pipeliner, partner string, numbers []string, messageIDs ...string) (result func() error) {
	if s.multiStep {
		err := s.IndexThread(ctx, partner, numbers, messageIDs...)
		return func() error { return err }
	}
	return s.indexThreadIn(ctx, pipe, partner, numbers, messageIDs)
}

func (s *Store) indexThreadIn(ctx context.Context, pipe redis.Pipeliner, partner string, numbers []string, messageIDs []string) (result func() error) {
	if len(numbers) == 0 {
		return func() error { return nil }
	}
	vals := make([]string, len(numbers))
	for i, n := range numbers {
		vals[i] = threadValue(n)
	}
	v := strings.Join(vals, " ")
	given := make(map[string]bool, len(messageIDs))
	for _, id := range messageIDs {
		given[normMessageID(id)] = true
	}
	var ks []string
	var cmds []*redis.BoolCmd
	// New entries (a new mail's) are one SET NX each; those that exist already (a retry, a
	// thread that grows) get the numbers added by threadAddScript.
	for _, id := range messageIDs {
		if n := normMessageID(id); n == "" || given[normMessageID(rma.RefToken(n))] {
			continue
		}
		k := s.k.thread(partner, id)
		if slices.Contains(ks, k) { // a token given twice: mails that share an entry
			continue
		}
		ks = append(ks, k)
		cmds = append(cmds, pipe.SetNX(ctx, k, v, ThreadTTL))
	}
	return func() error {
		var taken []string
		for i, c := range cmds {
			ok, err := c.Result()
			if err != nil {
				return fmt.Errorf("index thread of %s: %w", strings.Join(numbers, ","), err)
			}
			if !ok {
				taken = append(taken, ks[i])
			}
		}
		if len(taken) > 0 {
			if err := threadAddScript.Run(ctx, s.c, taken, v, ThreadTTL.Milliseconds()).Err(); err != nil {
				return fmt.Errorf("index thread of %s: %w", strings.Join(numbers, ","), err)
			}
		}
		return nil
	}
}

// ThreadNumbers returns the RMA numbers of the partner's threads that messageIDs belong to
// (none when no id is indexed), in number order, and renews the entries found. Each id is
// looked up as it is and by its reference token (IndexThread keeps rmad's mails under that),
// and in the hash and set forms of earlier versions.
func (s *Store) ThreadNumbers(ctx context.Context, partner string, messageIDs []string) ([]string, error) {
	var strs, olds []string
	var found []*redis.StringSliceCmd
	pipe := s.c.Pipeline()
	for _, id := range messageIDs {
		if normMessageID(id) != "" {
			tok := rma.RefToken(id)
			strs = append(strs, s.k.thread(partner, id), s.k.thread(partner, tok))
			h, ht, old := s.k.threadHash(partner, id), s.k.threadHash(partner, tok), s.k.threadSet(partner, id)
			olds = append(olds, h, ht, old)
			found = append(found, pipe.HKeys(ctx, h), pipe.HKeys(ctx, ht), pipe.SMembers(ctx, old))
		}
	}
	if len(strs) == 0 {
		return nil, nil
	}
	vals := pipe.MGet(ctx, strs...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("thread look-up: %w", err)
	}
	var nums, renew []string
	add := func(n string) {
		if !slices.Contains(nums, n) {
			nums = append(nums, n)
		}
	}
	for i, v := range vals.Val() {
		if v, ok := v.(string); ok {
			renew = append(renew, strs[i])
			for _, n := range strings.Fields(v) {
				add(threadNumber(n))
			}
		}
	}
	for i, f := range found {
		if len(f.Val()) > 0 {
			renew = append(renew, olds[i])
		}
		for _, n := range f.Val() {
			add(n)
		}
	}
	if len(nums) == 0 {
		return nil, nil
	}
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range renew {
			p.Expire(ctx, k, ThreadTTL)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("thread renew: %w", err)
	}
	slices.SortFunc(nums, func(a, b string) int {
		x, _ := rma.ParseNumber(a)
		y, _ := rma.ParseNumber(b)
		if x.Year != y.Year {
			return x.Year - y.Year
		}
		return x.N - y.N
	})
	return nums, nil
}

// FollowUpKey is the once-key (AddEventOnce) under which a follow-up mail is written on each RMA
// of its thread: the same mail, retried after a crash or fetched twice, is written once.
func FollowUpKey(sub rma.Submission) string { return "followup:" + shortHash(SubmissionKey(sub)) }

// Rejected is what one reply rejected, kept with the thread (same lifetime) so that the
// partner's answer in that thread can complete the items: their values as sent, and what of
// the mail counts for them again (its proof of purchase, its language, its CSV delimiter).
type Rejected struct {
	ID           string         `json:"id"` // of the submission whose reply rejected them
	HasProof     bool           `json:"has_proof"`
	Locale       string         `json:"locale,omitempty"`
	CSVDelimiter rune           `json:"csv_delimiter,omitempty"`
	Items        []RejectedItem `json:"items"`
}

// RejectedItem is one rejected item and the root it completes: the first rejected item of the
// chain ("<set id>:<line>"), whatever completion attempt rejected it again.
type RejectedItem struct {
	Root     string       `json:"root"`
	Decision rma.Decision `json:"decision"`
}

// RejectedID is the id of the rejected items of submission sub.
func RejectedID(sub rma.Submission) string {
	return shortHash(sub.PartnerID + "\n" + SubmissionKey(sub))
}

func (k keys) rejected(partner, id string) string { return k.partner(partner) + "rejected:" + id }
func (k keys) threadRejected(partner, messageID string) string {
	return k.partner(partner) + "threadrej:" + shortHash(normMessageID(messageID))
}
func (k keys) completed(partner, root string) string {
	return k.partner(partner) + "completed:" + shortHash(root)
}

// IndexRejected keeps the rejected items r of a partner's submission for the thread of the mails
// messageIDs (the partner's mail, rmad's reply and staff copy), for ThreadTTL.
func (s *Store) IndexRejected(ctx context.Context, partner string, r Rejected, messageIDs ...string) error {
	if len(r.Items) == 0 {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("index rejected items of %s: %w", r.ID, err)
	}
	_, err = s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.k.rejected(partner, r.ID), b, ThreadTTL)
		for _, id := range messageIDs {
			if normMessageID(id) != "" {
				p.Set(ctx, s.k.threadRejected(partner, id), r.ID, ThreadTTL)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index rejected items of %s: %w", r.ID, err)
	}
	return nil
}

// ThreadRejected returns the rejected items of the first of messageIDs that has any (so list
// the mail answered first), or nil.
func (s *Store) ThreadRejected(ctx context.Context, partner string, messageIDs []string) (*Rejected, error) {
	var ks []string
	for _, id := range messageIDs {
		if normMessageID(id) != "" {
			ks = append(ks, s.k.threadRejected(partner, id))
		}
	}
	if len(ks) == 0 {
		return nil, nil
	}
	ids, err := s.c.MGet(ctx, ks...).Result()
	if err != nil {
		return nil, fmt.Errorf("rejected items look-up: %w", err)
	}
	for _, v := range ids {
		id, ok := v.(string)
		if !ok || id == "" {
			continue
		}
		b, err := s.c.Get(ctx, s.k.rejected(partner, id)).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("rejected items %s: %w", id, err)
		}
		var r Rejected
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("rejected items %s: %w", id, err)
		}
		return &r, nil
	}
	return nil, nil
}

// MarkCompleted records that the rejected item root was completed by submission by as RMA
// number; it returns the RMA number and submission of the first completion (these very ones
// unless root was completed before).
func (s *Store) MarkCompleted(ctx context.Context, partner, root, by, number string) (firstNumber, firstBy string, err error) {
	k := s.k.completed(partner, root)
	v := number + " " + by
	if err := s.c.SetNX(ctx, k, v, ThreadTTL).Err(); err != nil {
		return "", "", fmt.Errorf("mark %s completed: %w", root, err)
	}
	return s.Completed(ctx, partner, root)
}

// Completed returns the RMA number and completing submission of rejected item root, or "".
func (s *Store) Completed(ctx context.Context, partner, root string) (number, by string, err error) {
	v, err := s.c.Get(ctx, s.k.completed(partner, root)).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", nil
	} else if err != nil {
		return "", "", fmt.Errorf("completed %s: %w", root, err)
	}
	number, by, _ = strings.Cut(v, " ")
	return number, by, nil
}

// KeyedBefore reports whether mail sub was handled by an earlier version of rmad, which keyed
// a mail by its Message-ID and the SHA-256 of its raw bytes rather than by Message-ID, sender
// and decoded content (SubmissionKey): its submission outcome (a submission, or a completion of
// rejected items) under that key, or its follow-up note under that key on one of numbers (the
// thread's RMAs). A mail taken in again after an upgrade (it was still in the mailbox, or in
// the inbox stream) is then handled under the old key, so what was recorded and sent for it
// is recognised and nothing is done or mailed twice. False for mail without a content digest.
func (s *Store) KeyedBefore(ctx context.Context, sub rma.Submission, numbers []string) (bool, error) {
	if sub.Source.ContentSHA256 == "" || sub.PartnerID == "" {
		return false, nil
	}
	old := OldKeyed(sub)
	p := sub.PartnerID
	pipe := s.c.Pipeline()
	outcome := pipe.Exists(ctx, s.k.sub(p, shortHash(p+"\n"+SubmissionKey(old))))
	var notes []*redis.BoolCmd
	for _, n := range numbers {
		num, err := rma.ParseNumber(n)
		if err != nil {
			continue
		}
		nk := numberKey{Year: num.Year, N: num.N}
		notes = append(notes, pipe.HExists(ctx, s.k.ruled(p), FollowUpKey(old)+" "+nk.String()))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return false, fmt.Errorf("earlier key of %s: %w", sub.Source.MessageID, err)
	}
	if outcome.Val() > 0 {
		return true, nil
	}
	for _, c := range notes {
		if c.Val() {
			return true, nil
		}
	}
	return false, nil
}

// OldKeyed is sub as earlier versions keyed it: without its content digest, so SubmissionKey
// (and the Message-IDs of the mails about it) come from its Message-ID and raw SHA-256.
func OldKeyed(sub rma.Submission) rma.Submission {
	sub.Source.ContentSHA256 = ""
	return sub
}
