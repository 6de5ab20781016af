package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// A status change is one Lua call on a single Redis server (or a Sentinel's master): the
// owner look-up, the check of the move and of the delivery that asked for it, the record, its
// history, status sets, change index, dedupe key, worklist and tracking indexes, and the
// remembered answer of a webhook delivery. The record's keys follow from its partner, which
// only the owner hash on the global slot knows, so the script names them itself; a Redis
// Cluster cannot run that (the keys live on two slots), and there the change takes the
// general path: read the record, one compare-and-set script on the partner's slot, then the
// index steps (see the worklist comment). The general path also serves what the one call
// cannot: a compacted record, a partner ID with braces (its keys use a digest), a record
// written before the flat ix field (the general path adds it).

// maxStatusRounds bounds SetStatus's compare-and-set loop against concurrent changes.
const maxStatusRounds = 10

// StatusChange is one status change of an RMA.
type StatusChange struct {
	Number string // any accepted spelling
	To     rma.Status
	Actor  string
	Note   string
	Extra  map[string]string // vendor reference, tracking ...; Extra["tracking"] is indexed
	At     time.Time
	// DeliveryKey, when set, makes the change idempotent: the history entry keeps
	// Extra[DeliveryKey], and a change whose value is in the RMA's history already is not made
	// again (Replay).
	DeliveryKey string
	// Handling, when set, is the only handling an RMA may have for the change (else
	// ErrHandling): vendors only update forwarded RMAs.
	Handling rma.Handling
	// AnswerKey, when set, is a RememberResponse key checked first: a remembered answer
	// (Answered) means nothing was checked or changed.
	AnswerKey string
	// WantRecord asks for the record as the change left it (StatusChanged.Record).
	WantRecord bool
}

// StatusChanged is what ChangeStatus did.
type StatusChanged struct {
	Number   string // canonical
	Status   rma.Status
	Previous rma.Status // "" when the change is the record's first history entry
	At       time.Time
	// Replay: the delivery had made this change before; nothing changed now. Status, Previous
	// and At describe the earlier change.
	Replay bool
	// Answered: a remembered answer is stored under AnswerKey (AnswerStatus, AnswerBody).
	Answered     bool
	AnswerStatus int
	AnswerBody   []byte
	// Handling is the RMA's handling (set with ErrHandling).
	Handling rma.Handling
	Record   rma.Record // with WantRecord
}

// ErrHandling is ChangeStatus's error for an RMA whose handling is not StatusChange.Handling.
var ErrHandling = errors.New("rma has another handling")

// luaStatusChange holds the Lua functions both status-change scripts use.
//
// findDelivery looks for the history entry holding extra[key] = id (needle: its JSON, to skip
// entries cheaply) and returns {'replay', status, previous status, at}, else nil.
// applyChange writes the change: status and time, status sets, change index, history entry,
// and the serial's open-RMA dedupe key when the move closes or reopens the RMA (oserial, sn
// and oserialValue are needed only then). Its arguments are positional: a table of them was
// a few percent of the one-call script's work.
const luaStatusChange = `
local function findDelivery(hist, h0, needle, key, id)
  local es = redis.call('LRANGE', hist, 0, -1)
  for i = #es, 1, -1 do
    if string.find(es[i], needle, 1, true) then
      local ev = cjson.decode(es[i])
      if type(ev.extra) == 'table' and ev.extra[key] == id then
        local prev = h0 or ''
        if i > 1 then prev = cjson.decode(es[i - 1]).status end
        return {'replay', ev.status, prev, ev.at}
      end
    end
  end
  return nil
end
local function applyChange(rec, hist, from, into, updated, member, to, at, ms, event, closing, reopening, oserial, sn, oserialValue)
  redis.call('HSET', rec, 'status', to, 'updated_at', at)
  if redis.call('SMOVE', from, into, member) == 0 then redis.call('SADD', into, member) end
  redis.call('ZADD', updated, ms, member)
  redis.call('RPUSH', hist, event)
  -- A move between two open (or two closed) statuses leaves the serial's keys alone.
  if oserial and (closing or reopening) then
    -- A closing RMA goes into its serial's index, which its open-serial key stood for.
    if closing then redis.call('HSET', sn, member, '') end
    local v = redis.call('GET', oserial)
    if closing and v and string.sub(v, 1, #member + 1) == member .. ' ' then
      redis.call('DEL', oserial)
    elseif reopening and not v then
      redis.call('SET', oserial, oserialValue)
    end
  end
end
`

