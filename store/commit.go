package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// Outcome is what a commit decided for a submission.
type Outcome struct {
	// Decisions are the input decisions with numbers: accepted items carry their new RMA number;
	// items that repeat an existing claim have Result duplicate, the existing number and its
	// handling. On a replay they are the decisions stored by the first commit.
	Decisions []rma.Decision
	// Replay is true when this very submission (same source key) was committed before, e.g. the
	// worker crashed after committing and before acknowledging: send the same reply again.
	Replay bool
	// SubmissionKey identifies the submission's source (webhook id, or Message-ID and raw hash).
	SubmissionKey string
}

// SubmissionTTL is how long a submission's outcome is kept for replays (the same mail or
// webhook delivery committed again answers with the first outcome). A dead letter retried
// after that is a new submission: its items with an own number or an open serial are then
// duplicates of their RMAs.
const SubmissionTTL = 90 * 24 * time.Hour

// reservationTTL bounds how long reserved numbers wait for their commit. A retry after that
// (a dead letter retried weeks later) reserves new numbers; the old ones are skipped once.
const reservationTTL = 30 * 24 * time.Hour

// maxCommitRounds bounds the classify-reserve-commit loop; each round that does not finish
// means another commit changed the partner's dedupe keys in between.
const maxCommitRounds = 8

// SubmissionKey is the source key that makes a submission the same one: the webhook delivery id,
// else the Message-ID with the sender and the digest of the mail's decoded content (so the
// same mail fetched again, or resent with another Date or MIME boundary, is the same, and
// another mail under a reused Message-ID is not), else the Message-ID with the SHA-256 of the
// raw mail, else (no source at all) a digest of the items.
func SubmissionKey(sub rma.Submission) string {
	src := sub.Source
	switch {
	case src.WebhookID != "":
		return "webhook:" + src.WebhookID
	case src.ContentSHA256 != "":
		return "mail:" + src.MessageID + "/" + shortHash(strings.ToLower(sub.From)+"\n"+src.ContentSHA256)
	case src.MessageID != "" || src.RawSHA256 != "":
		ch := src.Channel
		if ch == "" {
			ch = "mail"
		}
		return ch + ":" + src.MessageID + "/" + src.RawSHA256
	default:
		b, _ := json.Marshal(sub.Items) // plain strings: cannot fail
		h := sha256.Sum256(b)
		return "content:" + hex.EncodeToString(h[:])
	}
}

// storedOutcome is kept under the submission's key for replays.
type storedOutcome struct {
	Key       string         `json:"key"`
	At        time.Time      `json:"at"`
	Decisions []rma.Decision `json:"decisions"`
}

// candidate is an item that needs a number, unless it is a duplicate.
type candidate struct {
	idx       int // into decisions
	own, ser  string
	ownKeyIdx int
	oserIdx   int
}

// Plan types are read by commitScript (cjson): KEYS indexes are 1-based, 0 means none.
type luaItem struct {
	Own  int    `json:"own"`
	OwnC int    `json:"ownc"` // the own number's bucket of the compacted index (compact.go)
	OwnF string `json:"ownf"` // and its field there
	// CMark is the partner's compaction mark (compactMark): without one the partner has no
	// compacted RMA, and the bucket is not read.
	CMark int    `json:"cmark"`
	OSer  int    `json:"oser"`
	OwnV  string `json:"ownv"`
	SerV  string `json:"serv"`
}

type luaWrite struct {
	Rec    int      `json:"rec"`
	Own    int      `json:"own"`
	SSet   int      `json:"sset"`
	OSer   int      `json:"oser"`
	Stat   int      `json:"stat"`
	Num    string   `json:"num"`
	Val    string   `json:"val"`
	Fields []string `json:"fields"`
	// Blob and Blobs: the record's packed decision and source as ARGV[Blob..Blob+Blobs-1],
	// hash fields z0, z1, ... (binary: it cannot travel inside the plan's JSON).
	Blob  int `json:"blob"`
	Blobs int `json:"blobs"`
	item  int // the candidate it writes (chunked commits)
}

