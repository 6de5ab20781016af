package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/rma"
)

// dump reads every key under the store's prefix, the prefix cut off, as comparable text.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := s.c.Keys(ctx, s.k.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v string
		switch typ := s.c.Type(ctx, k).Val(); typ {
		case "string":
			v = s.c.Get(ctx, k).Val()
		case "hash":
			h := s.c.HGetAll(ctx, k).Val()
			for _, f := range slices.Sorted(maps.Keys(h)) {
				v += f + "=" + h[f] + "\n"
			}
		case "set":
			v = strings.Join(slices.Sorted(slices.Values(s.c.SMembers(ctx, k).Val())), ",")
		case "zset":
			for _, z := range s.c.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += fmt.Sprintf("%v:%v,", z.Member, z.Score)
			}
		case "list":
			v = strings.Join(s.c.LRange(ctx, k, 0, -1).Val(), "\n")
		default:
			v = typ
		}
		out[strings.TrimPrefix(k, s.k.prefix)] = v
	}
	return out
}

// forwarded is what rules would decide for an item forwarded to its vendor.
func forwarded(it rma.Item, brand string) rma.Decision {
	d := accepted(it)
	d.Route.Handling = rma.HandlingForward
	d.Product = &rma.Product{EAN: it.EAN, Brand: brand, Model: "Mini 4 Pro"}
	return d
}

// The one-call status change and the general path (Cluster's) leave exactly the same keys:
// record, history, status sets, change index, open-serial key, worklist and tracking indexes.
func TestStatusChangeOneCallMatchesSteps(t *testing.T) {
	ctx := context.Background()
	forward := func(it rma.Item) rma.Decision { return forwarded(it, "DJI ") }
	run := func(s *Store, general bool) map[string]string {
		t.Helper()
		items := []rma.Item{item(1, "OWN-1", "sn 1"), item(2, "OWN-2", ""), item(3, "OWN-3", "SN-3")}
		sub := mailSub("gr-net", "status@example.com", items...)
		ds := []rma.Decision{forward(items[0]), accepted(items[1]), accepted(items[2])}
		out, err := s.Commit(ctx, sub, ds, testNow)
		if err != nil {
			t.Fatal(err)
		}
		s.multiStep = general // the same commit for both; only the status changes differ
		n := func(i int) string { return out.Decisions[i].Number }
		at := testNow
		steps := []struct {
			num   string
			to    rma.Status
			extra map[string]string
		}{
			{n(0), rma.StatusReceived, map[string]string{"tracking": "1z 999", "webhook_id": "dji:a"}},
			{n(0), rma.StatusShippedBack, map[string]string{"webhook_id": "dji:b"}}, // closes: oserial goes
			{n(1), rma.StatusExpired, nil},
			{n(1), rma.StatusReceived, nil}, // reopens (no serial)
			{n(2), rma.StatusExpired, nil},  // closes
			{n(2), rma.StatusReceived, nil}, // reopens: oserial back
			{n(2), rma.StatusDiagnosing, map[string]string{"tracking": "TRK-2"}},
		}
		for _, st := range steps {
			at = at.Add(time.Minute)
			c := StatusChange{Number: st.num, To: st.to, Actor: "t", Note: "n", Extra: st.extra, At: at,
				DeliveryKey: "webhook_id", WantRecord: true}
			got, err := s.ChangeStatus(ctx, c)
			if err != nil || got.Replay || got.Status != st.to || got.Record.Status != st.to || !got.Record.UpdatedAt.Equal(at) {
				t.Fatalf("→ %s: %+v %v", st.to, got, err)
			}
		}
		return dump(t, s)
	}
	oneCall := newTestStore(t)
	a, b := run(oneCall, false), run(newTestStore(t), true)
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if a[k] != b[k] {
			t.Errorf("%s: one call\n%s\nsteps\n%s", k, a[k], b[k])
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			t.Errorf("%s: only after the one call", k)
		}
	}
	// The worklist finds the changes, the tracking search too.
	if recs, err := oneCall.ByTracking(ctx, "1Z999"); err != nil || len(recs) != 1 {
		t.Fatalf("by tracking: %v %v", recs, err)
	}
}