// statusScript is the one-call status change (single server): KEYS owner:<year>, ix:open,
// ix:st:<to>, then the answer key and the tracking index when ARGV names them (the other keys'
// names it makes itself, from the partner the owner hash names). ARGV: key prefix, owner field
// (n), member (yyyy:n), to, the statuses the move is legal from (",a,b,"), at, at ms, event
// JSON, to's 1-based index in rma.AllStatuses, required handling (empty: any), delivery
// needle, key and id (empty: none), answer key index, tracking key index (0 none), '1' for the
// record. The closed statuses, which statuses are open ('1' or '0' in rma.AllStatuses order)
// and rma.AllStatuses are in the script's text (constants: nothing to send or build per call).
// Returns {'ok', previous[, record fields, history]}, {'replay', ...}, {'answer', value},
// {'missing'}, {'handling', h}, {'illegal', current} or {'general'} (take the general path).
var statusScript = redis.NewScript(luaStatusChange + luaIxPut + `
local closed, openAt, nst = '` + closedStatuses + `', '` + openFlags + `', ` + strconv.Itoa(len(rma.AllStatuses)) + `
local ai, ti = tonumber(ARGV[14]), tonumber(ARGV[15])
if ai > 0 then
  local a = redis.call('GET', KEYS[ai])
  if a then return {'answer', a} end
end
local partner = redis.call('HGET', KEYS[1], ARGV[2])
if not partner then return {'missing'} end
if string.find(partner, '[{}]') then return {'general'} end
local pk = ARGV[1] .. '{p:' .. partner .. '}:'
local member = ARGV[3]
local rec, hist = pk .. 'rma:' .. member, pk .. 'hist:' .. member
local f = redis.call('HMGET', rec, 'status', 'handling', 'h0', 'ix')
local cur, handling = f[1], f[2]
if not cur or not handling or not f[4] then return {'general'} end
if ARGV[11] ~= '' then
  local r = findDelivery(hist, f[3], ARGV[11], ARGV[12], ARGV[13])
  if r then return r end
end
if ARGV[10] ~= '' and handling ~= ARGV[10] then return {'handling', handling} end
local cc = ',' .. cur .. ','
if not string.find(ARGV[5], cc, 1, true) then return {'illegal', cur} end
local to, st = ARGV[4], tonumber(ARGV[9])
local wasOpen = not string.find(closed, cc, 1, true)
local isOpen = string.byte(openAt, st) == 49
local brand, serial = string.match(f[4], '^(.*)\t([^\t]*)$')
if not brand then return {'general'} end
local closing, reopening = wasOpen and not isOpen, isOpen and not wasOpen
-- The serial's keys are touched only by a move that closes or reopens the RMA.
local oserial, sn, oserialValue
if serial ~= '' and (closing or reopening) then
  oserial, sn, oserialValue = pk .. 'oserial:' .. serial, pk .. 'sn:' .. serial, member .. ' ' .. handling
end
applyChange(rec, hist, pk .. 'status:' .. cur, pk .. 'status:' .. to, pk .. 'updated', member, to, ARGV[6], ARGV[7], ARGV[8],
  closing, reopening, oserial, sn, oserialValue)
-- ixMove's keys (luaIxPut's order), each named when first read: a move reads 5 to 7 of them,
-- only its fallback (ixPut) all 22. Naming them all up front was a quarter of the script's work.
local ix = ARGV[1] .. '{rma}:ix:'
local ks = setmetatable({[st] = KEYS[3]}, {__index = function(t, i)
  local k
  if i <= nst then k = ix .. 'st:' .. ({` + luaStatusList + `})[i]
  elseif i == nst + 1 then k = KEYS[2]
  elseif i == nst + 2 then k = ix .. 'h:' .. handling
  elseif i == nst + 3 then k = ix .. 'po:' .. partner
  elseif i == nst + 4 then k = ix .. 'bo:' .. brand
  elseif i == nst + 5 then k = ix .. 'pbo:' .. partner .. ':' .. brand
  elseif i == nst + 6 then k = ix .. 'pc:' .. partner
  else k = ix .. 'bc:' .. brand end
  rawset(t, i, k)
  return k
end})
ixMove(ks, nst, member, ix .. 'st:' .. cur, st, ARGV[7], isOpen and '1' or '0', wasOpen and '1' or '0')
if ti > 0 then redis.call('SADD', KEYS[ti], member) end
if ARGV[16] == '1' then
  return {'ok', cur, redis.call('HGETALL', rec), redis.call('LRANGE', hist, 0, -1)}
end
return {'ok', cur}
`)

