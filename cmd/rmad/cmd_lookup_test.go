package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// redisCLIFixture writes a config pointing at the test Redis under a key prefix of the test's
// own and returns its path, the prefix and a client.
func redisCLIFixture(t *testing.T) (path, prefix string, c redis.UniversalClient) {
	return writeRedisConfig(t, "smtp: {address: smtp.example.com:587, from: rma@example.com}\n")
}

// writeRedisConfig writes a config for the test Redis under a key prefix of the test's own,
// with the sample partners and catalog, one mailbox (its password in the environment) and
// extra (YAML for the keys it leaves out: smtp and any others); it returns its path, the
// prefix and a client.
func writeRedisConfig(t *testing.T, extra string) (path, prefix string, c redis.UniversalClient) {
	t.Helper()
	t.Setenv("RMAD_IMAP_PARTNERS_PASSWORD", "pw")
	addr := testenv.RedisAddr(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	prefix = "t:" + t.Name() + ":" + hex.EncodeToString(rnd[:]) + ":"
	data, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	cfg := `redis: {url: "redis://` + addr + `/0", key_prefix: "` + prefix + `"}
imap:
  - {name: partners, address: imap.example.com:993, username: rma@example.com}
service_centers: {GR: {name: Service GR, address: "Street 1, Athens"}}
partners_file: ` + data + `/partners.yaml
catalog_file: ` + data + `/catalog.csv
` + extra
	path = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c = redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return path, prefix, c
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// seedRMAs commits two submissions of two partners and returns their numbers.
func seedRMAs(t *testing.T, st *store.Store) (gr, ro string) {
	t.Helper()
	commit := func(partner, msgID, own, serial string) string {
		it := rma.Item{Line: 1, EAN: "5901234123457", Serial: serial, OwnNumber: own, Description: "no power"}
		sub := rma.Submission{PartnerID: partner, Items: []rma.Item{it},
			Source: rma.Source{Channel: "mail", Mailbox: "partners", UIDValidity: 3, UID: 9, MessageID: msgID}}
		d := rma.Decision{Line: 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse},
			Product: &rma.Product{Brand: "TP-Link", Model: "Archer C6"}}
		out, err := st.Commit(context.Background(), sub, []rma.Decision{d}, time.Date(2026, 3, 21, 9, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		return out.Decisions[0].Number
	}
	return commit("gr-net", "m1@example.com", "PO-1", "SN-SHARED"), commit("ro-shop", "m2@example.com", "PO-1", "SN-SHARED")
}

func TestLookupCommand(t *testing.T) {
	path, prefix, c := redisCLIFixture(t)
	gr, ro := seedRMAs(t, store.New(c, prefix))

	code, out, errs := runCLI(t, "lookup", "--config", path, gr)
	if code != 0 || !strings.Contains(out, gr+"  partner gr-net  status awaiting_goods") ||
		!strings.Contains(out, "TP-Link Archer C6 (EAN 5901234123457)") || !strings.Contains(out, "own number:   PO-1") ||
		!strings.Contains(out, "mail <m1@example.com>, mailbox partners UIDVALIDITY 3 UID 9") ||
		!strings.Contains(out, "2026-03-21 09:00:00Z  awaiting_goods") {
		t.Fatalf("lookup by number: %d\n%s\n%s", code, out, errs)
	}
	// Serial across partners, and scoped to one; flags after the query work too.
	code, out, _ = runCLI(t, "lookup", "--config", path, "sn-shared")
	if code != 0 || !strings.Contains(out, gr) || !strings.Contains(out, ro) {
		t.Fatalf("lookup by serial: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "lookup", "--config", path, "PO-1", "--partner", "ro-shop", "--json")
	var recs []rma.Record
	if err := json.Unmarshal([]byte(out), &recs); code != 0 || err != nil || len(recs) != 1 || recs[0].Number != ro || recs[0].PartnerID != "ro-shop" {
		t.Fatalf("lookup --json --partner: %d %v\n%s", code, err, out)
	}
	code, out, _ = runCLI(t, "lookup", "--config", path, "--partner", "gr-net", ro)
	if code != 1 || !strings.Contains(out, "no RMA of partner gr-net matches") {
		t.Fatalf("other partner's number: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "lookup", "--config", path, "--json", "nothing")
	if code != 1 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("no match --json: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "lookup", "--config", path); code != 2 || !strings.Contains(errs, "usage") {
		t.Fatalf("no query: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "lookup", "--config", filepath.Join(t.TempDir(), "none.yaml"), "x"); code != 1 || !strings.Contains(errs, "cannot read the configuration") {
		t.Fatalf("missing config: %d %s", code, errs)
	}
}

func TestSetStatusCommand(t *testing.T) {
	path, prefix, c := redisCLIFixture(t)
	st := store.New(c, prefix)
	gr, _ := seedRMAs(t, st)
	t.Setenv("USER", "maria")

	code, out, errs := runCLI(t, "set-status", "--config", path, strings.ToLower(gr), "received", "--note", "parcel arrived, no PSU")
	if code != 0 || strings.TrimSpace(out) != gr+": awaiting_goods → received" {
		t.Fatalf("set-status: %d %q %s", code, out, errs)
	}
	code, _, errs = runCLI(t, "set-status", "--config", path, gr, "closed")
	if code != 1 || !strings.Contains(errs, "illegal status change received → closed") {
		t.Fatalf("illegal move: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, "set-status", "--config", path, gr, "fixed")
	if code != 2 || !strings.Contains(errs, `unknown status "fixed"`) {
		t.Fatalf("unknown status: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, "set-status", "--config", path, "RMA/999/SR/2026", "received")
	if code != 1 || !strings.Contains(errs, "no RMA RMA/999/SR/2026") {
		t.Fatalf("unknown number: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "set-status", "--config", path, gr); code != 2 {
		t.Fatalf("missing status: %d", code)
	}
	r, err := st.Get(context.Background(), gr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.History) != 2 || r.History[1].Actor != "cli:maria" || r.History[1].Note != "parcel arrived, no PSU" || r.Status != rma.StatusReceived {
		t.Fatalf("history %+v", r.History)
	}
	// The next run without --note does not inherit the previous note.
	if code, _, errs := runCLI(t, "set-status", "--config", path, gr, "diagnosing"); code != 0 {
		t.Fatalf("second move: %s", errs)
	}
	if r, _ := st.Get(context.Background(), gr); r.History[2].Note != "" {
		t.Fatalf("note leaked into the next run: %q", r.History[2].Note)
	}
}