type luaPlan struct {
	Items  []luaItem  `json:"items"`
	Expect []string   `json:"expect"`
	Writes []luaWrite `json:"writes"`
	Upd    int        `json:"upd"`
	UpdMS  string     `json:"updms"`
	SubTTL int64      `json:"subttl"` // ms the stored outcome is kept
}

// luaWriteRecord is the Lua function the commit scripts write a new record with (plan w, the
// record's key rec, its number key num, the own-number and serial keys' value val): its fields
// and packed chunks in one HSET, own-number and open-serial keys in one MSET, serial index,
// status set, and the updated index unless plan.upd is 0 (commitOneScript: see there).
const luaWriteRecord = `
local function writeRecord(plan, w, rec, num, val)
  local f = w.fields -- and the packed chunks: one HSET per record
  for j = 0, w.blobs - 1 do f[#f + 1] = 'z' .. j; f[#f + 1] = ARGV[w.blob + j] end
  redis.call('HSET', rec, unpack(f))
  local dd = {} -- the dedupe keys, in one MSET
  if w.own > 0 then dd[#dd + 1] = KEYS[w.own]; dd[#dd + 1] = val end
  if w.oser > 0 then dd[#dd + 1] = KEYS[w.oser]; dd[#dd + 1] = val end
  if #dd > 0 then redis.call('MSET', unpack(dd)) end
  if w.sset > 0 then redis.call('HSET', KEYS[w.sset], num, '') end
  redis.call('SADD', KEYS[w.stat], num)
  if plan.upd > 0 then redis.call('ZADD', KEYS[plan.upd], plan.updms, num) end
end
`

// luaClassify holds the Lua functions that classify a submission's candidate items (plan
// items) against the partner's dedupe keys (an own number's also in the compacted index:
// ownClaim). readKeys reads the KEYS at the given indexes (0:
// none) in one MGET and returns their values by index; classify takes those values. A
// classification is ” (new), 'yyyy:n handling' (an existing RMA) or '@i' (the same as
// candidate i of this submission).
const luaClassify = luaOwnClaim + `
local function readKeys(idx)
  local ks, at = {}, {}
  for _, i in ipairs(idx) do
    if i > 0 and not at[i] then ks[#ks + 1] = KEYS[i]; at[i] = #ks end
  end
  local out = {}
  if #ks == 0 then return out end
  local vs = redis.call('MGET', unpack(ks))
  for i, j in pairs(at) do
    if vs[j] then out[i] = vs[j] end
  end
  return out
end
local function classifyKeys(items, idx)
  for _, it in ipairs(items) do
    idx[#idx + 1] = it.own; idx[#idx + 1] = it.oser; idx[#idx + 1] = it.cmark
  end
  return idx
end
local function classify(items, got)
  local cls = {}
  local seenOwn, seenSer = {}, {}
  for i, it in ipairs(items) do
    local c = ownClaim(it, got)
    if c == '' and it.oser > 0 then c = got[it.oser] or '' end
    if c == '' and it.ownv ~= '' and seenOwn[it.ownv] then c = '@' .. seenOwn[it.ownv] end
    if c == '' and it.serv ~= '' and seenSer[it.serv] then c = '@' .. seenSer[it.serv] end
    if c == '' then
      if it.ownv ~= '' then seenOwn[it.ownv] = i end
      if it.serv ~= '' then seenSer[it.serv] = i end
    end
    cls[i] = c
  end
  return cls
end
`