// setStatusScript is the general path's compare-and-set: it moves a record from one status to
// another if it is still in the first and the delivery is not in its history: KEYS rec, hist,
// from-set, to-set, updated, open-serial and serial index (both = rec when the item has no
// serial; a closing RMA goes into the serial index); ARGV from, to,
// updated_at, updated ms, event, member, closing, reopening, dedupe value, delivery needle,
// key and id (” none), the ix field (flatFields) the one-call path reads.
var setStatusScript = redis.NewScript(luaStatusChange + `
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {'missing'} end
if ARGV[10] ~= '' then
  local r = findDelivery(KEYS[2], redis.call('HGET', KEYS[1], 'h0'), ARGV[10], ARGV[11], ARGV[12])
  if r then return r end
end
if cur ~= ARGV[1] then return {'conflict', cur} end
local oserial, sn
if KEYS[6] ~= KEYS[1] then oserial, sn = KEYS[6], KEYS[7] end
applyChange(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[6], ARGV[2], ARGV[3], ARGV[4], ARGV[5],
  ARGV[7] == '1', ARGV[8] == '1', oserial, sn, ARGV[9])
redis.call('HSET', KEYS[1], 'ix', ARGV[13])
return {'ok'}
`)

// legalFrom and closedStatuses are the ARGV lists statusScript checks moves with, per target status.
var legalFrom, closedStatuses = func() (map[rma.Status]string, string) {
	from := map[rma.Status]string{}
	closed := ","
	for _, to := range rma.AllStatuses {
		list := ","
		for _, st := range rma.AllStatuses {
			if rma.CheckTransition(st, to) == nil {
				list += string(st) + ","
			}
		}
		from[to] = list
		if !to.IsOpen() {
			closed += string(to) + ","
		}
	}
	return from, closed
}()

// openFlags says which of rma.AllStatuses are open, '1' or '0' each, in that order.
var openFlags = func() string {
	b := make([]byte, len(rma.AllStatuses))
	for i, st := range rma.AllStatuses {
		b[i] = '0'
		if st.IsOpen() {
			b[i] = '1'
		}
	}
	return string(b)
}()

// luaStatusList is rma.AllStatuses as a Lua list of strings ('a', 'b', ...).
var luaStatusList = func() string {
	names := make([]string, len(rma.AllStatuses))
	for i, st := range rma.AllStatuses {
		names[i] = "'" + string(st) + "'"
	}
	return strings.Join(names, ", ")
}()

// flatFields is the record field the one-call status change reads instead of the packed
// decision: ix, the brand as the worklist indexes key it and the serial as its dedupe key
// does, tab-separated (one field: a record is written once per RMA, kept for years).
func flatFields(d rma.Decision) []string {
	brand := ""
	if d.Product != nil {
		brand = normIndex(d.Product.Brand)
	}
	return []string{"ix", brand + "\t" + normSerial(d.Item.Serial)}
}

// SetStatus moves an RMA to a new status if the lifecycle allows it (else a
// *rma.TransitionError) and adds the change to its history with actor, note and extra details
// (vendor reference, tracking ...). It returns the record as the change left it.
func (s *Store) SetStatus(ctx context.Context, number string, to rma.Status, actor, note string,
	extra map[string]string, now time.Time) (rma.Record, error) {
	out, err := s.ChangeStatus(ctx, StatusChange{Number: number, To: to, Actor: actor, Note: note, Extra: extra,
		At: now, WantRecord: true})
	return out.Record, err
}

