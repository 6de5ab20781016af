package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// commitChunk is how many items one script of a big commit classifies, reserves numbers for
// or writes: a 10,000-item submission in one script held Redis for half a second, and every
// other mail, webhook and lease renewal with it. 100 records take a few milliseconds.
const commitChunk = 100

// chunkScript writes one chunk of a big commit (see commitChunked). KEYS[1] is the
// submission's stored outcome (read only: set after the last chunk); ARGV: plan, the numbers
// reserved for the submission that this and earlier chunks use (" yyyy:n yyyy:n "), then the
// chunk's records' packed chunks. An item's dedupe key that holds one of those
// numbers was written by an earlier chunk of this very submission: it counts as unclaimed, and
// a record that exists already is not written again.
var chunkScript = redis.NewScript(luaWriteRecord + luaClassify + `
local plan = cjson.decode(ARGV[1])
local got = readKeys(classifyKeys(plan.items, {1}))
if got[1] then return {'replay', got[1]} end
for i, it in ipairs(plan.items) do
  local c = ownClaim(it, got)
  if c == '' and it.oser > 0 then c = got[it.oser] or '' end
  local num = string.match(c, '^(%S+)')
  if num and string.find(ARGV[2], ' ' .. num .. ' ', 1, true) then c = '' end
  if c ~= plan.expect[i] then return {'changed'} end
end
for _, w in ipairs(plan.writes) do
  if redis.call('EXISTS', KEYS[w.rec]) == 0 then writeRecord(plan, w, KEYS[w.rec], w.num, w.val) end
end
return {'ok'}
`)

// afterChunk, when set (tests), runs after each written chunk; an error stops the commit there,
// as a crash would.
var afterChunk func(chunk int) error

// commitChunked commits a submission with more than commitChunk candidates in bounded steps,
// keeping what the one-script commit guarantees:
//
//   - classification in chunks of external claims only (the classify script without the
//     in-submission values), the repeats inside the submission found here in the same order
//     the script uses;
//   - numbers reserved in chunks into the submission's reservation, which only grows, so a
//     retry after a crash gets the same numbers and none is handed out twice or skipped;
//   - records written in chunks by chunkScript, which treats the submission's own numbers in
//     the dedupe keys as unclaimed and skips records already written, so a retry after a crash
//     between chunks writes the rest, nothing twice;
//   - then the outcome stored (SET NX, a plain command: for 10,000 items it is megabytes, which
//     a script would copy twice more), which makes every later call a replay. A crash before it
//     only means the retry finds every record written and stores it then.
func (s *Store) commitChunked(ctx context.Context, sub rma.Submission, key, subID string, decisions []rma.Decision,
	cands []candidate, base keyList, items []luaItem, year int, now time.Time) (Outcome, error) {
	p := sub.PartnerID
	for range maxCommitRounds {
		ours, err := s.c.LRange(ctx, s.k.reservation(subID), 0, -1).Result()
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: reservation: %w", key, err)
		}
		oursSet := make(map[string]bool, len(ours))
		for _, n := range ours {
			oursSet[n] = true
		}
		ext, replay, err := s.classifyExternal(ctx, p, key, base, items, oursSet)
		if err != nil || replay != nil {
			if replay != nil {
				return *replay, nil
			}
			return Outcome{}, err
		}
		cls := withRepeats(ext, items)
		fresh := countEmpty(cls)
		for have := len(ours); have < fresh; {
			want := min(have+commitChunk, fresh)
			if _, err := s.reserve(ctx, subID, p, want, year); err != nil {
				return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
			}
			have = want
		}
		var nums []numberKey
		if fresh > 0 {
			if nums, err = s.reserve(ctx, subID, p, fresh, year); err != nil {
				return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
			}
		}
		reserved := make([]string, len(nums))
		for i, n := range nums {
			reserved[i] = n.String()
		}
		out, kl, plan, blobs, err := s.buildCommit(sub, key, decisions, cands, cls, nums, base, items, now)
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		stored, err := packJSON(storedOutcome{Key: key, At: now, Decisions: out.Decisions})
		if err != nil {
			return Outcome{}, fmt.Errorf("store commit %s: %w", key, err)
		}
		res, err := s.writeChunks(ctx, key, kl, plan, blobs, ext, reserved)
		if err != nil {
			return Outcome{}, err
		}
		if res[0] == "ok" {
			if err := s.c.SetNX(ctx, kl.keys[0], stored, SubmissionTTL).Err(); err != nil {
				return Outcome{}, fmt.Errorf("store commit %s: store outcome: %w", key, err)
			}
		}
		if out, done, err := s.committed(ctx, key, p, out, res, now); done {
			return out, err
		}
		// "changed": another submission of this partner claimed a key in between; classify again.
	}
	return Outcome{}, fmt.Errorf("store commit %s: dedupe keys kept changing during %d attempts", key, maxCommitRounds)
}

