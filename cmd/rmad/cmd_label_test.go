package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

func TestLabelCommand(t *testing.T) {
	path, prefix, c := writeRedisConfig(t, "smtp: {address: smtp.example.com:587, from: rma@example.com}\n"+
		"labels: {format: a6}\n")
	st := store.New(c, prefix)
	ctx := context.Background()
	commit := func(partner, msgID string, h rma.Handling, it rma.Item) string {
		it.Line, it.EAN, it.Description = 1, "5901234123457", "no power"
		sub := rma.Submission{PartnerID: partner, Items: []rma.Item{it}, Source: rma.Source{Channel: "mail", MessageID: msgID}}
		d := rma.Decision{Line: 1, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: h},
			Product: &rma.Product{Brand: "TP-Link", Model: "Archer C6"}}
		out, err := st.Commit(ctx, sub, []rma.Decision{d}, time.Date(2026, 3, 21, 9, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		return out.Decisions[0].Number
	}
	ro := commit("P-RO-002", "l1@example.com", rma.HandlingInHouse, rma.Item{Serial: "SN-ȘȚ-1", OwnNumber: "NOVA-7", ReceiverPays: "da"})
	fwd := commit("P-GR-001", "l2@example.com", rma.HandlingForward, rma.Item{Serial: "DJI-1"})
	gone := commit("P-GONE", "l3@example.com", rma.HandlingVendorTicket, rma.Item{Serial: "GS-1"})

	out := filepath.Join(t.TempDir(), "label.pdf")
	code, stdout, stderr := runCLI(t, "label", "--config", path, ro, "-o", out)
	if code != 0 || !strings.Contains(stdout, ro+": wrote "+out+" (a6, ") {
		t.Fatalf("label: %d %q %s", code, stdout, stderr)
	}
	pdf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(strings.Join(testenv.PDFText(t, pdf), " ")), " ")
	// The configuration's centre (service_centers has only GR: the default) and the partner's
	// return address; the request to have the receiver pay is not approved yet.
	for _, want := range []string{ro, "Nova IT SRL", "NOVA-7", "TP-Link Archer C6", "SN-ȘȚ-1", "Service GR", "Street 1, Athens",
		"Bd. Unirii 10, 030167 Bucuresti", "Lipiți această etichetă"} {
		if !strings.Contains(text, want) {
			t.Errorf("label lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "aprobată") {
		t.Errorf("receiver pays shown before staff approved it:\n%s", text)
	}
	if bs := testenv.Barcodes(t, pdf); len(bs) != 2 || bs[0].Data != ro || bs[1].Data != ro {
		t.Errorf("barcodes %v, want the Code 128 and the QR code of %s", bs, ro)
	}

	// Once staff approved receiver-pays shipping (rmad receiver-pays, recorded in the history),
	// the label says so; written to stdout, A4. A later refusal takes it off again.
	receiverPays := func(answer, want string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, "receiver-pays", ro, answer, "--config", path, "--note", "agreed by phone")
		if code != 0 || stdout != ro+": receiver pays "+want+"\n" {
			t.Fatalf("receiver-pays %s: %d %q %s", answer, code, stdout, stderr)
		}
		rec, err := st.Get(ctx, ro)
		if err != nil {
			t.Fatal(err)
		}
		last := rec.History[len(rec.History)-1]
		if last.Extra[rma.ExtraReceiverPays] != want || !strings.HasPrefix(last.Actor, "cli:") || last.Note != "agreed by phone" || last.Status != rec.Status {
			t.Errorf("history event %+v", last)
		}
	}
	labelText := func() string {
		t.Helper()
		code, stdout, stderr := runCLI(t, "label", ro, "--config", path, "--format", "a4x4", "-o", "-")
		if code != 0 || !strings.HasPrefix(stdout, "%PDF-") {
			t.Fatalf("label -o -: %d %.40q %s", code, stdout, stderr)
		}
		return strings.Join(testenv.PDFText(t, []byte(stdout)), " ")
	}
	receiverPays("approve", rma.ReceiverPaysApproved)
	if text := labelText(); !strings.Contains(text, "Plata la destinatar: aprobată") {
		t.Errorf("approved receiver pays not on the label:\n%s", text)
	}
	receiverPays("refuse", rma.ReceiverPaysRefused)
	if text := labelText(); strings.Contains(text, "aprobată") {
		t.Errorf("refused receiver pays still on the label:\n%s", text)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{ro, "maybe"}, 2, `"maybe" is not approve or refuse`},
		{[]string{"RMA/999/SR/2026", "approve"}, 1, "no RMA RMA/999/SR/2026"},
		{[]string{ro}, 2, "usage: rmad receiver-pays NUMBER approve|refuse"},
	} {
		code, _, stderr := runCLI(t, append([]string{"receiver-pays", "--config", path}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("receiver-pays %v: %d %s, want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}

	// A partner missing from the partners file: the label still has the number, and a warning.
	code, stdout, stderr = runCLI(t, "label", "--config", path, gone, "-o", filepath.Join(t.TempDir(), "g.pdf"))
	if code != 0 || !strings.Contains(stderr, "partner P-GONE of "+gone+" is not in") {
		t.Errorf("unknown partner: %d %q %s", code, stdout, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{fwd}, 1, fwd + " is handled forward: the manufacturer handles its parcel, so it has no label"},
		{[]string{"RMA/999/SR/2026"}, 1, "no RMA RMA/999/SR/2026"},
		{[]string{"RMA-1"}, 2, "RMA-1"},
		{[]string{ro, "--format", "letter"}, 2, `--format "letter" is not one of a6, a4x4`},
		{nil, 2, "usage: rmad label NUMBER"},
	} {
		code, _, stderr := runCLI(t, append([]string{"label", "--config", path, "-o", filepath.Join(t.TempDir(), "x.pdf")}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("label %v: %d %s, want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