// ChangeStatus makes a status change (see StatusChange): ErrNotFound for no such RMA,
// ErrHandling, or a *rma.TransitionError for a move the lifecycle does not allow.
func (s *Store) ChangeStatus(ctx context.Context, c StatusChange) (StatusChanged, error) {
	n, err := rma.ParseNumber(c.Number)
	if err != nil {
		return StatusChanged{}, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	c.Number, c.At = n.String(), c.At.UTC()
	if _, ok := legalFrom[c.To]; !ok {
		return StatusChanged{}, fmt.Errorf("%s: %w", c.Number, rma.CheckTransition(c.To, c.To))
	}
	ev := rma.Event{At: c.At, Status: c.To, Actor: c.Actor, Note: c.Note, Extra: c.Extra}
	evJSON, err := json.Marshal(ev)
	if err != nil {
		return StatusChanged{}, fmt.Errorf("set status %s: %w", c.Number, err)
	}
	d := deliveryOf(c)
	if !s.multiStep {
		out, err := s.changeInOneCall(ctx, c, n, evJSON, d)
		if !errors.Is(err, errGeneralPath) {
			return out, err
		}
	}
	return s.changeInSteps(ctx, c, ev, evJSON, d)
}

// errGeneralPath: the one-call script cannot make this change (see the top of this file).
var errGeneralPath = errors.New("status change needs the general path")

// delivery is what the scripts look for in a history: extra[key] = id, found by needle.
type delivery struct{ needle, key, id string }

func deliveryOf(c StatusChange) delivery {
	id, ok := c.Extra[c.DeliveryKey]
	if c.DeliveryKey == "" || !ok {
		return delivery{}
	}
	return delivery{needle: jsonString(c.DeliveryKey) + ":" + jsonString(id), key: c.DeliveryKey, id: id}
}

// jsonString is s as encoding/json writes it in the event: as is, quoted, when no byte of it
// needs escaping (the usual delivery key and id), else json.Marshal's form.
func jsonString(s string) string {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			q, _ := json.Marshal(s) // a string: cannot fail
			return string(q)
		}
	}
	return `"` + s + `"`
}

func (s *Store) changeInOneCall(ctx context.Context, c StatusChange, n rma.Number, evJSON []byte, d delivery) (StatusChanged, error) {
	ks := make([]string, 3, 5)
	ks[0], ks[1], ks[2] = s.k.owner(n.Year), s.k.ix("open"), s.k.ixStatus(c.To)
	to := slices.Index(rma.AllStatuses, c.To) + 1
	answerAt, trackingAt := 0, 0
	if c.AnswerKey != "" {
		ks = append(ks, s.k.response(c.AnswerKey))
		answerAt = len(ks)
	}
	if t := normSerial(c.Extra["tracking"]); t != "" {
		ks = append(ks, s.k.ix("trk:"+t))
		trackingAt = len(ks)
	}
	member := numberKey{Year: n.Year, N: n.N}.String()
	res, err := statusScript.Run(ctx, s.c, ks, s.k.prefix, n.N, member, string(c.To), legalFrom[c.To],
		c.At.Format(time.RFC3339Nano), c.At.UnixMilli(), evJSON, to, string(c.Handling), d.needle, d.key, d.id,
		answerAt, trackingAt, flag(c.WantRecord)).Slice()
	if err != nil {
		return StatusChanged{}, fmt.Errorf("set status %s: %w", c.Number, err)
	}
	out := StatusChanged{Number: c.Number}
	switch word(res, 0) {
	case "ok":
		out.Status, out.Previous, out.At = c.To, rma.Status(word(res, 1)), c.At
		if c.WantRecord && len(res) == 4 {
			h, hist := stringMap(res[2]), stringList(res[3])
			if out.Record, err = decodeRecord(h, hist); err != nil {
				return out, fmt.Errorf("record %s: %w", c.Number, err)
			}
		}
		return out, nil
	case "answer":
		out.Answered = true
		out.AnswerStatus, out.AnswerBody, _, err = parseResponse("remembered answer", c.AnswerKey, word(res, 1), nil)
		return out, err
	case "missing":
		return out, fmt.Errorf("%s: %w", c.Number, ErrNotFound)
	case "general":
		return out, errGeneralPath
	}
	return s.verdict(ctx, c, res)
}

// verdict turns a script's refusal or replay into ChangeStatus's answer.
func (s *Store) verdict(ctx context.Context, c StatusChange, res []any) (StatusChanged, error) {
	out := StatusChanged{Number: c.Number}
	switch word(res, 0) {
	case "replay":
		at, err := time.Parse(time.RFC3339Nano, word(res, 3))
		if err != nil {
			return out, fmt.Errorf("history of %s: %w", c.Number, err)
		}
		out.Replay, out.Status, out.Previous, out.At = true, rma.Status(word(res, 1)), rma.Status(word(res, 2)), at
		if c.WantRecord {
			out.Record, err = s.Get(ctx, c.Number)
		}
		return out, err
	case "handling":
		out.Handling = rma.Handling(word(res, 1))
		return out, fmt.Errorf("%s is handled %s: %w", c.Number, out.Handling, ErrHandling)
	case "illegal":
		return out, fmt.Errorf("%s: %w", c.Number, &rma.TransitionError{From: rma.Status(word(res, 1)), To: c.To})
	}
	return out, fmt.Errorf("set status %s: script answered %v", c.Number, res)
}