// commitScript classifies a submission's candidate items against the partner's dedupe keys
// (mode "classify", read only) or checks that the classification is unchanged and writes
// everything (mode "commit"). KEYS[1] is the submission's stored outcome; ARGV: mode, plan,
// outcome, then the records' packed chunks. It is the first and third step of the commit on
// Redis Cluster (commitSteps); elsewhere commitOneScript does all in one.
var commitScript = redis.NewScript(luaWriteRecord + luaClassify + `
local plan = cjson.decode(ARGV[2])
local got = readKeys(classifyKeys(plan.items, {1}))
if got[1] then return {'replay', got[1]} end
local cls = classify(plan.items, got)
if ARGV[1] == 'classify' then
  local out = {'classified'}
  for i = 1, #cls do out[i + 1] = cls[i] end
  return out
end
if #plan.expect ~= #cls then return {'changed'} end
for i = 1, #cls do
  if plan.expect[i] ~= cls[i] then return {'changed'} end
end
for _, w in ipairs(plan.writes) do writeRecord(plan, w, KEYS[w.rec], w.num, w.val) end
redis.call('SET', KEYS[1], ARGV[3], 'PX', plan.subttl)
return {'ok'}
`)

// reserveScript hands out numbers for a submission once: KEYS seq, reservation, owner,
// partners, issued (the year's high-water mark); ARGV count, year, partner, ttl ms, floor (the
// highest number this process reserved). It returns the reservation (at least count "yyyy:n"
// entries), growing it only by what is missing, and then "raised:<old>:<new>" when it found the
// counter below the high-water mark or the floor (its master lost writes) and raised it first.
var reserveScript = redis.NewScript(`
local have = redis.call('LRANGE', KEYS[2], 0, -1)
local want = tonumber(ARGV[1])
if #have < want then
  local need = want - #have
  local floor = math.max(tonumber(ARGV[5]), tonumber(redis.call('GET', KEYS[5]) or '0'))
  local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
  local raised = nil
  if cur < floor then
    redis.call('SET', KEYS[1], floor)
    raised = 'raised:' .. cur .. ':' .. floor
  end
  local last = redis.call('INCRBY', KEYS[1], need)
  for n = last - need + 1, last do
    local nk = ARGV[2] .. ':' .. n
    redis.call('RPUSH', KEYS[2], nk)
    redis.call('HSET', KEYS[3], n, ARGV[3])
    have[#have + 1] = nk
  end
  redis.call('SADD', KEYS[4], ARGV[3])
  if raised then have[#have + 1] = raised end
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return have
`)

// keyList collects a script's KEYS; add returns the key's 1-based index.
type keyList struct {
	keys []string
	at   map[string]int
}

func (l *keyList) add(k string) int {
	if i, ok := l.at[k]; ok {
		return i
	}
	if l.at == nil {
		l.at = map[string]int{}
	}
	l.keys = append(l.keys, k)
	l.at[k] = len(l.keys)
	return len(l.keys)
}

