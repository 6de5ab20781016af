package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// runJobFixture writes a config for the test Redis (a key prefix of the test's own) and an SMTP
// sink, with the sample partners, in Europe/Athens.
func runJobFixture(t *testing.T) (path, prefix string, c redis.UniversalClient, sink *sandbox.SMTP) {
	t.Helper()
	sink, err := sandbox.StartSMTP("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Stop)
	path, prefix, c = writeRedisConfig(t, `log: {level: warn}
smtp: {address: "`+sink.Addr+`", tls: none, from: "Example RMA <rma@example.com>"}
schedule: {timezone: Europe/Athens}
notify: {staff: desk@example.com}
`)
	return path, prefix, c, sink
}

func runJobSeed(t *testing.T, st *store.Store, partner, msgID string, at time.Time) string {
	t.Helper()
	it := rma.Item{Line: 1, EAN: "5204001000013", Serial: "SN-" + msgID, OwnNumber: "PO-" + msgID, Description: "no power at all"}
	sub := rma.Submission{PartnerID: partner, Items: []rma.Item{it}, Source: rma.Source{Channel: "mail", MessageID: msgID}}
	d := rma.Decision{Line: 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse},
		Product: &rma.Product{Brand: "TP-Link", Model: "Archer AX55"}}
	out, err := st.Commit(context.Background(), sub, []rma.Decision{d}, at)
	if err != nil {
		t.Fatal(err)
	}
	return out.Decisions[0].Number
}

func TestRunJobCommand(t *testing.T) {
	path, prefix, c, sink := runJobFixture(t)
	ctx := context.Background()
	st := store.New(c, prefix)
	athens := testenv.Athens
	opened := time.Date(2026, 3, 2, 10, 0, 0, 0, athens)
	gr := runJobSeed(t, st, "P-GR-001", "a1@alfa.example", opened)
	fr := runJobSeed(t, st, "P-FR-003", "b1@telecompro.example", opened)
	if _, err := st.SetStatus(ctx, gr, rma.StatusReceived, "cli:test", "parcel complete", nil, opened.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	outbox := queue.New(c, prefix, queue.Options{Stream: queue.Outbox})

	for _, bad := range [][]string{
		{"run-job", "--config", path},
		{"run-job", "--config", path, "weekly"},
		{"run-job", "--config", path, "digest", "reminders"},
		{"run-job", "--config", path, "digest", "--now", "yesterday"},
	} {
		if code, _, _ := runCLI(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}

	code, out, errOut := runCLI(t, "run-job", "digest", "--config", path, "--now", "2026-03-04 08:00")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"digest for 2026-03-04 08:00 Europe/Athens: 1 mail(s) queued on the outbox", "P-GR-001", "service@alfa-computers.gr", "digest."} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if n, err := outbox.Depth(ctx); err != nil || n != 1 {
		t.Fatalf("outbox depth %d, %v; want the digest waiting for a daemon", n, err)
	}
	if len(sink.Mails()) != 0 {
		t.Fatal("mail sent without --send")
	}
	// The same minute again: done already.
	code, out, _ = runCLI(t, "run-job", "--config", path, "digest", "--now", "2026-03-04T08:00:30+02:00")
	if code != 0 || !strings.Contains(out, "already done for this tick, nothing to do") {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}

	// Reminders with --send: both RMAs are far past 2×14 days. The Greek one was received, so
	// only the French one expires: partner and staff get mail, at once.
	code, out, errOut = runCLI(t, "run-job", "reminders", "--send", "--now", "2026-04-15 08:30", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"1 rule(s) applied, 2 mail(s) delivered over SMTP", "goods_expired", fr, "→ expired", "sav@telecompro.fr", "desk@example.com"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if got := len(sink.Mails()); got != 2 {
		t.Fatalf("%d mails delivered, want 2", got)
	}
	r, err := st.Get(ctx, fr)
	if err != nil || r.Status != rma.StatusExpired {
		t.Fatalf("%s: %v %v", fr, r.Status, err)
	}
}

// `rmad run-job digest` right after `rmad set-status` tells the change (the run covers changes up
// to the moment it runs, not only up to the minute's tick), and the next scheduled digest does
// not tell it again.
func TestRunJobByHandAfterSetStatus(t *testing.T) {
	path, prefix, c, sink := runJobFixture(t)
	st := store.New(c, prefix)
	gr := runJobSeed(t, st, "P-GR-001", "a2@alfa.example", time.Now().Add(-48*time.Hour))

	if code, _, errOut := runCLI(t, "set-status", gr, "received", "--note", "parcel complete", "--config", path); code != 0 {
		t.Fatalf("set-status: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "run-job", "digest", "--send", "--config", path)
	if code != 0 {
		t.Fatalf("run-job: exit %d: %s", code, errOut)
	}
	for _, w := range []string{"digest up to ", "Europe/Athens: 1 mail(s) delivered over SMTP", "P-GR-001", "service@alfa-computers.gr"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	mails := sink.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails, want the digest", len(mails))
	}
	for _, w := range []string{gr, "parcel complete"} {
		if !strings.Contains(string(mails[0].Data), w) {
			t.Errorf("digest lacks %q:\n%s", w, mails[0].Data)
		}
	}

	// The next scheduled digest (tomorrow 08:00, as the schedule would run it): nothing new.
	athens := testenv.Athens
	next := time.Now().In(athens).Add(24*time.Hour).Format("2006-01-02") + " 08:00"
	code, out, errOut = runCLI(t, "run-job", "digest", "--send", "--now", next, "--config", path)
	if code != 0 || !strings.Contains(out, "0 mail(s)") {
		t.Fatalf("next scheduled digest: exit %d: %s\n%s", code, out, errOut)
	}
	if n := len(sink.Mails()); n != 1 {
		t.Fatalf("%d mails after the next scheduled digest, want still 1", n)
	}
}
