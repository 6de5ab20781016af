package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// The worklist indexes live on the global slot (P{rma}:ix:...), across partners, so that the
// staff console pages through 100,000 RMAs without reading them:
//
//   - ix:st:<status>: sorted set of number keys ("yyyy:n"), scored by when the RMA entered
//     the status (ms); ix:open the same for every open RMA;
//   - ix:h:<handling>: set of number keys, for the filter;
//   - ix:po:<partner>, ix:bo:<brand>, ix:pbo:<partner>:<brand>: sorted sets of the open RMAs
//     of a partner, a brand, a partner's brand, scored as ix:open: the open worklist with
//     those filters is a page of one of them, not an intersection with ix:open;
//   - ix:pc:<partner>, ix:bc:<brand>: sets of the closed RMAs of a partner, a brand, written
//     when an RMA closes: with the open sets they are the partner's or brand's RMAs of every
//     status, so a new RMA costs no write for them (version 2 kept sets of every status,
//     ix:p: and ix:b:, written with each new RMA; a rebuild deletes them);
//   - ix:trk:<tracking>: sets of number keys by tracking number, for the search;
//   - ix:version: the indexes' version (ixVersion) once they were built from the records.
//
// A record's slot and the global slot differ, so on Cluster an index entry is written right
// after the record by a second, idempotent step that states the record's whole index position
// (elsewhere a new RMA's entries are written by the commit's one script, commitOneScript). A crash
// in between leaves an RMA out of (or in an old place on) the worklist until it is changed
// again or the indexes are rebuilt (BuildWorklistIndex).

func (k keys) ix(part string) string { return k.prefix + globalTag + ":ix:" + part }

func (k keys) ixStatus(st rma.Status) string { return k.ix("st:" + string(st)) }

// ixVersion is the indexes' layout: a store whose ix:version differs gets them built again
// (2: the open sorted sets per partner, brand and partner's brand; 3: the closed sets per
// partner and brand instead of sets of every status).
const ixVersion = "3"

// luaIxPut is the Lua function that puts one RMA in its place: ks the status sets in
// rma.AllStatuses order (n of them), then ix:open, the handling set, the partner's, brand's
// and partner's brand's open sets, the partner's and brand's closed sets; member, 1-based
// status index, score (ms), open flag. ixPutScript and the one-call status change
// (statusScript, with ixMove) use it.
const luaIxPut = `
local function ixPut(ks, n, member, st, score, open)
  for i = 1, n do
    if i == st then redis.call('ZADD', ks[i], score, member) else redis.call('ZREM', ks[i], member) end
  end
  redis.call('SADD', ks[n+2], member)
  for _, i in ipairs({n+1, n+3, n+4, n+5}) do
    if open == '1' then redis.call('ZADD', ks[i], score, member) else redis.call('ZREM', ks[i], member) end
  end
  for i = n+6, n+7 do
    if open == '1' then redis.call('SREM', ks[i], member) else redis.call('SADD', ks[i], member) end
  end
end
-- ixMove moves an RMA the indexes have in status set from (its key) to status st, open or
-- not, from an open status or not (wasOpen): 6 commands between open statuses, 8 when it
-- closes or reopens, 2 between closed ones, instead of ixPut's 25. Only when it is not in from
-- (the indexes were not where the record is, e.g. a crash between a record's change and its
-- index step) does ixPut put it whole.
local function ixMove(ks, n, member, from, st, score, open, wasOpen)
  if redis.call('ZREM', from, member) == 0 then return ixPut(ks, n, member, st, score, open) end
  redis.call('ZADD', ks[st], score, member)
  if open == '1' then
    for _, i in ipairs({n+1, n+3, n+4, n+5}) do redis.call('ZADD', ks[i], score, member) end
    if wasOpen ~= '1' then
      for i = n+6, n+7 do redis.call('SREM', ks[i], member) end
    end
  elseif wasOpen == '1' then
    for _, i in ipairs({n+1, n+3, n+4, n+5}) do redis.call('ZREM', ks[i], member) end
    for i = n+6, n+7 do redis.call('SADD', ks[i], member) end
  end
end
-- ixNew indexes an RMA a commit just created: it is in no set yet, so only adds. ks: its
-- status set, the handling set, then (from i on) its partner's, brand's and partner's
-- brand's open sets and ix:open when it is open, else its partner's and brand's closed sets.
local function ixNew(ks, member, score, open)
  redis.call('ZADD', ks[1], score, member)
  redis.call('SADD', ks[2], member)
  for j = 3, #ks do
    if open then redis.call('ZADD', ks[j], score, member) else redis.call('SADD', ks[j], member) end
  end
end
`

