package store

import (
	"context"
	"crypto/sha1"
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
// place of its record hash and history list. Its own-number key and serial index entry move
// into the partner's compacted index (cx:<bucket>, compactBuckets small hashes, see below), so
// that what stays per compacted RMA is that value, a field or two in a listpack and its
// members of the status and worklist sets. Its number's owner entry and status indexes stay as
// they are. Look-ups by number, serial and own number (Lookup: the console's search, the
// partner API, the receive scan) and the commit's own-number dedupe (luaOwnClaim) read the
// compacted index too; load reads the packed value where the hash is gone. A change to a
// compacted RMA (a status change, an event) unpacks it first; its index entries stay in the
// compacted index, which every reader reads.

// compactBuckets is how many hashes of the compacted index a partner has. Each own number
// and serial of a compacted RMA is one field, in the bucket its digest picks: with Redis's
// default hash-max-listpack-entries (128) the buckets stay listpacks up to about 250,000
// compacted RMAs of one partner (beyond, Redis turns the fuller ones into hashtables, which
// cost about as much per field as the listpack's whole entry and key did before: raise that
// setting for such a partner). Part of the stored layout: changing it needs a new key name.
const compactBuckets = 4096

// maxCompactField is the longest own number or serial kept as its own field name; a longer
// one is kept under its digest, so that no field makes its bucket leave the listpack encoding
// (hash-max-listpack-value, 64 bytes).
const maxCompactField = 40

// compactField is the compacted index's field for an own number (kind 'o') or a serial ('s'),
// normalised as their keys are (normOwn, normSerial).
func compactField(kind byte, v string) string {
	if len(v) > maxCompactField {
		return string(kind) + "#" + shortHash(v)
	}
	return string(kind) + ":" + v
}

// compactIndex is the bucket of the partner's compacted index that holds field.
func (k keys) compactIndex(partner, field string) string {
	h := sha1.Sum([]byte(field)) // Lua's redis.sha1hex gives the same digest
	b := (uint64(h[0])<<8 | uint64(h[1])) % compactBuckets
	return k.partner(partner) + "cx:" + strconv.FormatUint(b, 16)
}

// luaOwnClaim is the Lua function the commit scripts read an item's own-number claim with
// (the plan item's own key, its value in got as readKeys read it, and for a compacted RMA its
// compacted-index bucket and field): the value "yyyy:n handling" of the RMA that has the own
// number, or empty. The bucket is read only when the key has none and the partner has compacted
// RMAs (its compaction mark, it.cmark, read with the keys: compactScript sets it first).
const luaOwnClaim = `
local function ownClaim(it, got)
  if it.own == 0 then return '' end
  local c = got[it.own]
  if not c and it.ownc > 0 and got[it.cmark] then c = redis.call('HGET', KEYS[it.ownc], it.ownf) end
  return c or ''
end
`

func (k keys) compacted(partner string, n numberKey) string {
	return k.partner(partner) + "c:" + n.String()
}

// compactMark is the partner's compaction watermark: the updated score (unix ms) up to which
// its closed RMAs are compacted.
func (k keys) compactMark(partner string) string { return k.partner(partner) + "compacted" }

// compactScript replaces a record hash and its history by the packed value, if the record is
// still as it was read, and moves the RMA's own-number key and serial index entry into the
// compacted index: KEYS rec, hist, compacted, own-number key, its bucket, serial index, its
// bucket (the last four rec when the item has no own number or serial), the partner's
// compaction mark (set to 0 if it has none: commits read the buckets only when it exists);
// ARGV updated_at,
// packed value, member (yyyy:n), own-number field, serial field. An own-number key that names
// another RMA stays; a serial field lists its compacted RMAs, separated by spaces.
var compactScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'updated_at') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
local m = ARGV[3]
if KEYS[4] ~= KEYS[1] then
  local v = redis.call('GET', KEYS[4])
  if v and (v == m or string.sub(v, 1, #m + 1) == m .. ' ') then
    redis.call('SET', KEYS[8], 0, 'NX')
    redis.call('HSET', KEYS[5], ARGV[4], v)
    redis.call('DEL', KEYS[4])
  end
end
if KEYS[6] ~= KEYS[1] and redis.call('HDEL', KEYS[6], m) == 1 then
  local v = redis.call('HGET', KEYS[7], ARGV[5])
  if not v then
    redis.call('HSET', KEYS[7], ARGV[5], m)
  elseif not string.find(' ' .. v .. ' ', ' ' .. m .. ' ', 1, true) then
    redis.call('HSET', KEYS[7], ARGV[5], v .. ' ' .. m)
  end
end
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
	p := r.PartnerID
	rec := s.k.rec(p, nk)
	ks := []string{rec, s.k.hist(p, nk), s.k.compacted(p, nk), rec, rec, rec, rec, s.k.compactMark(p)}
	var ownF, serF string
	if own := normOwn(r.Decision.Item.OwnNumber); own != "" {
		ownF = compactField('o', own)
		ks[3], ks[4] = s.k.own(p, own), s.k.compactIndex(p, ownF)
	}
	if ser := normSerial(r.Decision.Item.Serial); ser != "" {
		serF = compactField('s', ser)
		ks[5], ks[6] = s.k.serial(p, ser), s.k.compactIndex(p, serF)
	}
	done, err := compactScript.Run(ctx, s.c, ks, r.UpdatedAt.Format(time.RFC3339Nano), blob, nk.String(), ownF, serF).Int()
	return done == 1, err
}

// unpack puts a compacted record back into its hash and history list, so that a change can be
// applied to it as to any record. Unpacking one that is not compacted (any more) does nothing.
// Its own number and serial stay in the compacted index, which every reader reads; compacting
// it again adds nothing there twice.
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