// Commit numbers and records a submission's decisions in one atomic step per partner (see the
// package comment). Only items with d.NeedsNumber() get numbers and records; the others are
// kept in the stored outcome as they are. Committing the same submission again returns the
// first outcome with Replay set; an item that repeats a claim of an earlier submission (same
// own number, or a serial with an open RMA of the partner) becomes a duplicate. The numbers'
// year is now's year in now's location: pass now in the service's time zone.
func (s *Store) Commit(ctx context.Context, sub rma.Submission, decisions []rma.Decision, now time.Time) (Outcome, error) {
	p := sub.PartnerID
	if p == "" {
		return Outcome{}, errors.New("store commit: submission has no partner")
	}
	key := SubmissionKey(sub)
	subID := shortHash(p + "\n" + key)
	year := now.Year() // in the caller's time zone: the service desk's new year, not UTC's
	now = now.UTC()

	var cands []candidate
	for i, d := range decisions {
		if d.NeedsNumber() {
			cands = append(cands, candidate{idx: i, own: normOwn(d.Item.OwnNumber), ser: normSerial(d.Item.Serial)})
		}
	}
	var base keyList
	base.add(s.k.sub(p, subID))
	items := make([]luaItem, len(cands))
	for i := range cands {
		c := &cands[i]
		items[i] = luaItem{OwnV: c.own, SerV: c.ser}
		if c.own != "" {
			c.ownKeyIdx = base.add(s.k.own(p, c.own))
			items[i].Own, items[i].OwnF = c.ownKeyIdx, compactField('o', c.own)
			items[i].OwnC = base.add(s.k.compactIndex(p, items[i].OwnF))
			items[i].CMark = base.add(s.k.compactMark(p))
		}
		if c.ser != "" {
			c.oserIdx = base.add(s.k.oserial(p, c.ser))
		}
		items[i].OSer = c.oserIdx
	}

	if len(cands) > commitChunk {
		return s.commitChunked(ctx, sub, key, subID, decisions, cands, base, items, year, now)
	}
	if !s.multiStep {
		return s.commitOne(ctx, sub, key, decisions, cands, base, items, year, now)
	}
	for range maxCommitRounds {
		cls := []string{}
		if len(cands) > 0 {
			plan, _ := json.Marshal(luaPlan{Items: items, Expect: []string{}, Writes: []luaWrite{}})
			res, err := commitScript.Run(ctx, s.c, base.keys, "classify", plan, "").StringSlice()
			if err != nil {
				return Outcome{}, fmt.Errorf("store commit %s: classify: %w", key, err)
			}
			if res[0] == "replay" {
				return s.replayOutcome(ctx, p, key, res)
			}
			cls = res[1:]
			if len(cls) != len(cands) {
				return Outcome{}, fmt.Errorf("store commit %s: classify returned %d results for %d items", key, len(cls), len(cands))
			}
		}
		var nums []numberKey
		if fresh := countEmpty(cls); fresh > 0 {
			var err error
			if nums, err = s.reserve(ctx, subID, p, fresh, year); err != nil {
				return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
			}
		}
		out, kl, plan, chunks, err := s.buildCommit(sub, key, decisions, cands, cls, nums, base, items, now)
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		plan.SubTTL = SubmissionTTL.Milliseconds()
		planJSON, err := json.Marshal(plan)
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		stored, err := packJSON(storedOutcome{Key: key, At: now, Decisions: out.Decisions})
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		args := append([]any{"commit", planJSON, stored}, chunks...)
		res, err := commitScript.Run(ctx, s.c, kl.keys, args...).StringSlice()
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		if out, done, err := s.committed(ctx, key, p, out, res, now); done {
			return out, err
		}
		// "changed": another submission of this partner claimed a key in between; classify again.
	}
	return Outcome{}, fmt.Errorf("store commit %s: dedupe keys kept changing during %d attempts", key, maxCommitRounds)
}

// committed ends a commit round by the write script's answer: the new RMAs indexed after "ok",
// the stored outcome after "replay"; done is false after "changed".
func (s *Store) committed(ctx context.Context, key, partner string, out Outcome, res []string, now time.Time) (Outcome, bool, error) {
	switch res[0] {
	case "ok":
		if err := s.indexCommitted(ctx, partner, out.Decisions, now); err != nil {
			return out, true, fmt.Errorf("store commit %s: %w", key, err)
		}
		return out, true, nil
	case "replay":
		out, err := s.replayOutcome(ctx, partner, key, res)
		return out, true, err
	}
	return Outcome{}, false, nil
}

func countEmpty(ss []string) int {
	n := 0
	for _, s := range ss {
		if s == "" {
			n++
		}
	}
	return n
}

// replayOutcome is the outcome of the partner's submission key that a commit script found
// stored (res: 'replay', the stored value).
func (s *Store) replayOutcome(ctx context.Context, partner, key string, res []string) (Outcome, error) {
	if len(res) < 2 {
		return Outcome{}, fmt.Errorf("store commit %s: replay without stored outcome", key)
	}
	so, err := s.storedDecisions(ctx, partner, key, []byte(res[1]))
	if err != nil {
		return Outcome{}, fmt.Errorf("store commit %s: stored outcome: %w", key, err)
	}
	return Outcome{Decisions: so.Decisions, Replay: true, SubmissionKey: so.Key}, nil
}

