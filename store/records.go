package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// Get returns the record of an RMA number (any accepted spelling), or ErrNotFound.
func (s *Store) Get(ctx context.Context, number string) (rma.Record, error) {
	r, err := s.getStored(ctx, number)
	return r.Record, err
}

// getForChange is Get for a change to the record: a compacted record is unpacked first.
func (s *Store) getForChange(ctx context.Context, number string) (rma.Record, error) {
	r, err := s.getStored(ctx, number)
	if err != nil || !r.compacted {
		return r.Record, err
	}
	if err := s.unpack(ctx, r.Record); err != nil {
		return rma.Record{}, err
	}
	return s.Get(ctx, number)
}

func (s *Store) getStored(ctx context.Context, number string) (storedRecord, error) {
	n, err := rma.ParseNumber(number)
	if err != nil {
		return storedRecord{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	nk := numberKey{Year: n.Year, N: n.N}
	partner, err := s.c.HGet(ctx, s.k.owner(n.Year), strconv.Itoa(n.N)).Result()
	if errors.Is(err, redis.Nil) {
		return storedRecord{}, fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	if err != nil {
		return storedRecord{}, fmt.Errorf("get %s: %w", n, err)
	}
	recs, err := s.loadStored(ctx, partner, []numberKey{nk})
	if err != nil {
		return storedRecord{}, err
	}
	if len(recs) == 0 {
		// Reserved but never committed (the item turned out a duplicate).
		return storedRecord{}, fmt.Errorf("%s: %w", n, ErrNotFound)
	}
	return recs[0], nil
}

// Lookup finds the RMAs a query names: an RMA number, a serial or the partner's own number.
// With a partnerID only that partner's RMAs are returned; "" searches all partners (admin CLI).
// Records come sorted by year and number.
func (s *Store) Lookup(ctx context.Context, partnerID, query string) ([]rma.Record, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return nil, nil
	}
	if rma.LooksLikeNumber(query) {
		r, err := s.Get(ctx, query)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if partnerID != "" && r.PartnerID != partnerID {
			return nil, nil
		}
		return []rma.Record{r}, nil
	}
	partners, err := s.partnersFor(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	own, ser := normOwn(query), normSerial(query)
	type hits struct {
		own, oser   *redis.StringCmd // oser: the serial's open RMA, in no serial index until it closes
		ser, oldSer *redis.StringSliceCmd
		cOwn, cSer  *redis.StringCmd // the compacted index (compact.go)
	}
	found := make([]hits, len(partners))
	ownF, serF := compactField('o', own), compactField('s', ser)
	pipe := s.c.Pipeline()
	for i, p := range partners {
		found[i] = hits{own: pipe.Get(ctx, s.k.own(p, own)), oser: pipe.Get(ctx, s.k.oserial(p, ser)),
			ser: pipe.HKeys(ctx, s.k.serial(p, ser)), oldSer: pipe.SMembers(ctx, s.k.serialSet(p, ser)),
			cOwn: pipe.HGet(ctx, s.k.compactIndex(p, ownF), ownF), cSer: pipe.HGet(ctx, s.k.compactIndex(p, serF), serF)}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("lookup %q: %w", query, err)
	}
	var out []rma.Record
	for i, p := range partners {
		nums := map[numberKey]bool{}
		for _, c := range []*redis.StringCmd{found[i].own, found[i].oser, found[i].cOwn} {
			if v, err := c.Result(); err == nil {
				numPart, _, _ := strings.Cut(v, " ")
				if nk, err := parseNumberKey(numPart); err == nil {
					nums[nk] = true
				}
			}
		}
		members := append(found[i].ser.Val(), found[i].oldSer.Val()...)
		members = append(members, strings.Fields(found[i].cSer.Val())...)
		for _, m := range members {
			if nk, err := parseNumberKey(m); err == nil {
				nums[nk] = true
			}
		}
		recs, err := s.load(ctx, p, slices.Collect(maps.Keys(nums)))
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	sortRecords(out)
	return out, nil
}

// ChangedSince returns the partner's RMAs (all partners for "") whose status changed after
// since, oldest change first: the digest's input.
func (s *Store) ChangedSince(ctx context.Context, partnerID string, since time.Time) ([]rma.Record, error) {
	partners, err := s.partnersFor(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	var out []rma.Record
	rng := &redis.ZRangeBy{Min: "(" + strconv.FormatInt(since.UnixMilli(), 10), Max: "+inf"}
	for _, p := range partners {
		// A status change is in updated; an RMA created since and not changed yet is only in
		// its partner's open set (commitOneScript), scored by when it entered its status: an
		// RMA there above since changed since, so the union is exact.
		pipe := s.c.Pipeline()
		upd, open := pipe.ZRangeByScore(ctx, s.k.updated(p), rng), pipe.ZRangeByScore(ctx, s.k.ix("po:"+p), rng)
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("changed since for %s: %w", p, err)
		}
		members := upd.Val()
		seen := make(map[string]bool, len(members))
		for _, m := range members {
			seen[m] = true
		}
		for _, m := range open.Val() {
			if !seen[m] {
				members = append(members, m)
			}
		}
		recs, err := s.load(ctx, p, parseMembers(members))
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	slices.SortStableFunc(out, func(a, b rma.Record) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	return out, nil
}

// ByStatus returns every RMA in a status, all partners, sorted by number: the reminders' input.
func (s *Store) ByStatus(ctx context.Context, st rma.Status) ([]rma.Record, error) {
	partners, err := s.partnersFor(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []rma.Record
	for _, p := range partners {
		members, err := s.c.SMembers(ctx, s.k.status(p, string(st))).Result()
		if err != nil {
			return nil, fmt.Errorf("by status %s for %s: %w", st, p, err)
		}
		recs, err := s.load(ctx, p, parseMembers(members))
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	sortRecords(out)
	return out, nil
}

// Partners lists the partners that have at least one RMA.
func (s *Store) Partners(ctx context.Context) ([]string, error) {
	ps, err := s.c.SMembers(ctx, s.k.partners()).Result()
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	slices.Sort(ps)
	return ps, nil
}

func (s *Store) partnersFor(ctx context.Context, partnerID string) ([]string, error) {
	if partnerID != "" {
		return []string{partnerID}, nil
	}
	return s.Partners(ctx)
}

func parseMembers(ms []string) []numberKey {
	out := make([]numberKey, 0, len(ms))
	for _, m := range ms {
		if nk, err := parseNumberKey(m); err == nil {
			out = append(out, nk)
		}
	}
	return out
}

// loadBatch bounds one pipeline's size when many records are read at once.
const loadBatch = 256

// load reads records of one partner; numbers without a record are left out.
func (s *Store) load(ctx context.Context, partner string, nums []numberKey) ([]rma.Record, error) {
	stored, err := s.loadStored(ctx, partner, nums)
	if err != nil {
		return nil, err
	}
	out := make([]rma.Record, len(stored))
	for i, r := range stored {
		out[i] = r.Record
	}
	return out, nil
}

// storedRecord is a record as load found it: in its hash and history list, or compacted.
type storedRecord struct {
	rma.Record
	compacted bool
}

// loadStored is load, telling compacted records apart.
func (s *Store) loadStored(ctx context.Context, partner string, nums []numberKey) ([]storedRecord, error) {
	out := make([]storedRecord, 0, len(nums))
	for start := 0; start < len(nums); start += loadBatch {
		batch := nums[start:min(start+loadBatch, len(nums))]
		pipe := s.c.Pipeline()
		hs := make([]*redis.MapStringStringCmd, len(batch))
		ls := make([]*redis.StringSliceCmd, len(batch))
		cs := make([]*redis.StringCmd, len(batch))
		for i, nk := range batch {
			hs[i] = pipe.HGetAll(ctx, s.k.rec(partner, nk))
			ls[i] = pipe.LRange(ctx, s.k.hist(partner, nk), 0, -1)
			cs[i] = pipe.Get(ctx, s.k.compacted(partner, nk))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("load records of %s: %w", partner, err)
		}
		for i := range batch {
			if err := errors.Join(hs[i].Err(), ls[i].Err()); err != nil {
				return nil, fmt.Errorf("load records of %s: %w", partner, err)
			}
		}
		for i, nk := range batch {
			h := hs[i].Val()
			if len(h) == 0 {
				packed, err := cs[i].Bytes()
				if err != nil { // neither: no record (a number reserved but never used)
					continue
				}
				var r rma.Record
				if err := unpackJSON(packed, &r); err != nil {
					return nil, fmt.Errorf("compacted record %s of %s: %w", nk, partner, err)
				}
				out = append(out, storedRecord{Record: r, compacted: true})
				continue
			}
			r, err := decodeRecord(h, ls[i].Val())
			if err != nil {
				return nil, fmt.Errorf("record %s of %s: %w", nk, partner, err)
			}
			out = append(out, storedRecord{Record: r})
		}
	}
	return out, nil
}

func decodeRecord(h map[string]string, hist []string) (rma.Record, error) {
	r := rma.Record{Number: h["number"], PartnerID: h["partner"], Status: rma.Status(h["status"])}
	var err error
	if r.CreatedAt, err = time.Parse(time.RFC3339Nano, h["created_at"]); err != nil {
		return r, fmt.Errorf("created_at: %w", err)
	}
	if r.UpdatedAt, err = time.Parse(time.RFC3339Nano, h["updated_at"]); err != nil {
		return r, fmt.Errorf("updated_at: %w", err)
	}
	if blob, ok := joinChunks(h); ok {
		var body recordBody
		if err := unpackJSON(blob, &body); err != nil {
			return r, fmt.Errorf("decision: %w", err)
		}
		r.Decision, r.Source = body.Decision, body.Source
		if r.Decision.Number == "" { // numbered in Redis (commitOneScript): the flat field has it
			r.Decision.Number = r.Number
		}
	} else { // written before records were packed
		if err := json.Unmarshal([]byte(h["decision"]), &r.Decision); err != nil {
			return r, fmt.Errorf("decision: %w", err)
		}
		if err := json.Unmarshal([]byte(h["source"]), &r.Source); err != nil {
			return r, fmt.Errorf("source: %w", err)
		}
	}
	r.History = make([]rma.Event, 0, len(hist)+1)
	if st := h["h0"]; st != "" {
		r.History = append(r.History, firstEvent(r, rma.Status(st)))
	}
	for _, e := range hist {
		var ev rma.Event
		if err := json.Unmarshal([]byte(e), &ev); err != nil {
			return r, fmt.Errorf("history: %w", err)
		}
		r.History = append(r.History, ev)
	}
	return r, nil
}

func sortRecords(rs []rma.Record) {
	key := func(r rma.Record) (int, int) {
		n, _ := rma.ParseNumber(r.Number)
		return n.Year, n.N
	}
	slices.SortFunc(rs, func(a, b rma.Record) int {
		ay, an := key(a)
		by, bn := key(b)
		if ay != by {
			return ay - by
		}
		return an - bn
	})
}