// A change with a delivery is made once: the same delivery again is a replay describing the
// first change, also after the RMA moved on; refusals carry what the caller needs to answer.
func TestStatusChangeDeliveryOnceAndRefusals(t *testing.T) {
	for _, mode := range []string{"one call", "steps"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStore(t)
			s.multiStep = mode == "steps"
			sub := mailSub("gr-net", "once@example.com", item(1, "OWN-1", "SN-1"))
			out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
			if err != nil {
				t.Fatal(err)
			}
			num := out.Decisions[0].Number
			c := StatusChange{Number: strings.ToLower(num), To: rma.StatusReceived, Actor: "vendor:x",
				Extra: map[string]string{"webhook_id": `x:id "1" <&>`}, At: testNow.Add(time.Hour), DeliveryKey: "webhook_id"}
			first, err := s.ChangeStatus(ctx, c)
			if err != nil || first.Replay || first.Previous != rma.StatusAwaitingGoods || first.Number != num {
				t.Fatalf("first: %+v %v", first, err)
			}
			c2 := c
			c2.At = c.At.Add(time.Minute)
			again, err := s.ChangeStatus(ctx, c2)
			if err != nil || !again.Replay || again.Status != first.Status || again.Previous != first.Previous || !again.At.Equal(first.At) {
				t.Fatalf("again: %+v %v, first %+v", again, err, first)
			}
			if _, err := s.SetStatus(ctx, num, rma.StatusDiagnosing, "staff", "", nil, testNow.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			later, err := s.ChangeStatus(ctx, c2)
			if err != nil || !later.Replay || later.Previous != rma.StatusAwaitingGoods || later.Status != rma.StatusReceived {
				t.Fatalf("after the RMA moved on: %+v %v", later, err)
			}
			if r, _ := s.Get(ctx, num); len(r.History) != 3 {
				t.Fatalf("history %+v", r.History)
			}

			var te *rma.TransitionError
			bad := StatusChange{Number: num, To: rma.StatusReceived, At: testNow, DeliveryKey: "webhook_id",
				Extra: map[string]string{"webhook_id": "x:other"}}
			if _, err := s.ChangeStatus(ctx, bad); !errors.As(err, &te) || te.From != rma.StatusDiagnosing {
				t.Fatalf("illegal: %v", err)
			}
			bad.To, bad.Handling = rma.StatusRepaired, rma.HandlingForward
			if got, err := s.ChangeStatus(ctx, bad); !errors.Is(err, ErrHandling) || got.Handling != rma.HandlingInHouse {
				t.Fatalf("handling: %+v %v", got, err)
			}
			bad.Number = "RMA/999/SR/2026"
			if _, err := s.ChangeStatus(ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown: %v", err)
			}
			// A remembered answer comes first: nothing is checked or changed.
			if _, _, _, err := s.RememberResponse(ctx, "webhook:x:kept", 409, []byte("kept"), time.Hour); err != nil {
				t.Fatal(err)
			}
			bad.Number, bad.AnswerKey = num, "webhook:x:kept"
			if got, err := s.ChangeStatus(ctx, bad); err != nil || !got.Answered || got.AnswerStatus != 409 || string(got.AnswerBody) != "kept" {
				t.Fatalf("remembered: %+v %v", got, err)
			}
		})
	}
}

