package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// commitOneScript is a whole commit in one script, where every key is on one server (a single
// server, or Sentinel's master): classification, numbers (with the high-water guard of
// reserveScript), records, dedupe keys, the worklist and tracking indexes and the stored
// outcome, atomically. It needs no reservation, and a crash leaves all of it or nothing.
// Record keys are built here from their numbers, which only this script knows. KEYS[1] is the
// submission's stored outcome; ARGV: plan, the packed storedOutcome with the decisions as
// given (” when plan.allnum: the script answers {'full'} before it writes anything if it
// needs them), then the records' packed chunks. The stored outcome is outcomeAssigned, the
// classification with "+yyyy:n" for the new numbers, joined by '|', a newline, then that
// packed value; or, when every decision needs a number and got a new one (plan.allnum, the
// usual mail), outcomeRecorded and the classification alone: the decisions are the new
// records' (about 330 B less per RMA for 90 days). The script returns {'ok', classification,
// raised} or {'replay', stored}.
var commitOneScript = redis.NewScript(luaWriteRecord + luaClassify + luaIxPut + `
local plan = cjson.decode(ARGV[1])
-- Every read in one MGET: the stored outcome, the high-water mark, the dedupe keys.
local got = readKeys(classifyKeys(plan.items, {1, plan.issued, plan.listed}))
if got[1] then return {'replay', got[1]} end
local cls = classify(plan.items, got)
local fresh = 0
for i = 1, #cls do if cls[i] == '' then fresh = fresh + 1 end end
local recorded = plan.allnum and fresh == #cls
-- Sent without the packed decisions (plan.allnum), which only a duplicate needs: ask for them.
if ARGV[2] == '' and not recorded then return {'full'} end
local raised = ''
if fresh > 0 then
  local floor = math.max(tonumber(plan.floor), tonumber(got[plan.issued] or '0'))
  local last = redis.call('INCRBY', KEYS[plan.seq], fresh)
  if last - fresh < floor then
    raised = 'raised:' .. (last - fresh) .. ':' .. floor
    last = floor + fresh
    redis.call('SET', KEYS[plan.seq], last)
  end
  if not got[plan.listed] then
    redis.call('SADD', KEYS[plan.partners], plan.partner)
    redis.call('SET', KEYS[plan.listed], 1)
  end
  local n = last - fresh
  for i, it in ipairs(plan.items) do
    if cls[i] == '' then
      n = n + 1
      local num = plan.year .. ':' .. n
      local w = it.w
      w.fields[#w.fields + 1] = 'number'
      w.fields[#w.fields + 1] = plan.numpre .. n .. plan.numpost
      writeRecord(plan, w, plan.recpre .. num, num, num .. ' ' .. it.hand)
      redis.call('HSET', KEYS[plan.owner], n, plan.partner)
      local ks = {} -- ixNewKeys
      for j, k in ipairs(it.ix) do ks[j] = KEYS[k] end
      ixNew(ks, num, plan.updms, it.open)
      if it.trk > 0 then redis.call('SADD', KEYS[it.trk], num) end
      cls[i] = '+' .. num
    end
  end
end
local a = table.concat(cls, '|')
-- Every decision numbered here: the records hold them, the classification says where.
if recorded then
  redis.call('SET', KEYS[1], '\0a2' .. a, 'PX', plan.subttl)
else
  redis.call('SET', KEYS[1], '\0a1' .. a .. '\n' .. ARGV[2], 'PX', plan.subttl)
end
return {'ok', a, raised}
`)

// outcomeAssigned starts a stored outcome that keeps the decisions as given and, before them,
// their classification with the new numbers (commitOneScript).
const outcomeAssigned = "\x00a1"

// outcomeRecorded starts a stored outcome of decisions that all became new records: the
// classification alone, every entry "+yyyy:n"; a replay reads the decisions from the records,
// which keep them as given.
const outcomeRecorded = "\x00a2"

type luaOneItem struct {
	luaItem
	W    luaWrite `json:"w"`
	Hand string   `json:"hand"`
	Ix   []int    `json:"ix"`
	Open bool     `json:"open"`
	Trk  int      `json:"trk"`
}

type luaOnePlan struct {
	Items    []luaOneItem `json:"items"`
	Seq      int          `json:"seq"`
	Issued   int          `json:"issued"`
	Owner    int          `json:"owner"`
	Partners int          `json:"partners"`
	Listed   int          `json:"listed"`
	Upd      int          `json:"upd"`
	UpdMS    string       `json:"updms"`
	Floor    string       `json:"floor"`
	Year     string       `json:"year"`
	Partner  string       `json:"partner"`
	AllNum   bool         `json:"allnum"` // every decision needs a number
	RecPre   string       `json:"recpre"`
	NumPre   string       `json:"numpre"`
	NumPost  string       `json:"numpost"`
	SubTTL   int64        `json:"subttl"`
}

// numberMark stands for the number in an RMA number's display form: no year has its digits.
const numberMark = 987654321