// ixPutScript puts one RMA in its place (luaIxPut): KEYS as its ks; ARGV member, 1-based
// status index, score (ms), open flag.
var ixPutScript = redis.NewScript(luaIxPut + `
ixPut(KEYS, #KEYS - 7, ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4])
return 1
`)

// ixNewScript indexes RMAs a commit just created (luaIxPut's ixNew; the Cluster path's index
// step, see above). KEYS per RMA as ixNew's ks (ixNewKeys); ARGV per RMA: member, score, open
// flag, the number of its keys.
var ixNewScript = redis.NewScript(luaIxPut + `
local k = 0
for i = 0, #ARGV / 4 - 1 do
  local nk = tonumber(ARGV[4*i+4])
  local ks = {}
  for j = 1, nk do ks[j] = KEYS[k+j] end
  ixNew(ks, ARGV[4*i+1], ARGV[4*i+2], ARGV[4*i+3] == '1')
  k = k + nk
end
return 1
`)

// ixNewBatch bounds the RMAs per ixNewScript call, so a big submission does not hold Redis
// for long in one script.
const ixNewBatch = 100

// ixQueryScript pages through the union of the given status sets (each optionally cut at a
// maximum score, the overdue filter, and less the members of some handling sets), intersected
// with filters, each a set or the union of some. KEYS: n status sets, the filters' sets (mk in
// all), n+2 scratch keys, then the handling sets left out, status by status. ARGV: n, m (the
// filters), offset, count, 'asc'|'desc', n cut-offs (” for none), n counts of handling sets
// left out, m counts of the filters' sets. Returns {total, members...}.
var ixQueryScript = redis.NewScript(`
local n, m = tonumber(ARGV[1]), tonumber(ARGV[2])
local off, cnt, desc = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == 'desc'
local mk = 0
for j = 1, m do mk = mk + tonumber(ARGV[5+2*n+j]) end
local tmp, tmpf = KEYS[n+mk+1], KEYS[2*n+mk+2]
local src
local srcs = {}
local ex = 2*n + mk + 3
for i = 1, n do
  local c = ARGV[5+i]
  local ne = tonumber(ARGV[5+n+i])
  if c == '' and ne == 0 then
    table.insert(srcs, KEYS[i])
  else
    local t = KEYS[n+mk+1+i]
    local from = KEYS[i]
    if c ~= '' then
      redis.call('ZRANGESTORE', t, KEYS[i], '-inf', c, 'BYSCORE')
      from = t
    end
    if ne > 0 then
      local args = {t, 1+ne, from}
      for j = 1, ne do table.insert(args, KEYS[ex]); ex = ex + 1 end
      redis.call('ZDIFFSTORE', unpack(args))
    end
    table.insert(srcs, t)
  end
end
if #srcs == 1 then
  src = srcs[1]
else
  redis.call('ZUNIONSTORE', tmp, #srcs, unpack(srcs))
  src = tmp
end
local fk = n
for j = 1, m do
  local c = tonumber(ARGV[5+2*n+j])
  local f = KEYS[fk+1]
  if c > 1 then
    local args = {tmpf, c}
    for i = 1, c do args[#args + 1] = KEYS[fk+i] end
    redis.call('ZUNIONSTORE', unpack(args))
    f = tmpf
  end
  fk = fk + c
  redis.call('ZINTERSTORE', tmp, 2, f, src, 'WEIGHTS', 0, 1)
  src = tmp
end
local total = redis.call('ZCARD', src)
local page
if cnt <= 0 then
  page = {}
elseif desc then
  page = redis.call('ZRANGE', src, off, off+cnt-1, 'REV')
else
  page = redis.call('ZRANGE', src, off, off+cnt-1)
end
local del = {tmp, tmpf}
for i = 1, n do table.insert(del, KEYS[n+mk+1+i]) end
redis.call('DEL', unpack(del))
table.insert(page, 1, tostring(total))
return page
`)

