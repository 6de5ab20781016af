package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// submissionMail is a partner's mail from Nova IT SRL (RO) with items in the body and an
// invoice attached.
func submissionMail(id, subject, body string) []byte {
	return []byte(strings.ReplaceAll(`From: Nova IT SRL <rma@nova-it.ro>
To: RMA Service <rma@distributor.example>
Subject: `+subject+`
Date: Mon, 02 Nov 2026 09:30:00 +0000
Message-ID: <`+id+`>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

`+body+`
--b1
Content-Type: application/pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="factura.pdf"

`+base64.StdEncoding.EncodeToString(invoicePDF)+`
--b1--
`, "\n", "\r\n"))
}

// A mail with two accepted in-house items gets a reply whose rma-labels.pdf has two labels,
// whose barcodes read the two new RMA numbers; the staff copy carries the same labels. A reply
// with only rejected and redirected items has none.
func TestEndToEndLabels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := startHarness(t)

	raw := submissionMail("labels-1@nova-it.ro", "Cereri RMA: doua produse", `Bună ziua,

EAN: 5204001000013
Serial: RT-55001
Purchase date: 2026-03-10
Description: routerul nu mai pornește deloc după o pană de curent
Own number: NOVA-LBL-1

EAN: 4712633000024
Serial: QN-77002
Purchase date: 2026-06-15
Description: NAS-ul repornește singur la fiecare câteva minute
Own number: NOVA-LBL-2

Mulțumim`)
	orig := readHeader(t, "two in-house items", raw)
	sent := h.deliver(ctx, t, "two in-house items", raw)
	replies := partnerReplies(t, orig, sent)
	if len(replies) != 1 {
		t.Fatalf("%d replies, want 1", len(replies))
	}
	r := replies[0]
	numbers := acceptedNumbers(t, r.CSV)
	if len(numbers) != 2 {
		t.Fatalf("accepted numbers %v in rma-results.csv, want 2:\n%s", numbers, r.CSV)
	}
	if r.Labels == nil {
		t.Fatalf("the reply has no rma-labels.pdf; its text:\n%s", r.Text)
	}
	checkLabels(t, "reply", r.Labels, numbers)
	text := strings.Join(strings.Fields(strings.Join(testenv.PDFText(t, r.Labels), " ")), " ")
	for _, want := range []string{"Nova IT SRL", "NOVA-LBL-1", "NOVA-LBL-2", "RT-55001", "QN-77002",
		"Bd. Unirii 10, 030167 Bucuresti", "Lipiți această etichetă"} {
		if !strings.Contains(text, want) {
			t.Errorf("labels lack %q:\n%s", want, text)
		}
	}
	var staff []sentMail
	for _, m := range sent {
		if p := parseSent(t, m); p.AutoSubmitted == "auto-generated" && slices.Contains(p.To, strings.ToLower(h.cfg.Notify.Staff)) {
			staff = append(staff, p)
		}
	}
	if len(staff) != 1 || staff[0].Labels == nil {
		t.Fatalf("%d staff copies (labels: %v), want one with rma-labels.pdf", len(staff), len(staff) == 1 && staff[0].Labels != nil)
	}
	checkLabels(t, "staff copy", staff[0].Labels, numbers)

	// Only a rejected item (invalid EAN) and a redirected one (Ubiquiti: vendor_direct).
	raw = submissionMail("labels-2@nova-it.ro", "Cereri RMA: fara eticheta", `EAN: 5204001000014
Serial: RT-55003
Purchase date: 2026-03-10
Description: routerul nu mai pornește deloc după o pană de curent

EAN: 0810088000058
Serial: UB-1
Purchase date: 2026-03-10
Description: punctul de acces nu mai emite semnal wifi`)
	orig = readHeader(t, "rejected and redirected", raw)
	replies = partnerReplies(t, orig, h.deliver(ctx, t, "rejected and redirected", raw))
	if len(replies) != 1 {
		t.Fatalf("%d replies, want 1", len(replies))
	}
	if n := acceptedNumbers(t, replies[0].CSV); len(n) != 0 {
		t.Fatalf("accepted %v, want nothing accepted:\n%s", n, replies[0].CSV)
	}
	if replies[0].Labels != nil {
		t.Errorf("a reply without accepted in-house items carries rma-labels.pdf")
	}
	h.checkNoDeadLetters(ctx, t)
}

// acceptedNumbers are the RMA numbers of the accepted rows of rma-results.csv.
func acceptedNumbers(t *testing.T, data []byte) []string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("rma-results.csv: %v\n%s", err, data)
	}
	var out []string
	for _, row := range recs[1:] {
		if row[4] == "accepted" {
			out = append(out, row[5])
		}
	}
	return out
}

// checkLabels: one Code 128 and one QR code per number, each reading exactly that number.
func checkLabels(t *testing.T, what string, pdf []byte, numbers []string) {
	t.Helper()
	var code128, qr []string
	for _, b := range testenv.Barcodes(t, pdf) {
		switch b.Type {
		case "CODE-128":
			code128 = append(code128, b.Data)
		case "QR-Code":
			qr = append(qr, b.Data)
		default:
			t.Errorf("%s: unexpected %s symbol %q", what, b.Type, b.Data)
		}
	}
	want := slices.Sorted(slices.Values(numbers))
	if !slices.Equal(code128, want) || !slices.Equal(qr, want) {
		t.Errorf("%s: Code 128 read %v, QR read %v, want %v each", what, code128, qr, want)
	}
}