// commitOne commits a submission of at most commitChunk candidates with commitOneScript.
func (s *Store) commitOne(ctx context.Context, sub rma.Submission, key string, decisions []rma.Decision,
	cands []candidate, base keyList, items []luaItem, year int, now time.Time) (Outcome, error) {
	p := sub.PartnerID
	kl := keyList{keys: append([]string(nil), base.keys...), at: map[string]int{}}
	for k, v := range base.at {
		kl.at[k] = v
	}
	plan := luaOnePlan{Items: make([]luaOneItem, 0, len(cands)), UpdMS: strconv.FormatInt(now.UnixMilli(), 10),
		Floor: strconv.Itoa(s.issued.get(year)), Year: fmt.Sprintf("%04d", year), Partner: p,
		RecPre: s.k.partner(p) + "rma:", SubTTL: SubmissionTTL.Milliseconds()}
	plan.NumPre, plan.NumPost, _ = strings.Cut(rma.Number{N: numberMark, Year: year}.String(), strconv.Itoa(numberMark))
	plan.Seq, plan.Issued, plan.Owner = kl.add(s.k.seq(year)), kl.add(s.k.issued(year)), kl.add(s.k.owner(year))
	// No updated entry: a new RMA is open, in its partner's open set (ix:po) scored by its
	// creation, which ChangedSince reads too; its first status change adds it. The worklist
	// entries are written by this same script, so none is missing after a crash.
	plan.Partners, plan.Listed = kl.add(s.k.partners()), kl.add(s.k.listed(p))
	plan.AllNum = len(cands) == len(decisions) && len(cands) > 0
	args := []any{nil, nil} // plan and outcome, set below
	for ci, c := range cands {
		d := decisions[c.idx]
		w, blob, err := s.recordWrite(&kl, sub, d, c, now)
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		w.Blob, w.Blobs = len(args)+1, len(blob)
		args = append(args, blob...)
		st := rma.InitialStatus(d.Route.Handling)
		it := luaOneItem{luaItem: items[ci], W: w, Hand: string(d.Route.Handling), Open: st.IsOpen()}
		e := ixEntry{partner: p, handling: d.Route.Handling, status: st}
		if d.Product != nil {
			e.brand = d.Product.Brand
		}
		for _, k := range s.ixNewKeys(e) {
			it.Ix = append(it.Ix, kl.add(k))
		}
		if t := normSerial(d.Item.Tracking); t != "" {
			it.Trk = kl.add(s.k.ix("trk:" + t))
		}
		plan.Items = append(plan.Items, it)
	}
	var err error
	if args[0], err = json.Marshal(plan); err != nil {
		return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
	}
	args[1] = "" // the packed decisions, only if a duplicate needs them (plan.AllNum)
	res, err := []string{"full"}, error(nil)
	if plan.AllNum {
		res, err = commitOneScript.Run(ctx, s.c, kl.keys, args...).StringSlice()
	}
	if err == nil && res[0] == "full" {
		if args[1], err = packJSON(storedOutcome{Key: key, At: now, Decisions: decisions}); err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		res, err = commitOneScript.Run(ctx, s.c, kl.keys, args...).StringSlice()
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
	}
	switch {
	case res[0] == "replay":
		return s.replayOutcome(ctx, p, key, res)
	case res[0] == "ok" && len(res) == 3:
		if res[2] != "" {
			s.raisedLog(year, res[2])
		}
		out, nums, err := assignedOutcome(key, decisions, res[1])
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		s.issued.note(nums)
		return out, nil
	}
	return Outcome{}, fmt.Errorf("store commit %s: unexpected answer %q", key, res)
}

// assignedOutcome is the outcome of decisions under commitOneScript's classification a: per
// candidate '|'-separated, "+yyyy:n" for a new number; nums are the new numbers.
func assignedOutcome(key string, decisions []rma.Decision, a string) (Outcome, []numberKey, error) {
	var cands []candidate
	for i, d := range decisions {
		if d.NeedsNumber() {
			cands = append(cands, candidate{idx: i})
		}
	}
	var cls []string
	if len(cands) > 0 {
		cls = strings.Split(a, "|")
	}
	if len(cls) != len(cands) {
		return Outcome{}, nil, fmt.Errorf("classification of %d items for %d", len(cls), len(cands))
	}
	var nums []numberKey
	for i, c := range cls {
		if n, ok := strings.CutPrefix(c, "+"); ok {
			nk, err := parseNumberKey(n)
			if err != nil {
				return Outcome{}, nil, err
			}
			nums = append(nums, nk)
			cls[i] = ""
		}
	}
	out, _, err := numberDecisions(key, decisions, cands, cls, nums)
	return out, nums, err
}

// storedDecisions reads a partner's stored outcome: the decisions as numbered, from any form.
func (s *Store) storedDecisions(ctx context.Context, partner, key string, v []byte) (storedOutcome, error) {
	var so storedOutcome
	if a, ok := bytes.CutPrefix(v, []byte(outcomeRecorded)); ok {
		return s.recordedDecisions(ctx, partner, key, string(a))
	}
	rest, ok := bytes.CutPrefix(v, []byte(outcomeAssigned))
	if !ok {
		return so, unpackJSON(v, &so)
	}
	a, packed, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return so, fmt.Errorf("no decisions after the classification")
	}
	if err := unpackJSON(packed, &so); err != nil {
		return so, err
	}
	out, _, err := assignedOutcome(so.Key, so.Decisions, string(a))
	so.Decisions = out.Decisions
	return so, err
}

// recordedDecisions reads an outcomeRecorded outcome's decisions from its records.
func (s *Store) recordedDecisions(ctx context.Context, partner, key, a string) (storedOutcome, error) {
	so := storedOutcome{Key: key}
	var nums []numberKey
	for _, c := range strings.Split(a, "|") {
		n, ok := strings.CutPrefix(c, "+")
		nk, err := parseNumberKey(n)
		if !ok || err != nil {
			return so, fmt.Errorf("recorded outcome: bad entry %q", c)
		}
		nums = append(nums, nk)
	}
	recs, err := s.load(ctx, partner, nums)
	if err != nil {
		return so, err
	}
	if len(recs) != len(nums) {
		return so, fmt.Errorf("recorded outcome: %d of its %d records found", len(recs), len(nums))
	}
	for _, r := range recs {
		so.Decisions = append(so.Decisions, r.Decision)
	}
	return so, nil
}
