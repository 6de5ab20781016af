package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

func TestEstimateCommand(t *testing.T) {
	path, prefix, c := redisCLIFixture(t)
	st := store.New(c, prefix)
	ctx := context.Background()
	t.Setenv("USER", "maria")
	it := rma.Item{Line: 1, EAN: "5204001000013", Serial: "RT-1", Description: "reboots"}
	out, err := st.Commit(ctx, rma.Submission{PartnerID: "P-GR-001", Items: []rma.Item{it}, Source: rma.Source{Channel: "mail", MessageID: "e1@alfa-computers.gr"}},
		[]rma.Decision{{Line: 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse},
			Product: &rma.Product{Brand: "TP-Link", Model: "Archer AX55"}}}, time.Date(2026, 3, 21, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	num := out.Decisions[0].Number

	code, _, errs := runCLI(t, "estimate", "--config", path, num, "--parts", "80", "--labour", "4x", "--currency", "euro")
	if code != 2 || !strings.Contains(errs, `--labour: "4x" is not an amount`) || !strings.Contains(errs, "--shipping: missing") ||
		!strings.Contains(errs, `--currency: "euro" is not a currency code`) || strings.Contains(errs, "--parts:") {
		t.Fatalf("bad fields: %d\n%s", code, errs)
	}
	code, _, errs = runCLI(t, "estimate", "--config", path, num, "--parts", "80", "--labour", "45.50", "--shipping", "9")
	if code != 1 || !strings.Contains(errs, "illegal status change awaiting_goods → estimate_sent") {
		t.Fatalf("not diagnosing: %d\n%s", code, errs)
	}
	for _, s := range []rma.Status{rma.StatusReceived, rma.StatusDiagnosing} {
		if _, err := st.SetStatus(ctx, num, s, "cli:maria", "", nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, errs := runCLI(t, "estimate", "--config", path, num, "--parts", "80", "--labour", "45,50", "--shipping", "9", "--note", "battery swollen")
	if code != 0 || !strings.Contains(stdout, num+": estimate_sent, total 134.50 EUR") {
		t.Fatalf("estimate: %d %q\n%s", code, stdout, errs)
	}
	r, err := st.Get(ctx, num)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := r.PendingEstimate(); !ok || r.Status != rma.StatusEstimateSent || e.Note != "battery swollen" || r.History[len(r.History)-1].Actor != "cli:maria" {
		t.Fatalf("record after the estimate: %s %+v", r.Status, r.History[len(r.History)-1])
	}
	if n, err := c.XLen(ctx, prefix+queue.Outbox).Result(); err != nil || n != 1 {
		t.Fatalf("outbox: %d entries, %v; want the estimate mail", n, err)
	}
	code, stdout, _ = runCLI(t, "estimate", "--config", path, num, "--parts", "80", "--labour", "45.50", "--shipping", "9", "--note", "battery swollen")
	if code != 0 || !strings.Contains(stdout, "the same estimate was pending") {
		t.Fatalf("the same estimate again: %d %q", code, stdout)
	}
	if code, _, errs := runCLI(t, "estimate", "--config", path, num, "--parts", "1", "--labour", "0", "--shipping", "0"); code != 1 || !strings.Contains(errs, "already waiting") {
		t.Fatalf("another estimate while one waits: %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "estimate", "--config", path, "RMA/999/SR/2026", "--parts", "1", "--labour", "0", "--shipping", "0"); code != 1 || !strings.Contains(errs, "no RMA RMA/999/SR/2026") {
		t.Fatalf("unknown RMA: %d %s", code, errs)
	}
}