// classifyExternal classifies the candidates against claims outside the submission, in chunks;
// claims by the submission's own reserved numbers (an earlier, interrupted try) count as none.
func (s *Store) classifyExternal(ctx context.Context, partner, key string, base keyList, items []luaItem, ours map[string]bool) ([]string, *Outcome, error) {
	ext := make([]string, 0, len(items))
	for from := 0; from < len(items); from += commitChunk {
		chunk := items[from:min(from+commitChunk, len(items))]
		var kl keyList
		kl.add(base.keys[0])
		sub := make([]luaItem, len(chunk))
		for i, it := range chunk {
			sub[i] = luaItem{Own: remap(&kl, base, it.Own), OwnC: remap(&kl, base, it.OwnC), OwnF: it.OwnF,
				CMark: remap(&kl, base, it.CMark), OSer: remap(&kl, base, it.OSer)} // no values: external only
		}
		plan, _ := json.Marshal(luaPlan{Items: sub, Expect: []string{}, Writes: []luaWrite{}})
		res, err := commitScript.Run(ctx, s.c, kl.keys, "classify", plan, "").StringSlice()
		if err != nil {
			return nil, nil, fmt.Errorf("store commit %s: classify: %w", key, err)
		}
		if res[0] == "replay" {
			out, err := s.replayOutcome(ctx, partner, key, res)
			return nil, &out, err
		}
		if len(res)-1 != len(chunk) {
			return nil, nil, fmt.Errorf("store commit %s: classify returned %d results for %d items", key, len(res)-1, len(chunk))
		}
		for _, c := range res[1:] {
			if num, _, _ := strings.Cut(c, " "); ours[num] {
				c = ""
			}
			ext = append(ext, c)
		}
	}
	return ext, nil, nil
}

// withRepeats adds the repeats inside the submission to an external classification, as
// commitScript does: an unclaimed item whose own number or serial an earlier unclaimed item of
// the submission has is '@<that item>'.
func withRepeats(ext []string, items []luaItem) []string {
	cls := make([]string, len(ext))
	seenOwn, seenSer := map[string]int{}, map[string]int{}
	for i, it := range items {
		c := ext[i]
		if c == "" && it.OwnV != "" && seenOwn[it.OwnV] > 0 {
			c = fmt.Sprintf("@%d", seenOwn[it.OwnV])
		}
		if c == "" && it.SerV != "" && seenSer[it.SerV] > 0 {
			c = fmt.Sprintf("@%d", seenSer[it.SerV])
		}
		if c == "" {
			if it.OwnV != "" {
				seenOwn[it.OwnV] = i + 1
			}
			if it.SerV != "" {
				seenSer[it.SerV] = i + 1
			}
		}
		cls[i] = c
	}
	return cls
}

// remap re-adds base key i (1-based, 0 none) to kl and returns its index there.
func remap(kl *keyList, base keyList, i int) int {
	if i == 0 {
		return 0
	}
	return kl.add(base.keys[i-1])
}

// writeChunks runs chunkScript over the plan's items and writes, commitChunk items at a time.
// It returns the first result that is not "ok", or
// the last one.
// blobs are the one-script commit's ARGV after mode, plan and outcome (the records' packed
// chunks); each chunk passes its own records' after plan and numbers.
func (s *Store) writeChunks(ctx context.Context, key string, kl keyList, plan luaPlan, blobs []any, ext []string, reserved []string) ([]string, error) {
	// Writes follow the items' order: the w-th write belongs to the w-th unclaimed item.
	wi := 0
	for from, chunk := 0, 0; from < len(plan.Items); from, chunk = from+commitChunk, chunk+1 {
		to := min(from+commitChunk, len(plan.Items))
		var ck keyList
		ck.add(kl.keys[0])
		cp := luaPlan{Expect: ext[from:to], Writes: []luaWrite{}, UpdMS: plan.UpdMS}
		cp.Upd = remap(&ck, kl, plan.Upd)
		for _, it := range plan.Items[from:to] {
			cp.Items = append(cp.Items, luaItem{Own: remap(&ck, kl, it.Own), OwnC: remap(&ck, kl, it.OwnC), OwnF: it.OwnF,
				CMark: remap(&ck, kl, it.CMark), OSer: remap(&ck, kl, it.OSer)})
		}
		var args []any // plan and numbers first, set below
		for ; wi < len(plan.Writes) && plan.Writes[wi].item < to; wi++ {
			w := plan.Writes[wi]
			w.Rec, w.Own = remap(&ck, kl, w.Rec), remap(&ck, kl, w.Own)
			w.SSet, w.OSer, w.Stat = remap(&ck, kl, w.SSet), remap(&ck, kl, w.OSer), remap(&ck, kl, w.Stat)
			from := w.Blob - 4 // 1-based ARGV of the one-script commit: mode, plan, outcome first
			w.Blob = 3 + len(args)
			args = append(args, blobs[from:from+w.Blobs]...)
			cp.Writes = append(cp.Writes, w)
		}
		planJSON, err := json.Marshal(cp)
		if err != nil {
			return nil, fmt.Errorf("store commit %s: %w", key, err)
		}
		// The w-th write has the w-th reserved number: these are all a chunk can meet.
		ours := " " + strings.Join(reserved[:wi], " ") + " "
		res, err := chunkScript.Run(ctx, s.c, ck.keys, append([]any{planJSON, ours}, args...)...).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("store commit %s: chunk %d: %w", key, chunk+1, err)
		}
		if res[0] != "ok" || to == len(plan.Items) {
			return res, nil
		}
		if afterChunk != nil {
			if err := afterChunk(chunk + 1); err != nil {
				return nil, fmt.Errorf("store commit %s: after chunk %d: %w", key, chunk+1, err)
			}
		}
	}
	return []string{"ok"}, nil // no items: nothing was written (not reached: callers have candidates)
}
