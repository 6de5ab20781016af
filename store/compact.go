package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// Compaction: a closed RMA that has not changed for retention.compact_after is kept as one
// packed value P{p:<partner>}:c:<yyyy>:<n> (the whole record with its history, packJSON) in
// place of its record hash and history list. Its number's owner entry, own-number key, serial
// index and status indexes stay as they are, so look-ups by number, serial and own number, the
// console and the partner API find it as before; load reads the packed value where the hash is
// gone. A change to a compacted RMA (a status change, an event) unpacks it first.

func (k keys) compacted(partner string, n numberKey) string {
	return k.partner(partner) + "c:" + n.String()
}

// compactMark is the partner's compaction watermark: the updated score (unix ms) up to which
// its closed RMAs are compacted.
func (k keys) compactMark(partner string) string { return k.partner(partner) + "compacted" }

// compactScript replaces a record hash and its history by the packed value, if the record is
// still as it was read: KEYS rec, hist, compacted; ARGV updated_at, packed value.
var compactScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'updated_at') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`)

// unpackScript puts a compacted RMA back into a record hash and history list: KEYS rec, hist,
// compacted; ARGV the hash's field/value count, fields and values, then the history entries.
var unpackScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local n = tonumber(ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 2, n + 1))
if #ARGV > n + 1 then redis.call('RPUSH', KEYS[2], unpack(ARGV, n + 2, #ARGV)) end
redis.call('DEL', KEYS[3])
return 1
`)

// compactOne packs one record; false when it changed since it was read.
func (s *Store) compactOne(ctx context.Context, r rma.Record) (bool, error) {
	n, _ := rma.ParseNumber(r.Number) // came from the store: well formed
	nk := numberKey{Year: n.Year, N: n.N}
	blob, err := packJSON(r)
	if err != nil {
		return false, err
	}
	ks := []string{s.k.rec(r.PartnerID, nk), s.k.hist(r.PartnerID, nk), s.k.compacted(r.PartnerID, nk)}
	done, err := compactScript.Run(ctx, s.c, ks, r.UpdatedAt.Format(time.RFC3339Nano), blob).Int()
	return done == 1, err
}

// unpack puts a compacted record back into its hash and history list, so that a change can be
// applied to it as to any record. Unpacking one that is not compacted (any more) does nothing.
func (s *Store) unpack(ctx context.Context, r rma.Record) error {
	n, _ := rma.ParseNumber(r.Number) // came from the store: well formed
	nk := numberKey{Year: n.Year, N: n.N}
	blob, err := packJSON(recordBody{Decision: r.Decision, Source: r.Source})
	if err != nil {
		return err
	}
	fields := []any{"number", r.Number, "partner", r.PartnerID, "status", string(r.Status),
		"handling", string(r.Decision.Route.Handling),
		"created_at", r.CreatedAt.Format(time.RFC3339Nano), "updated_at", r.UpdatedAt.Format(time.RFC3339Nano)}
	for _, f := range flatFields(r.Decision) {
		fields = append(fields, f)
	}
	for i, c := range splitChunks(blob) {
		fields = append(fields, "z"+strconv.Itoa(i), c)
	}
	args := append([]any{len(fields)}, fields...)
	for _, ev := range r.History {
		js, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		args = append(args, js)
	}
	ks := []string{s.k.rec(r.PartnerID, nk), s.k.hist(r.PartnerID, nk), s.k.compacted(r.PartnerID, nk)}
	if err := unpackScript.Run(ctx, s.c, ks, args...).Err(); err != nil {
		return fmt.Errorf("unpack %s: %w", r.Number, err)
	}
	return nil
}

// CompactReport says what one compaction run did.
type CompactReport struct {
	Compacted int // RMAs packed by this run
	Skipped   int // changed since they were read, or still open: left for a later run
}

// Compact packs every closed RMA whose last change is before cutoff (see above). It is
// idempotent and crash-safe: each RMA is packed by one atomic script that checks the record
// is unchanged, and a partner's watermark moves only after all its RMAs up to it are done, so
// a run cut off is finished by the next. An RMA still open at cutoff is left: closing it
// later moves its change time past the watermark, and a later run packs it.
func (s *Store) Compact(ctx context.Context, cutoff time.Time) (CompactReport, error) {
	var rep CompactReport
	partners, err := s.Partners(ctx)
	if err != nil {
		return rep, err
	}
	until := cutoff.UnixMilli()
	for _, p := range partners {
		from, err := s.c.Get(ctx, s.k.compactMark(p)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return rep, fmt.Errorf("compact %s: %w", p, err)
		}
		if from >= until {
			continue
		}
		members, err := s.c.ZRangeByScore(ctx, s.k.updated(p), &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(from, 10), Max: strconv.FormatInt(until, 10),
		}).Result()
		if err != nil {
			return rep, fmt.Errorf("compact %s: %w", p, err)
		}
		nums := parseMembers(members)
		for start := 0; start < len(nums); start += loadBatch {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			batch := nums[start:min(start+loadBatch, len(nums))]
			recs, err := s.loadStored(ctx, p, batch)
			if err != nil {
				return rep, fmt.Errorf("compact %s: %w", p, err)
			}
			for _, r := range recs {
				if r.compacted || r.Status.IsOpen() || !r.UpdatedAt.Before(cutoff) {
					if r.Status.IsOpen() {
						rep.Skipped++
					}
					continue
				}
				ok, err := s.compactOne(ctx, r.Record)
				if err != nil {
					return rep, fmt.Errorf("compact %s: %w", r.Number, err)
				}
				if ok {
					rep.Compacted++
				} else {
					rep.Skipped++
				}
			}
		}
		if err := s.c.Set(ctx, s.k.compactMark(p), until, 0).Err(); err != nil {
			return rep, fmt.Errorf("compact %s: %w", p, err)
		}
	}
	return rep, nil
}