// reserve returns count numbers for the submission; the same ones on every retry.
func (s *Store) reserve(ctx context.Context, subID, partner string, count, year int) ([]numberKey, error) {
	ks := []string{s.k.seq(year), s.k.reservation(subID), s.k.owner(year), s.k.partners(), s.k.issued(year)}
	res, err := reserveScript.Run(ctx, s.c, ks, count, strconv.Itoa(year), partner, reservationTTL.Milliseconds(),
		s.issued.get(year)).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("reserve numbers: %w", err)
	}
	if last := len(res) - 1; last >= 0 && strings.HasPrefix(res[last], "raised:") {
		s.raisedLog(year, res[last])
		res = res[:last]
	}
	if len(res) < count {
		return nil, fmt.Errorf("reserve numbers: got %d, want %d", len(res), count)
	}
	nums := make([]numberKey, count)
	for i := range nums {
		if nums[i], err = parseNumberKey(res[i]); err != nil {
			return nil, fmt.Errorf("reserve numbers: %w", err)
		}
	}
	s.issued.note(nums)
	return nums, nil
}

// buildCommit turns a classification and reserved numbers into the outcome and the commit plan.
func (s *Store) buildCommit(sub rma.Submission, key string, decisions []rma.Decision, cands []candidate,
	cls []string, nums []numberKey, base keyList, items []luaItem, now time.Time) (Outcome, keyList, luaPlan, []any, error) {
	p := sub.PartnerID
	kl := keyList{keys: append([]string(nil), base.keys...), at: map[string]int{}}
	for k, v := range base.at {
		kl.at[k] = v
	}
	plan := luaPlan{Items: items, Expect: cls, Writes: []luaWrite{}, UpdMS: strconv.FormatInt(now.UnixMilli(), 10)}
	plan.Upd = kl.add(s.k.updated(p))
	out, numOf, err := numberDecisions(key, decisions, cands, cls, nums)
	if err != nil {
		return out, kl, plan, nil, err
	}
	var chunks []any // ARGV after mode, plan and outcome
	next := 0
	for ci, c := range cands {
		if cls[ci] != "" {
			continue
		}
		nk := nums[next]
		next++
		w, blob, err := s.recordWrite(&kl, sub, out.Decisions[c.idx], c, now)
		if err != nil {
			return out, kl, plan, nil, err
		}
		w.Rec, w.Num = kl.add(s.k.rec(p, nk)), nk.String()
		w.Blob, w.Blobs = 4+len(chunks), len(blob)
		chunks = append(chunks, blob...)
		w.Val, w.item = numOf[ci], ci
		plan.Writes = append(plan.Writes, w)
	}
	return out, kl, plan, chunks, nil
}

// numberDecisions applies a classification (cls, per candidate) to the decisions: the i-th new
// candidate gets nums[i], the others become duplicates of what they repeat. numOf is, per
// candidate, the "yyyy:n handling" its dedupe keys hold.
func numberDecisions(key string, decisions []rma.Decision, cands []candidate, cls []string, nums []numberKey) (out Outcome, numOf []string, err error) {
	out = Outcome{Decisions: make([]rma.Decision, len(decisions)), SubmissionKey: key}
	copy(out.Decisions, decisions)
	numOf = make([]string, len(cands))
	next := 0
	for ci, c := range cands {
		d := &out.Decisions[c.idx]
		switch ref := cls[ci]; {
		case ref == "":
			if next >= len(nums) {
				return out, nil, fmt.Errorf("%d numbers for more new items", len(nums))
			}
			nk := nums[next]
			next++
			d.Number = rma.Number{N: nk.N, Year: nk.Year}.String()
			numOf[ci] = nk.String() + " " + string(d.Route.Handling)
		case strings.HasPrefix(ref, "@"):
			j, err := strconv.Atoi(ref[1:])
			if err != nil || j < 1 || j > ci {
				return out, nil, fmt.Errorf("bad classification %q", ref)
			}
			numOf[ci] = numOf[j-1]
			if err := markDuplicate(d, numOf[ci]); err != nil {
				return out, nil, err
			}
		default:
			numOf[ci] = ref
			if err := markDuplicate(d, ref); err != nil {
				return out, nil, err
			}
		}
	}
	return out, numOf, nil
}