// ixEntry is what the worklist indexes know of one RMA.
type ixEntry struct {
	num      numberKey
	partner  string
	brand    string
	handling rma.Handling
	status   rma.Status
	since    time.Time
}

func entryOf(r rma.Record) (ixEntry, bool) {
	n, err := rma.ParseNumber(r.Number)
	if err != nil {
		return ixEntry{}, false
	}
	e := ixEntry{num: numberKey{Year: n.Year, N: n.N}, partner: r.PartnerID, handling: r.Decision.Route.Handling,
		status: r.Status, since: StatusSince(r)}
	if r.Decision.Product != nil {
		e.brand = r.Decision.Product.Brand
	}
	return e, true
}

// StatusSince is when the record entered its current status: the newest history entry that
// moved it there, else its creation.
func StatusSince(r rma.Record) time.Time {
	since := r.CreatedAt
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Status != r.Status {
			break
		}
		since = r.History[i].At
	}
	return since
}

func normIndex(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func (s *Store) putIndex(ctx context.Context, c redis.Cmdable, e ixEntry) error {
	ks := make([]string, 0, len(rma.AllStatuses)+4)
	at := 0
	for i, st := range rma.AllStatuses {
		ks = append(ks, s.k.ixStatus(st))
		if st == e.status {
			at = i + 1
		}
	}
	brand := normIndex(e.brand)
	ks = append(ks, s.k.ix("open"), s.k.ix("h:"+string(e.handling)), s.k.ix("po:"+e.partner), s.k.ix("bo:"+brand),
		s.k.ix("pbo:"+e.partner+":"+brand), s.k.ix("pc:"+e.partner), s.k.ix("bc:"+brand))
	return ixPutScript.Run(ctx, c, ks, e.num.String(), at, e.since.UnixMilli(), flag(e.status.IsOpen())).Err()
}

func (s *Store) indexRecords(ctx context.Context, recs []rma.Record) error {
	pipe := s.c.Pipeline()
	n := 0
	for _, r := range recs {
		if e, ok := entryOf(r); ok {
			_ = s.putIndex(ctx, pipe, e)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// EVALSHA on a fresh server: the pipeline's NOSCRIPT is retried one by one.
		for _, r := range recs {
			if e, ok := entryOf(r); ok {
				if err := s.putIndex(ctx, s.c, e); err != nil {
					return fmt.Errorf("worklist index: %w", err)
				}
			}
		}
	}
	return nil
}

// ixNewKeys are the worklist index keys of a new RMA (e's number aside), in ixNew's order.
func (s *Store) ixNewKeys(e ixEntry) []string {
	brand := normIndex(e.brand)
	ks := []string{s.k.ixStatus(e.status), s.k.ix("h:" + string(e.handling))}
	if e.status.IsOpen() {
		return append(ks, s.k.ix("po:"+e.partner), s.k.ix("bo:"+brand), s.k.ix("pbo:"+e.partner+":"+brand), s.k.ix("open"))
	}
	return append(ks, s.k.ix("pc:"+e.partner), s.k.ix("bc:"+brand))
}

// indexNew puts RMAs that were just created on the worklist, ixNewBatch per script call.
func (s *Store) indexNew(ctx context.Context, recs []rma.Record) error {
	for len(recs) > 0 {
		n := min(len(recs), ixNewBatch)
		var ks []string
		var args []any
		for _, r := range recs[:n] {
			if e, ok := entryOf(r); ok {
				eks := s.ixNewKeys(e)
				ks = append(ks, eks...)
				args = append(args, e.num.String(), e.since.UnixMilli(), flag(e.status.IsOpen()), len(eks))
			}
		}
		recs = recs[n:]
		if len(args) == 0 {
			continue
		}
		if err := ixNewScript.Run(ctx, s.c, ks, args...).Err(); err != nil {
			return fmt.Errorf("worklist index: %w", err)
		}
	}
	return nil
}

// indexCommitted indexes the RMAs a commit created.
func (s *Store) indexCommitted(ctx context.Context, partner string, ds []rma.Decision, now time.Time) error {
	var recs []rma.Record
	for _, d := range ds {
		if !d.NeedsNumber() || d.Number == "" {
			continue
		}
		recs = append(recs, rma.Record{Number: d.Number, PartnerID: partner, Decision: d,
			Status: rma.InitialStatus(d.Route.Handling), CreatedAt: now})
	}
	if err := s.indexNew(ctx, recs); err != nil {
		return err
	}
	for _, r := range recs {
		if t := r.Decision.Item.Tracking; t != "" {
			if err := s.IndexTracking(ctx, r.Number, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// BuildWorklistIndex builds the worklist indexes from the records once (a store written
// before they existed); with force it rebuilds them anyway.
func (s *Store) BuildWorklistIndex(ctx context.Context, force bool) (int, error) {
	if !force {
		v, err := s.c.Get(ctx, s.k.ix("version")).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("worklist index: %w", err)
		}
		if v == ixVersion {
			return 0, nil
		}
	}
	partners, err := s.Partners(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, p := range partners {
		var nums []numberKey
		for _, st := range rma.AllStatuses {
			ms, err := s.c.SMembers(ctx, s.k.status(p, string(st))).Result()
			if err != nil {
				return total, fmt.Errorf("worklist index of %s: %w", p, err)
			}
			nums = append(nums, parseMembers(ms)...)
		}
		for start := 0; start < len(nums); start += loadBatch {
			recs, err := s.load(ctx, p, nums[start:min(start+loadBatch, len(nums))])
			if err != nil {
				return total, err
			}
			if err := s.indexRecords(ctx, recs); err != nil {
				return total, err
			}
			for _, r := range recs {
				if t := r.Decision.Item.Tracking; t != "" {
					if err := s.IndexTracking(ctx, r.Number, t); err != nil {
						return total, err
					}
				}
				for _, ev := range r.History {
					if t := ev.Extra["tracking"]; t != "" {
						if err := s.IndexTracking(ctx, r.Number, t); err != nil {
							return total, err
						}
					}
				}
			}
			total += len(recs)
		}
	}
	if err := s.c.Set(ctx, s.k.ix("version"), ixVersion, 0).Err(); err != nil {
		return total, fmt.Errorf("worklist index: %w", err)
	}
	// Version 2's sets of every status per partner and brand, no longer read.
	for _, old := range []string{"p:", "b:"} {
		err := s.scanKeys(ctx, escapeGlob(s.k.ix(old))+"*", func(ctx context.Context, c redis.Cmdable, ks []string) (bool, error) {
			return true, c.Unlink(ctx, ks...).Err()
		})
		if err != nil {
			return total, fmt.Errorf("worklist index: %w", err)
		}
	}
	return total, nil
}

// IndexTracking makes an RMA findable by a tracking number set after it was created (by
// AddEvent; SetStatus indexes the tracking extra of its change itself).
func (s *Store) IndexTracking(ctx context.Context, number, tracking string) error {
	n, err := rma.ParseNumber(number)
	if err != nil {
		return err
	}
	key := s.k.ix("trk:" + normSerial(tracking))
	if err := s.c.SAdd(ctx, key, numberKey{Year: n.Year, N: n.N}.String()).Err(); err != nil {
		return fmt.Errorf("tracking index: %w", err)
	}
	return nil
}

// WorklistQuery selects a page of the worklist. Empty fields do not filter.
type WorklistQuery struct {
	Statuses []rma.Status // none: every open status
	Partner  string
	Brand    string
	Handling rma.Handling
	// OverdueAfter, when set, keeps only the RMAs of the statuses it names that have been in
	// their status longer than the duration (measured from Now), less those whose handling
	// OverdueExcept lists for the status (never overdue there).
	OverdueAfter  map[rma.Status]time.Duration
	OverdueExcept map[rma.Status][]rma.Handling
	Now           time.Time
	Newest        bool // newest in status first; default oldest (longest waiting) first
	Offset        int
	Limit         int
}

// WorklistPage is one page of the worklist.
type WorklistPage struct {
	Total   int
	Records []rma.Record // in the query's order
}

// Worklist pages through the RMAs by status and time from the worklist indexes: a page costs
// set operations on the indexes and reading its own records, never a scan of all records.
func (s *Store) Worklist(ctx context.Context, q WorklistQuery) (WorklistPage, error) {
	statuses := q.Statuses
	open := len(statuses) == 0
	if q.OverdueAfter != nil {
		var keep []rma.Status
		for _, st := range cmpOr(statuses, rma.AllStatuses) {
			if _, ok := q.OverdueAfter[st]; ok {
				keep = append(keep, st)
			}
		}
		statuses, open = keep, false
		if len(statuses) == 0 {
			return WorklistPage{}, nil
		}
	}
	var ks []string
	var cuts, excepts []string
	var nExcept []int
	partner, brand := q.Partner, q.Brand
	switch {
	case open && partner != "" && brand != "":
		ks, partner, brand = []string{s.k.ix("pbo:" + partner + ":" + normIndex(brand))}, "", ""
	case open && partner != "":
		ks, partner = []string{s.k.ix("po:" + partner)}, ""
	case open && brand != "":
		ks, brand = []string{s.k.ix("bo:" + normIndex(brand))}, ""
	case open:
		ks = []string{s.k.ix("open")}
	}
	if open {
		cuts, nExcept = []string{""}, []int{0}
	} else {
		for _, st := range statuses {
			ks = append(ks, s.k.ixStatus(st))
			c := ""
			if d, ok := q.OverdueAfter[st]; ok {
				c = "(" + strconv.FormatInt(q.Now.Add(-d).UnixMilli(), 10)
			}
			cuts = append(cuts, c)
			nExcept = append(nExcept, len(q.OverdueExcept[st]))
			for _, h := range q.OverdueExcept[st] {
				excepts = append(excepts, s.k.ix("h:"+string(h)))
			}
		}
	}
	n := len(ks)
	var filters [][]string
	if !open && partner != "" && brand != "" && !slices.ContainsFunc(statuses, func(st rma.Status) bool { return !st.IsOpen() }) {
		// Open statuses only: one intersection with the partner's brand's open set.
		filters, partner, brand = [][]string{{s.k.ix("pbo:" + partner + ":" + normIndex(brand))}}, "", ""
	}
	if partner != "" {
		filters = append(filters, s.openClosed(statuses, "po:"+partner, "pc:"+partner))
	}
	if brand != "" {
		b := normIndex(brand)
		filters = append(filters, s.openClosed(statuses, "bo:"+b, "bc:"+b))
	}
	if q.Handling != "" {
		filters = append(filters, []string{s.k.ix("h:" + string(q.Handling))})
	}
	for _, f := range filters {
		ks = append(ks, f...)
	}
	scratch := randomTag()
	for i := 0; i <= n+1; i++ {
		ks = append(ks, s.k.ix("tmp:"+scratch+":"+strconv.Itoa(i)))
	}
	ks = append(ks, excepts...)
	order := "asc"
	if q.Newest {
		order = "desc"
	}
	args := []any{n, len(filters), max(q.Offset, 0), q.Limit, order}
	for _, c := range cuts {
		args = append(args, c)
	}
	for _, e := range nExcept {
		args = append(args, e)
	}
	for _, f := range filters {
		args = append(args, len(f))
	}
	res, err := ixQueryScript.Run(ctx, s.c, ks, args...).StringSlice()
	if err != nil {
		return WorklistPage{}, fmt.Errorf("worklist: %w", err)
	}
	total, _ := strconv.Atoi(res[0])
	recs, err := s.loadNumbers(ctx, parseMembers(res[1:]))
	if err != nil {
		return WorklistPage{}, err
	}
	return WorklistPage{Total: total, Records: recs}, nil
}

// openClosed is a partner's or brand's filter for statuses: its open set (ix:<open>) if one of
// them is open, its closed set (ix:<closed>) if one is closed; both for both.
func (s *Store) openClosed(statuses []rma.Status, open, closed string) []string {
	var ks []string
	if slices.ContainsFunc(statuses, rma.Status.IsOpen) {
		ks = append(ks, s.k.ix(open))
	}
	if slices.ContainsFunc(statuses, func(st rma.Status) bool { return !st.IsOpen() }) {
		ks = append(ks, s.k.ix(closed))
	}
	return ks
}

func cmpOr[T any](a, b []T) []T {
	if len(a) > 0 {
		return a
	}
	return b
}

func randomTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// StatusCounts counts the RMAs in each status.
func (s *Store) StatusCounts(ctx context.Context) (map[rma.Status]int, error) {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.IntCmd, len(rma.AllStatuses))
	for i, st := range rma.AllStatuses {
		cmds[i] = pipe.ZCard(ctx, s.k.ixStatus(st))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("status counts: %w", err)
	}
	out := make(map[rma.Status]int, len(cmds))
	for i, st := range rma.AllStatuses {
		out[st] = int(cmds[i].Val())
	}
	return out, nil
}

// loadNumbers reads records of any partners, keeping the order of nums.
func (s *Store) loadNumbers(ctx context.Context, nums []numberKey) ([]rma.Record, error) {
	if len(nums) == 0 {
		return nil, nil
	}
	pipe := s.c.Pipeline()
	owners := make([]*redis.StringCmd, len(nums))
	for i, nk := range nums {
		owners[i] = pipe.HGet(ctx, s.k.owner(nk.Year), strconv.Itoa(nk.N))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load records: %w", err)
	}
	byPartner := map[string][]numberKey{}
	for i, nk := range nums {
		if p, err := owners[i].Result(); err == nil {
			byPartner[p] = append(byPartner[p], nk)
		}
	}
	got := map[string]rma.Record{}
	for p, ns := range byPartner {
		recs, err := s.load(ctx, p, ns)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			got[r.Number] = r
		}
	}
	out := make([]rma.Record, 0, len(nums))
	for _, nk := range nums {
		if r, ok := got[rma.Number{Year: nk.Year, N: nk.N}.String()]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// ByTracking finds the RMAs that carry a tracking number (sent with the item, or set since).
func (s *Store) ByTracking(ctx context.Context, tracking string) ([]rma.Record, error) {
	t := normSerial(tracking)
	if t == "" {
		return nil, nil
	}
	ms, err := s.c.SMembers(ctx, s.k.ix("trk:"+t)).Result()
	if err != nil {
		return nil, fmt.Errorf("by tracking: %w", err)
	}
	nums := parseMembers(ms)
	slices.SortFunc(nums, func(a, b numberKey) int {
		if a.Year != b.Year {
			return a.Year - b.Year
		}
		return a.N - b.N
	})
	return s.loadNumbers(ctx, nums)
}

// indexChange puts a changed record in its worklist place and indexes a tracking number the
// change carries.
func (s *Store) indexChange(ctx context.Context, r rma.Record, ev rma.Event) error {
	if e, ok := entryOf(r); ok {
		if err := s.putIndex(ctx, s.c, e); err != nil {
			return fmt.Errorf("%s: worklist index: %w", r.Number, err)
		}
	}
	if t := ev.Extra["tracking"]; t != "" {
		return s.IndexTracking(ctx, r.Number, t)
	}
	return nil
}