// changeInSteps is the general path: read the record, check, compare-and-set on the
// partner's slot, then the worklist and tracking indexes.
func (s *Store) changeInSteps(ctx context.Context, c StatusChange, ev rma.Event, evJSON []byte, d delivery) (StatusChanged, error) {
	if c.AnswerKey != "" {
		st, body, seen, err := s.PeekResponse(ctx, c.AnswerKey)
		if err != nil || seen {
			return StatusChanged{Number: c.Number, Answered: seen, AnswerStatus: st, AnswerBody: body}, err
		}
	}
	stored, err := s.getStored(ctx, c.Number)
	if err != nil {
		return StatusChanged{}, err
	}
	r := stored.Record
	for round := range maxStatusRounds {
		if d.key != "" {
			if i := eventOf(r, d.key, d.id); i >= 0 {
				out := StatusChanged{Number: r.Number, Replay: true, Status: r.History[i].Status, At: r.History[i].At}
				if i > 0 {
					out.Previous = r.History[i-1].Status
				}
				if c.WantRecord {
					out.Record = r
				}
				return out, nil
			}
		}
		if c.Handling != "" && r.Decision.Route.Handling != c.Handling {
			return s.verdict(ctx, c, []any{"handling", string(r.Decision.Route.Handling)})
		}
		if err := rma.CheckTransition(r.Status, c.To); err != nil {
			return StatusChanged{}, fmt.Errorf("%s: %w", r.Number, err)
		}
		if round == 0 && stored.compacted {
			if err := s.unpack(ctx, r); err != nil {
				return StatusChanged{}, err
			}
			if r, err = s.Get(ctx, c.Number); err != nil {
				return StatusChanged{}, err
			}
			continue
		}
		n, _ := rma.ParseNumber(r.Number) // came from the store: well formed
		nk := numberKey{Year: n.Year, N: n.N}
		p := r.PartnerID
		rec := s.k.rec(p, nk)
		oserial, sn := rec, rec
		if ser := normSerial(r.Decision.Item.Serial); ser != "" {
			oserial, sn = s.k.oserial(p, ser), s.k.serial(p, ser)
		}
		closing := r.Status.IsOpen() && !c.To.IsOpen()
		reopening := !r.Status.IsOpen() && c.To.IsOpen()
		flat := flatFields(r.Decision)
		ks := []string{rec, s.k.hist(p, nk), s.k.status(p, string(r.Status)), s.k.status(p, string(c.To)), s.k.updated(p), oserial, sn}
		res, err := setStatusScript.Run(ctx, s.c, ks, string(r.Status), string(c.To), c.At.Format(time.RFC3339Nano),
			c.At.UnixMilli(), evJSON, nk.String(), flag(closing), flag(reopening),
			nk.String()+" "+string(r.Decision.Route.Handling), d.needle, d.key, d.id, flat[1]).Slice()
		if err != nil {
			return StatusChanged{}, fmt.Errorf("set status %s: %w", r.Number, err)
		}
		switch word(res, 0) {
		case "ok":
			out := StatusChanged{Number: r.Number, Status: c.To, Previous: r.Status, At: c.At}
			r.Status = c.To
			r.UpdatedAt = c.At
			r.History = append(r.History, ev)
			if c.WantRecord {
				out.Record = r
			}
			return out, s.indexChange(ctx, r, ev)
		case "replay":
			return s.verdict(ctx, c, res)
		}
		// "conflict": someone else changed the status first; judge the move from the new one.
		// "missing": compacted meanwhile (or gone): unpacked again, or ErrNotFound.
		if r, err = s.getForChange(ctx, r.Number); err != nil {
			return StatusChanged{}, err
		}
	}
	return StatusChanged{}, fmt.Errorf("set status %s: status kept changing during %d attempts", c.Number, maxStatusRounds)
}

// eventOf finds the history entry whose extra[key] is id, or -1.
func eventOf(r rma.Record, key, id string) int {
	for i := len(r.History) - 1; i >= 0; i-- {
		if v, ok := r.History[i].Extra[key]; ok && v == id {
			return i
		}
	}
	return -1
}

func word(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	s, _ := res[i].(string)
	return s
}

func stringList(v any) []string {
	vs, _ := v.([]any)
	out := make([]string, len(vs))
	for i, x := range vs {
		out[i], _ = x.(string)
	}
	return out
}

func stringMap(v any) map[string]string {
	kv := stringList(v)
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
