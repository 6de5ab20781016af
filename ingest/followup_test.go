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

// followUpCases are the mails the follow-up benchmarks read: a new submission (a body form, no
// reply headers, no token: what most mail is), an Outlook-style reply without References that
// quotes rmad's Ref line, a short reply with only In-Reply-To, and a reply with tracking and a
// serial above 40 quoted lines (with the Ref line) under the attribution of each language.
func followUpCases() []struct{ name, header, body string } {
	quoted := strings.Repeat("> Item 1: TP-Link Archer AX55 · Serial number: RT-88812 · accepted RMA/1/SR/2026\n", 40) +
		"> " + rma.RefPrefix + "0123456789\n"
	typed := "Hello,\n\nTracking: ACS 7012345678\nSerial number: RT-1\n\n"
	irt := "In-Reply-To: <reply.1@distributor.example>"
	return []struct{ name, header, body string }{
		{"plain", "", "Hello,\n\nEAN: 4897098681234\nSerial number: RT-88812\nPurchase date: 2026-10-02\n" +
			"Fault: no Wi-Fi after the update\n\nBest regards,\nMaria Georgiou\nCyprus Net Ltd, Nicosia\n"},
		{"ref_token", "", typed + "-----Original Message-----\nFrom: RMA <rma@distributor.example>\n" +
			"Sent: Monday, November 2, 2026 9:04 AM\nTo: returns@cyprusnet.example\nSubject: Re: RMA\n\n" +
			strings.ReplaceAll(quoted, "> ", "")},
		{"in_reply_to", irt, "Parcel sent today with ACS.\nAWB: 7012345678\n"},
		{"quoted_en", irt, typed + "On Mon, 2 Nov 2026 at 09:04, RMA <rma@distributor.example> wrote:\n" + quoted},
		{"quoted_el", irt, typed + "Στις Δευ 2 Νοε 2026, ο/η RMA <rma@distributor.example> έγραψε:\n" + quoted},
		{"quoted_ro", irt, typed + "Pe lun., 2 nov. 2026, RMA <rma@distributor.example> a scris:\n" + quoted},
		{"quoted_fr", irt, typed + "Le lun. 2 nov. 2026 à 09:04, RMA <rma@distributor.example> a écrit :\n" + quoted},
	}
}

// BenchmarkFollowUpRecognise is what recognising a follow-up costs the parser per mail: the
// follow-up reading alone (subject numbers, Ref tokens, typed text, labelled fields) over the
// text a text/plain mail's walk gives it, for each of followUpCases. A plain submission pays
// only the scan for a token and the header check. It checks what it read, so a case that stops
// being recognised (or starts being, for plain) fails instead of measuring the wrong path.
func BenchmarkFollowUpRecognise(b *testing.B) {
	for _, tc := range followUpCases() {
		sub := &rma.Submission{Subject: "Re: RMA [RMA/1/SR/2026]"}
		if tc.name == "plain" {
			sub.Subject = "RMA router"
		}
		if tc.header != "" {
			sub.InReplyTo = "reply.1@distributor.example"
		}
		c := &content{plain: []string{tc.body}}
		f := followUp(sub, c)
		switch {
		case tc.name == "plain" && f != nil:
			b.Fatalf("plain: read as a follow-up %+v", f)
		case tc.name != "plain" && (f == nil || f.Fields["tracking"] == "" || strings.Contains(f.Text, "Archer")):
			b.Fatalf("%s: follow-up %+v: want tracking and no quoted text", tc.name, f)
		}
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				followUp(sub, c)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/mail")
		})
	}
}

// BenchmarkFollowUpParse parses the same mails whole (headers, MIME walk, body form, follow-up
// reading): the context for BenchmarkFollowUpRecognise's share of it.
func BenchmarkFollowUpParse(b *testing.B) {
	for _, tc := range followUpCases() {
		raw := headers(tc.header, "Content-Type: text/plain; charset=utf-8") + "\n" + tc.body
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