// Records the one call cannot change take the general path: one written before the ix field
// (which the general path then adds), and a partner whose ID has braces (its keys use a digest).
func TestStatusChangeGeneralPathCases(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	for _, p := range []string{"gr-net", "odd{p}"} {
		sub := mailSub(p, p+"@example.com", item(1, "OWN-1", "SN-1"))
		out, err := s.Commit(ctx, sub, decide(sub.Items), testNow)
		if err != nil {
			t.Fatal(err)
		}
		num := out.Decisions[0].Number
		n, _ := rma.ParseNumber(num)
		rec := s.k.rec(p, numberKey{Year: n.Year, N: n.N})
		s.c.HDel(ctx, rec, "ix")
		if _, err := s.SetStatus(ctx, num, rma.StatusReceived, "t", "", nil, testNow); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v := s.c.HGet(ctx, rec, "ix").Val(); v != "\tSN-1" {
			t.Fatalf("%s: ix %q", p, v)
		}
		if r, err := s.SetStatus(ctx, num, rma.StatusDiagnosing, "t", "", nil, testNow); err != nil || r.Status != rma.StatusDiagnosing {
			t.Fatalf("%s: %+v %v", p, r, err)
		}
		if recs, err := s.ByStatus(ctx, rma.StatusDiagnosing); err != nil || !slices.ContainsFunc(recs, func(r rma.Record) bool { return r.Number == num }) {
			t.Fatalf("%s: by status: %v %v", p, recs, err)
		}
	}
}

// A change that finds the RMA missing from its status's index set (the index step of a
// Cluster change lost in a crash, or the RMA in another status's set) puts it in its place
// whole: afterwards the worklist index is the one a rebuild writes, key by key.
func TestStatusChangeRepairsAnIndexOutOfPlace(t *testing.T) {
	ctx := context.Background()
	forward := func(it rma.Item) rma.Decision { return forwarded(it, "DJI") }
	ixKeys := func(s *Store) map[string]string {
		out := map[string]string{}
		for k, v := range dump(t, s) {
			if strings.HasPrefix(k, globalTag+":ix:") && !strings.HasSuffix(k, ":version") {
				out[k] = v
			}
		}
		return out
	}
	for _, c := range []struct {
		name    string
		breakIx func(s *Store, member string)
		to      rma.Status
	}{
		{"missing, open to open", func(s *Store, m string) {
			keys, _ := s.c.Keys(ctx, s.k.ix("*")).Result()
			for _, k := range keys {
				s.c.ZRem(ctx, k, m)
				s.c.SRem(ctx, k, m)
			}
		}, rma.StatusReceived},
		{"in another status, closing", func(s *Store, m string) {
			s.c.ZRem(ctx, s.k.ixStatus(rma.StatusForwardedToVendor), m)
			s.c.ZAdd(ctx, s.k.ixStatus(rma.StatusDiagnosing), redis.Z{Score: 1, Member: m})
		}, rma.StatusShippedBack},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newTestStore(t)
			items := []rma.Item{item(1, "OWN-1", "SN-1"), item(2, "OWN-2", "SN-2")}
			out, err := s.Commit(ctx, mailSub("gr-net", "ix@example.com", items...), []rma.Decision{forward(items[0]), forward(items[1])}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			num := out.Decisions[0].Number
			n, _ := rma.ParseNumber(num)
			c.breakIx(s, numberKey{Year: n.Year, N: n.N}.String())
			if _, err := s.ChangeStatus(ctx, StatusChange{Number: num, To: c.to, Actor: "t", At: testNow.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			changed := ixKeys(s)
			if _, err := s.BuildWorklistIndex(ctx, true); err != nil {
				t.Fatal(err)
			}
			rebuilt := ixKeys(s)
			for _, k := range slices.Sorted(maps.Keys(rebuilt)) {
				if changed[k] != rebuilt[k] {
					t.Errorf("%s: after the change %q, rebuilt %q", k, changed[k], rebuilt[k])
				}
			}
			for k := range changed {
				if _, ok := rebuilt[k]; !ok && changed[k] != "" {
					t.Errorf("%s: only after the change: %q", k, changed[k])
				}
			}
		})
	}
}

// The needle a status change looks for in the history is exactly how encoding/json wrote the
// delivery's key and id into the event.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "webhook_id", "dji:msg_2Ka9", "a\"b", `back\slash`, "<&>", "tab\there", "ünï", "\x7f", "\u2028", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonString(s); got != string(want) {
			t.Fatalf("jsonString(%q) = %s, json.Marshal %s", s, got, want)
		}
	})
}
