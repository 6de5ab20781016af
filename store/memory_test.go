package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// realisticDecision is an accepted in-house item as rules decide it, product and warranty
// included: what a record holds in production.
func realisticDecision(it rma.Item) rma.Decision {
	d := accepted(it)
	d.Product = &rma.Product{EAN: it.EAN, Brand: "TP-Link", Model: "Archer AX55 Pro", WarrantyMonths: 24,
		FaultTypes: []string{"no_power", "no_wifi"}}
	d.Warranty.Until = time.Date(2028, 1, 10, 0, 0, 0, 0, time.UTC)
	d.Purchase = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	return d
}

// commitMany commits n one-item mail submissions of one partner through Commit.
func commitMany(t testing.TB, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		it := item(1, fmt.Sprintf("NOVA-2026-%05d", i), fmt.Sprintf("RT55X%07d", i))
		it.Description = "Does not power on after a firmware update, status LED stays dark."
		sub := mailSub("nova-it", fmt.Sprintf("mem-%05d@nova-it.ro", i), it)
		if _, err := s.Commit(ctx, sub, []rma.Decision{realisticDecision(it)}, testNow); err != nil {
			t.Fatal(err)
		}
	}
}

// MemoryUsage names the kinds of a commit's keys and counts one record per RMA.
func TestMemoryUsageKinds(t *testing.T) {
	s := newTestStore(t)
	commitMany(t, s, 20)
	usage, err := MemoryUsage(context.Background(), s.c, s.k.prefix)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]KindUsage{}
	for _, u := range usage {
		got[u.Kind] = u
		t.Logf("%-16s %4d keys %8d B %6.0f B/RMA", u.Kind, u.Keys, u.Bytes, float64(u.Bytes)/20)
	}
	for kind, keys := range map[string]int{"rma": 20, "hist": 20, "sub": 20, "own": 20, "oserial": 20, "serial": 20, "rma/seq": 1, "rma/owner": 1} {
		if got[kind].Keys != keys || got[kind].Bytes <= 0 {
			t.Errorf("%s: %+v, want %d keys with their bytes", kind, got[kind], keys)
		}
	}
}

func TestKeyKind(t *testing.T) {
	for key, want := range map[string]string{
		"P:{p:nova}:rma:2026:1":   "rma",
		"P:{p:nova}:thread:ab":    "thread",
		"P:{rma}:seq:2026":        "rma/seq",
		"P:{rma}:ix:open":         "rma/ix:open",
		"P:once:sent:<a@b>":       "once:sent",
		"P:lease:imap:partners":   "lease:imap",
		"P:inbox":                 "inbox",
		"P:{p:h:0a1b}:own:NOVA-1": "own",
	} {
		if got := KeyKind("P:", key); got != want {
			t.Errorf("KeyKind(%q) = %q, want %q", key, got, want)
		}
	}
}
