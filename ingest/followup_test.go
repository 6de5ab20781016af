package ingest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rmad/rmad/rma"
)

// A follow-up's fields: unscoped ones, a block under an RMA number, one field for one RMA, a
// block under an item line in each language's word, and the reference token of a quoted mail
// of rmad's; quoted lines give nothing.
func TestFollowUpFields(t *testing.T) {
	tok := rma.RefToken("reply.0011223344556677@distributor.example")
	for _, tc := range []struct {
		name, body string
		fields     map[string]string
		scoped     []rma.FieldSet
	}{
		{"unscoped", "Hello,\nTracking: ACS 1\nSerial number: SN-9\nIBAN: GR16 0110\nContents: PSU, cable\nReceiver pays: yes\nVendor ticket: T-7\n",
			map[string]string{"tracking": "ACS 1", "serial": "SN-9", "iban": "GR16 0110", "contents": "PSU, cable", "receiver_pays": "yes", "vendor_ticket": "T-7"}, nil},
		{"rma block", "AWB: 1\n\nFor RMA/3/SR/2026:\nSerial: S3\nIBAN: RO49\n\nRMA/4/SR/2026 / Serial number: S4\n",
			map[string]string{"tracking": "1"},
			[]rma.FieldSet{{Number: "RMA/3/SR/2026", Fields: map[string]string{"serial": "S3", "iban": "RO49"}}, {Number: "RMA/4/SR/2026", Fields: map[string]string{"serial": "S4"}}}},
		{"greek line", "Γραμμή 2\nΣειριακός αριθμός: ΑΒ-1\n", nil, []rma.FieldSet{{Line: 2, Fields: map[string]string{"serial": "ΑΒ-1"}}}},
		{"romanian line", "Poziția 3: Număr de serie: X3\n", nil, []rma.FieldSet{{Line: 3, Fields: map[string]string{"serial": "X3"}}}},
		{"french line", "Ligne 2 / Numéro de série : F2\n", nil, []rma.FieldSet{{Line: 2, Fields: map[string]string{"serial": "F2"}}}},
		{"quoted only", "Thanks!\n\nOn Mon, 2 Nov 2026, RMA wrote:\n> Serial: OLD\n> Line 2\n> " + rma.RefPrefix + tok + "\n", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := headers("In-Reply-To: <reply.0011223344556677@distributor.example>", "Content-Type: text/plain; charset=utf-8") + "\n" + tc.body
			sub, err := testParser().ParseMail(strings.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			f := sub.FollowUp
			if f == nil {
				t.Fatal("no follow-up")
			}
			if !reflect.DeepEqual(f.Fields, tc.fields) {
				t.Errorf("fields %v, want %v", f.Fields, tc.fields)
			}
			if !reflect.DeepEqual(f.Scoped, tc.scoped) {
				t.Errorf("scoped %+v, want %+v", f.Scoped, tc.scoped)
			}
			if strings.Contains(f.Text, "OLD") {
				t.Errorf("text keeps quoted lines: %q", f.Text)
			}
		})
	}
}

// A mail without In-Reply-To or References or a number in its subject that quotes rmad's
// reference line is a possible follow-up with that token.
func TestFollowUpRefToken(t *testing.T) {
	tok := rma.RefToken("reply.abc@distributor.example")
	raw := headers("Content-Type: text/plain; charset=utf-8") + "\nSent today.\nAWB: 55\n\n-----Original Message-----\nFrom: RMA\n" + rma.RefPrefix + strings.ToUpper(tok) + "\n"
	sub, err := testParser().ParseMail(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if sub.FollowUp == nil || !reflect.DeepEqual(sub.FollowUp.Refs, []string{tok}) || sub.FollowUp.Fields["tracking"] != "55" {
		t.Fatalf("follow-up %+v, want ref %s and tracking 55", sub.FollowUp, tok)
	}
	plain, err := testParser().ParseMail(strings.NewReader(headers("Content-Type: text/plain") + "\nHello\n"))
	if err != nil || plain.FollowUp != nil {
		t.Errorf("a mail without reply headers, number or token: follow-up %+v (%v)", plain.FollowUp, err)
	}
}

// BenchmarkFollowUpParse is what reading a reply as a possible follow-up adds to parsing it:
// the same reply (tracking and a serial above a quoted 40-line reply with its Ref line) parsed
// with and without its In-Reply-To, which alone makes the parser look for the thread's fields.
// Together with the store's BenchmarkThreadLookup the goal is under 1 ms per mail.
func BenchmarkFollowUpParse(b *testing.B) {
	quoted := strings.Repeat("> Item 1: TP-Link Archer AX55 · Serial number: RT-88812 · accepted RMA/1/SR/2026\n", 40)
	body := "Hello,\n\nTracking: ACS 7012345678\nSerial number: RT-1\n\nOn Mon, 2 Nov 2026, RMA wrote:\n" + quoted +
		"> Ref: R-0123456789\n"
	for _, tc := range []struct{ name, extra string }{
		{"plain", ""},
		{"reply", "In-Reply-To: <reply.1@distributor.example>"},
	} {
		raw := headers(tc.extra, "Content-Type: text/plain; charset=utf-8") + "\n" + body
		b.Run(tc.name, func(b *testing.B) {
			p := testParser()
			for b.Loop() {
				if _, err := p.ParseMail(strings.NewReader(raw)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