// markDuplicate points a decision at the existing RMA "yyyy:n handling".
func markDuplicate(d *rma.Decision, ref string) error {
	numPart, handling, _ := strings.Cut(ref, " ")
	nk, err := parseNumberKey(numPart)
	if err != nil {
		return err
	}
	d.Result = rma.ResultDuplicate
	d.Number = rma.Number{N: nk.N, Year: nk.Year}.String()
	if handling != "" {
		d.Route.Handling = rma.Handling(handling)
	}
	return nil
}

// recordBody is what a record keeps packed (hash fields z0, z1, ...): the decision and the source.
type recordBody struct {
	Decision rma.Decision `json:"decision"`
	Source   rma.Source   `json:"source"`
}

// recordWrite is the plan entry that creates one record with its history and indexes, and the
// record's packed decision and source in chunks. The caller sets the record's key and number
// key (Rec, Num); a decision without its number (the one-script commit numbers it in Redis)
// gets the flat number field there.
func (s *Store) recordWrite(kl *keyList, sub rma.Submission, d rma.Decision, c candidate,
	now time.Time) (luaWrite, []any, error) {
	p := sub.PartnerID
	st := rma.InitialStatus(d.Route.Handling)
	blob, err := packJSON(recordBody{Decision: d, Source: sub.Source})
	if err != nil {
		return luaWrite{}, nil, err
	}
	ts := now.Format(time.RFC3339Nano)
	w := luaWrite{
		Stat: kl.add(s.k.status(p, string(st))),
		// The packed decision holds everything; the few flat fields are for people reading
		// Redis directly and for the one-call status change (flatFields); a record stays
		// within one listpack allocation.
		Fields: []string{"partner", p, "status", string(st), "handling", string(d.Route.Handling),
			"created_at", ts, "updated_at", ts,
			// The first history entry is implied (firstEvent), so a new RMA has no history list
			// until its status first changes; h0 holds the status it was created in.
			"h0", string(st)},
	}
	if d.Number != "" {
		w.Fields = append([]string{"number", d.Number}, w.Fields...)
	}
	w.Fields = append(w.Fields, flatFields(d)...)
	if c.own != "" {
		w.Own = c.ownKeyIdx
	}
	if c.ser != "" {
		// An open RMA's open-serial key is its serial's index entry (Lookup reads both); it
		// goes into the serial index (sn:) when it closes (setStatusScript), 152 B less
		// meanwhile.
		if st.IsOpen() {
			w.OSer = c.oserIdx
		} else {
			w.SSet = kl.add(s.k.serial(p, c.ser))
		}
	}
	return w, splitChunks(blob), nil
}

// firstEvent is the history entry a commit implies for a record created in status st (the
// record's h0 field).
func firstEvent(r rma.Record, st rma.Status) rma.Event {
	return rma.Event{At: r.CreatedAt, Status: st, Actor: "rmad", Extra: map[string]string{"source": describeSource(r.Source)}}
}

func describeSource(src rma.Source) string {
	switch {
	case src.WebhookID != "":
		return "webhook " + src.WebhookID
	case src.MessageID != "":
		return "mail <" + src.MessageID + ">"
	case src.Channel != "":
		return src.Channel
	}
	return "submission"
}
