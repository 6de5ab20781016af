package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

func parse(t *testing.T, p *Parser, raw string) rma.Submission {
	t.Helper()
	sub, err := p.ParseMail(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("ParseMail: %v", err)
	}
	return sub
}

func codes(ps []rma.Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p.Code))
	}
	return strings.Join(out, ",")
}

func TestParseMailHeaders(t *testing.T) {
	raw := multipart(replaceHeader(headers(
		"In-Reply-To: <reply-1@distributor.example>",
		"References: <a@x.example> <reply-1@distributor.example>"),
		"Subject", "Subject: =?utf-8?b?zpHOr8+EzrfPg863?= RMA =?iso-8859-7?q?=E4=EF=EA=E9=EC=DE?="),
		textPart(formBody), pdfPart())
	sub := parse(t, testParser(), raw)
	want := rma.Submission{Kind: rma.KindSubmission, From: "returns@cyprusnet.example", FromName: "Cyprus Net",
		Subject: "Αίτηση RMA δοκιμή", InReplyTo: "reply-1@distributor.example",
		PartnerID: "P-EN-004", Locale: "en", HasProof: true}
	got := rma.Submission{Kind: sub.Kind, From: sub.From, FromName: sub.FromName, Subject: sub.Subject, InReplyTo: sub.InReplyTo,
		PartnerID: sub.PartnerID, Locale: sub.Locale, HasProof: sub.HasProof}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if sub.Source.Channel != "mail" || sub.Source.MessageID != "t1@cyprusnet.example" {
		t.Errorf("source %+v", sub.Source)
	}
	sum := sha256.Sum256([]byte(raw))
	if sub.Source.RawSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("raw sha256 %s, want the hash of the whole mail", sub.Source.RawSHA256)
	}
	if strings.Join(sub.References, " ") != "a@x.example reply-1@distributor.example" {
		t.Errorf("references %q", sub.References)
	}
	if sub.Date.IsZero() || sub.Date.Hour() != 9 {
		t.Errorf("date %v", sub.Date)
	}
	if len(sub.Items) != 1 || sub.Items[0].Line != 1 || sub.Items[0].EAN != "5204001000013" || sub.Problems != nil {
		t.Errorf("items %+v problems %+v", sub.Items, sub.Problems)
	}
}

func TestParseMailMessageID(t *testing.T) {
	p := testParser()
	noID := replaceHeader(headers(), "Message-ID", "")
	a := parse(t, p, multipart(noID, textPart(formBody), pdfPart()))
	b := parse(t, p, multipart(noID, textPart(formBody), pdfPart()))
	c := parse(t, p, multipart(noID, textPart(formBody+"\n"), pdfPart()))
	if a.Source.MessageID == "" || a.Source.MessageID != b.Source.MessageID || a.Source.MessageID == c.Source.MessageID {
		t.Errorf("synthetic ids: %q %q %q: want stable per content", a.Source.MessageID, b.Source.MessageID, c.Source.MessageID)
	}
	if !strings.HasSuffix(a.Source.MessageID, "@rmad.invalid") {
		t.Errorf("synthetic id %q", a.Source.MessageID)
	}
	odd := parse(t, p, replaceHeader(headers(), "Message-ID", "Message-ID: <no-at-sign>")+"\n"+formBody)
	if odd.Source.MessageID != "no-at-sign" {
		t.Errorf("non-RFC Message-ID kept as %q", odd.Source.MessageID)
	}
}

func TestParseMailSenders(t *testing.T) {
	base := textPart(formBody)
	cases := []struct {
		name    string
		headers string
		parser  func(*Parser)
		kind    rma.Kind
		why     string
		partner string
		locale  string
	}{
		{name: "partner by address", headers: headers(), kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "partner by domain", headers: replaceHeader(headers(), "From", "From: Giorgos <giorgos@Alfa-Computers.gr>"), kind: rma.KindSubmission, partner: "P-GR-001", locale: "el"},
		{name: "partner locale unknown falls back to en", headers: replaceHeader(headers(), "From", "From: odd@partner.example"), kind: rma.KindSubmission, partner: "P-X", locale: "en"},
		{name: "auto-submitted no is a person", headers: headers("Auto-Submitted: no"), kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "auto-replied", headers: headers("Auto-Submitted: auto-replied"), kind: rma.KindIgnored, why: WhyAutoSubmitted, locale: "en"},
		{name: "auto-generated with comment", headers: headers("Auto-Submitted: auto-generated (vacation)"), kind: rma.KindIgnored, why: WhyAutoSubmitted, locale: "en"},
		{name: "x-autoreply", headers: headers("X-Autoreply: yes"), kind: rma.KindIgnored, why: WhyAutoSubmitted, locale: "en"},
		{name: "precedence bulk", headers: headers("Precedence: bulk"), kind: rma.KindIgnored, why: WhyPrecedence, locale: "en"},
		{name: "precedence junk", headers: headers("Precedence: JUNK"), kind: rma.KindIgnored, why: WhyPrecedence, locale: "en"},
		{name: "precedence list", headers: headers("Precedence: list"), kind: rma.KindIgnored, why: WhyPrecedence, locale: "en"},
		{name: "precedence first-class is fine", headers: headers("Precedence: first-class"), kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "list-id", headers: headers("List-Id: <news.cyprusnet.example>"), kind: rma.KindIgnored, why: WhyListID, locale: "en"},
		{name: "empty from", headers: replaceHeader(headers(), "From", ""), kind: rma.KindIgnored, why: WhyEmptySender, locale: "en"},
		{name: "null return-path", headers: headers("Return-Path: <>"), kind: rma.KindIgnored, why: WhyEmptySender, locale: "en"},
		{name: "mailer-daemon", headers: replaceHeader(headers(), "From", "From: Mail Delivery System <MAILER-DAEMON@mx.cyprusnet.example>"), kind: rma.KindIgnored, why: WhyMailerDaemon, locale: "en"},
		{name: "postmaster", headers: replaceHeader(headers(), "From", "From: postmaster@alfa-computers.gr"), kind: rma.KindIgnored, why: WhyMailerDaemon, locale: "el"},
		{name: "our own smtp from", headers: replaceHeader(headers(), "From", "From: RMA <RMA@distributor.example>"), kind: rma.KindIgnored, why: WhyOwnAddress, locale: "en"},
		{name: "our mailbox user", headers: replaceHeader(headers(), "From", "From: imap-user@distributor.example"), kind: rma.KindIgnored, why: WhyOwnAddress, locale: "en"},
		{name: "unknown sender", headers: replaceHeader(headers(), "From", "From: shop@unknown.example"), kind: rma.KindUnknownSender, why: WhyNotRegistered, locale: "en"},
		{name: "unknown romanian sender", headers: replaceHeader(headers(), "From", "From: shop@magazin.ro"), kind: rma.KindUnknownSender, why: WhyNotRegistered, locale: "ro"},
		{name: "unknown sender writing french", headers: replaceHeader(headers("Content-Language: fr-FR"), "From", "From: shop@x.example"), kind: rma.KindUnknownSender, why: WhyNotRegistered, locale: "fr"},
		{name: "unknown greek subject", headers: replaceHeader(replaceHeader(headers(), "From", "From: shop@x.example"), "Subject", "Subject: =?utf-8?b?zpHOr8+EzrfPg863?="), kind: rma.KindUnknownSender, why: WhyNotRegistered, locale: "el"},
		{name: "no partner finder", headers: headers(), parser: func(p *Parser) { p.Partners = nil }, kind: rma.KindUnknownSender, why: WhyNotRegistered, locale: "en"},
		{name: "broken from still read", headers: replaceHeader(headers(), "From", "From: Cyprus Net returns@cyprusnet.example <returns@cyprusnet.example"), kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "dmarc pass", headers: headers("Authentication-Results: mx.example.com; spf=pass; dmarc=pass (p=none) header.from=cyprusnet.example"),
			parser: dmarcOn, kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "dmarc pass with version and spaces", headers: headers("Authentication-Results: MX.example.com 1; dkim=pass;\n  dmarc = pass header.from=cyprusnet.example"),
			parser: dmarcOn, kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "dmarc fail", headers: headers("Authentication-Results: mx.example.com; dmarc=fail header.from=cyprusnet.example"),
			parser: dmarcOn, kind: rma.KindUnknownSender, why: WhyDMARCFail, locale: "en"},
		{name: "dmarc header missing", headers: headers(), parser: dmarcOn, kind: rma.KindUnknownSender, why: WhyDMARCFail, locale: "en"},
		{name: "dmarc pass from an untrusted server", headers: headers("Authentication-Results: evil.example; dmarc=pass"),
			parser: dmarcOn, kind: rma.KindUnknownSender, why: WhyDMARCFail, locale: "en"},
		{name: "only the topmost trusted header counts", headers: headers("Authentication-Results: mx.example.com; dmarc=fail", "Authentication-Results: mx.example.com; dmarc=pass"),
			parser: dmarcOn, kind: rma.KindUnknownSender, why: WhyDMARCFail, locale: "en"},
		{name: "dmarc pass in a comment does not count", headers: headers("Authentication-Results: mx.example.com; dmarc=none (dmarc=pass)"),
			parser: dmarcOn, kind: rma.KindUnknownSender, why: WhyDMARCFail, locale: "en"},
		{name: "dmarc off ignores the header", headers: headers("Authentication-Results: mx.example.com; dmarc=fail"), kind: rma.KindSubmission, partner: "P-EN-004", locale: "en"},
		{name: "automatic before dmarc", headers: headers("Auto-Submitted: auto-replied"), parser: dmarcOn, kind: rma.KindIgnored, why: WhyAutoSubmitted, locale: "en"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testParser()
			if c.parser != nil {
				c.parser(p)
			}
			sub := parse(t, p, multipart(c.headers, base, pdfPart()))
			if sub.Kind != c.kind || sub.Why != c.why || sub.PartnerID != c.partner || sub.Locale != c.locale {
				t.Errorf("kind %q why %q partner %q locale %q; want %q %q %q %q", sub.Kind, sub.Why, sub.PartnerID, sub.Locale, c.kind, c.why, c.partner, c.locale)
			}
		})
	}
	t.Run("multipart/report", func(t *testing.T) {
		raw := multipartOf("report", headers(), textPart("Delivery failed"), "Content-Type: message/delivery-status\n\nStatus: 5.1.1")
		if sub := parse(t, testParser(), raw); sub.Kind != rma.KindIgnored || sub.Why != WhyMultipartReport {
			t.Errorf("kind %q why %q", sub.Kind, sub.Why)
		}
	})
}

func dmarcOn(p *Parser) {
	p.Security = config.Security{RequireDMARCPass: true, AuthservID: "mx.example.com"}
}

func TestParseMailCommands(t *testing.T) {
	cases := []struct {
		name, headers string
		kind          rma.Kind
		cmd           string
	}{
		{"status", replaceHeader(headers(), "Subject", "Subject: STATUS ALFA-7781"), rma.KindCommand, "status:ALFA-7781"},
		{"greek reply prefix", replaceHeader(headers(), "Subject", "Subject: =?utf-8?b?zpHOoDogzprOkc6kzpHOo86kzpHOo86XIEFMRkEtMQ==?="), rma.KindCommand, "status:ALFA-1"},
		{"warranty", replaceHeader(headers(), "Subject", "Subject: Re: WARRANTY 4712633000024 Q1"), rma.KindCommand, "warranty:4712633000024 Q1"},
		{"automatic mail is never a command", replaceHeader(headers("Auto-Submitted: auto-replied"), "Subject", "Subject: STATUS X"), rma.KindIgnored, ""},
		{"unknown senders may not ask", replaceHeader(replaceHeader(headers(), "From", "From: a@unknown.example"), "Subject", "Subject: STATUS X"), rma.KindUnknownSender, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), c.headers+"\n\n")
			got := ""
			if sub.Command != nil {
				got = sub.Command.Name + ":" + sub.Command.Query
			}
			if sub.Kind != c.kind || got != c.cmd || (sub.Kind == rma.KindCommand && sub.Problems != nil) {
				t.Errorf("kind %q command %q problems %v; want %q %q", sub.Kind, got, sub.Problems, c.kind, c.cmd)
			}
		})
	}
}

// TestParseMailBodies: charsets, transfer encodings, alternative parts and HTML-only mail.
func TestParseMailBodies(t *testing.T) {
	greekForm := "Κωδικός EAN: 5204001000013\nΠεριγραφή: Δεν ανάβει καθόλου μετά την καταιγίδα\n"
	greek7, _ := charmap.ISO8859_7.NewEncoder().String(greekForm)
	greek1253, _ := charmap.Windows1253.NewEncoder().String(greekForm)
	ro1250, _ := charmap.Windows1250.NewEncoder().String("Cod EAN: 1\nDescriere: Nu porneşte deloc după update\n")
	cases := []struct {
		name string
		raw  string
		want string
	}{
		{"plain only", multipart(headers(), textPart(formBody), pdfPart()),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm"},
		{"single part mail", headers("Content-Type: text/plain; charset=utf-8") + "\n" + formBody,
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm"},
		{"iso-8859-7 declared, quoted-printable", multipart(headers(),
			"Content-Type: text/plain; charset=iso-8859-7\nContent-Transfer-Encoding: quoted-printable\n\n"+qp(greek7), pdfPart()),
			"ean=5204001000013; description=Δεν ανάβει καθόλου μετά την καταιγίδα"},
		{"windows-1253 base64", multipart(headers(), b64Part("Content-Type: text/plain; charset=\"windows-1253\"", []byte(greek1253)), pdfPart()),
			"ean=5204001000013; description=Δεν ανάβει καθόλου μετά την καταιγίδα"},
		{"undeclared windows-1250", multipart(headers(), "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n"+ro1250, pdfPart()),
			"ean=1; description=Nu porneşte deloc după update"},
		{"unknown charset name", multipart(headers(), "Content-Type: text/plain; charset=x-greek-made-up\n\n"+greek1253, pdfPart()),
			"ean=5204001000013; description=Δεν ανάβει καθόλου μετά την καταιγίδα"},
		{"alternative prefers text/plain", multipart(headers(), nested("alternative", textPart("EAN: 111\nSerial: PLAIN"), htmlPart("<p>EAN: 222<br>Serial: HTML</p>")), pdfPart()),
			"ean=111; serial=PLAIN"},
		{"alternative with a stub plain part", multipart(headers(), nested("alternative", textPart("Your mail client does not show HTML."), htmlPart("<table><tr><td>EAN:</td><td>222</td></tr><tr><td>Serial:</td><td>HTML</td></tr></table>")), pdfPart()),
			"ean=222; serial=HTML"},
		{"html only", multipart(headers(), htmlPart("<div>Code EAN&nbsp;: 6940735000095</div><div>Num&eacute;ro de s&eacute;rie : HK-1</div>"), pdfPart()),
			"ean=6940735000095; serial=HK-1"},
		{"apple mail split body", multipart(headers(), textPart("EAN: 1\nSerial: A"), pdfPart(), textPart("---\nEAN: 2\nSerial: B")),
			"ean=1; serial=A | ean=2; serial=B"},
		{"unknown transfer encoding part is skipped", multipart(headers(), "Content-Type: text/plain\nContent-Transfer-Encoding: x-made-up\n\nEAN: 9", textPart("EAN: 1"), pdfPart()),
			"ean=1"},
		{"quoted reply below", multipart(headers(), textPart(formBody+"\nOn Mon, 2 Nov 2026, RMA <rma@distributor.example> wrote:\n> EAN: 999\n> Serial: OLD\n"), pdfPart()),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), c.raw)
			if got := itemsString(sub.Items); got != c.want {
				t.Errorf("got  %s\nwant %s\nproblems %v", got, c.want, sub.Problems)
			}
		})
	}
}

// qp is a minimal quoted-printable encoding for tests (every non-ASCII byte as =XX).
func qp(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == '=' {
			fmt.Fprintf(&b, "=%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// TestParseMailAttachments: how CSV files and proofs of purchase arrive.
func TestParseMailAttachments(t *testing.T) {
	csv := []byte("own_number;ean;serial\nN-1;5204001000013;S1\nN-2;4712633000024;S2\n")
	csvWant := "ean=5204001000013; serial=S1; own_number=N-1 | ean=4712633000024; serial=S2; own_number=N-2"
	greekCSV, _ := charmap.Windows1253.NewEncoder().String("Αριθμός αίτησης;EAN;Περιγραφή\nA-1;1;Σπασμένη οθόνη\n")
	tsv16, _ := xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewEncoder().String("EAN\tSerial\n1\tS\n")
	logo := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 200)...)
	heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 300)...)
	cases := []struct {
		name     string
		parts    []string
		items    string
		delim    rune
		proof    bool
		problems string
	}{
		{"text/csv attachment", []string{textPart("see attached"), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=\"rma.csv\"", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"inline text/csv without disposition", []string{textPart("see attached"), "Content-Type: text/csv\n\n" + string(csv), pdfPart()},
			csvWant, ';', true, ""},
		{"octet-stream named .csv", []string{b64Part("Content-Type: application/octet-stream; name=\"rma.CSV\"", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"vnd.ms-excel named .csv", []string{b64Part("Content-Type: application/vnd.ms-excel\nContent-Disposition: attachment; filename=export.csv", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"rfc 2231 file name", []string{b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9clamations%20nov.csv", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"encoded-word file name", []string{b64Part("Content-Type: application/octet-stream; name=\"=?utf-8?q?=CE=B1=CE=B9=CF=84=CE=AE=CF=83=CE=B5=CE=B9=CF=82.csv?=\"", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"broken disposition still gives the name", []string{b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=rma list.csv; size=12", csv), pdfPart()},
			csvWant, ';', true, ""},
		{"declared csv charset", []string{b64Part("Content-Type: text/csv; charset=windows-1253\nContent-Disposition: attachment; filename=a.csv", []byte(greekCSV)), pdfPart()},
			"ean=1; description=Σπασμένη οθόνη; own_number=A-1", ';', true, ""},
		{"excel unicode text .txt", []string{b64Part("Content-Type: text/plain\nContent-Disposition: attachment; filename=rma.txt", []byte(tsv16)), pdfPart()},
			"ean=1; serial=S", '\t', true, ""},
		{"a .txt that is not a table is ignored", []string{textPart(formBody), b64Part("Content-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt", []byte("call me")), pdfPart()},
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", 0, true, ""},
		{"body items before csv rows", []string{textPart("EAN: 9\nSerial: BODY"), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=a.csv", csv), pdfPart()},
			"ean=9; serial=BODY | " + csvWant, ';', true, ""},
		{"unreadable csv", []string{textPart(formBody), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=a.csv", []byte("PK\x03\x04zip")), pdfPart()},
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", 0, true, "csv_invalid"},
		{"empty csv alone", []string{b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=a.csv", []byte("ean;serial\n")), pdfPart()},
			"", 0, true, "csv_invalid"},
		{"an xlsx instead of a csv", []string{textPart("see attached"), b64Part("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\nContent-Disposition: attachment; filename=rma.xlsx", []byte("PK\x03\x04")), pdfPart()},
			"", 0, true, "csv_invalid"},
		{"no proof", []string{textPart(formBody)},
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", 0, false, "proof_missing"},
		{"no items", []string{textPart("Hello, invoice attached."), pdfPart()}, "", 0, true, "no_items"},
		{"no items and no proof: how to write items first, then the proof", []string{textPart("Hello")}, "", 0, false, "no_items,proof_missing"},
		{"image proof by type", []string{textPart("EAN: 1"), b64Part("Content-Type: image/jpeg\nContent-Disposition: attachment; filename=photo", logo)}, "ean=1", 0, true, ""},
		{"image proof by name", []string{textPart("EAN: 1"), b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=scan.HEIC", heic)}, "ean=1", 0, true, ""},
		{"pdf without name sniffed", []string{textPart("EAN: 1"), b64Part("Content-Type: application/octet-stream", pdfBytes)}, "ean=1", 0, true, ""},
		{"octet-stream that is no pdf", []string{textPart("EAN: 1"), b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=data.bin", []byte("hello"))}, "ean=1", 0, false, "proof_missing"},
		{"empty pdf is no proof", []string{textPart("EAN: 1"), "Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\n"}, "ean=1", 0, false, "proof_missing"},
		{"signature logo is no proof", []string{nested("related", htmlPart("<p>EAN: 1</p><img src=\"cid:logo@x\">"), b64Part("Content-Type: image/png\nContent-ID: <logo@x>\nContent-Disposition: inline", logo))},
			"ean=1", 0, false, "proof_missing"},
		{"inline photo not shown by the html is proof", []string{textPart("EAN: 1"), b64Part("Content-Type: image/png\nContent-ID: <scan@x>\nContent-Disposition: inline", testPNG(800, 600))},
			"ean=1", 0, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), multipart(headers(), c.parts...))
			if got := itemsString(sub.Items); got != c.items {
				t.Errorf("items\ngot  %s\nwant %s", got, c.items)
			}
			if sub.CSVDelimiter != c.delim || sub.HasProof != c.proof || codes(sub.Problems) != c.problems {
				t.Errorf("delim %q proof %v problems %v; want %q %v %q", sub.CSVDelimiter, sub.HasProof, sub.Problems, c.delim, c.proof, c.problems)
			}
			for i, it := range sub.Items {
				if it.Line != i+1 {
					t.Errorf("item %d has line %d", i, it.Line)
				}
			}
		})
	}
}

func TestParseMailCSVProblemParams(t *testing.T) {
	raw := multipart(headers(), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=rma.csv", []byte("PK\x03\x04")), pdfPart())
	sub := parse(t, testParser(), raw)
	if len(sub.Problems) != 1 || sub.Problems[0].Params["reason"] != CSVReasonSpreadsheet || sub.Problems[0].Params["file"] != "rma.csv" {
		t.Errorf("problems %+v", sub.Problems)
	}
}

// countingReader is an endless mail: a header, then body bytes forever. It counts what is read.
type countingReader struct {
	head []byte
	n    int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		if c.n < int64(len(c.head)) {
			p[i] = c.head[c.n]
		} else {
			p[i] = 'x'
		}
		c.n++
	}
	return len(p), nil
}

func TestParseMailSizeLimit(t *testing.T) {
	p := testParser()
	p.Limits = config.Limits{MaxMessageBytes: 4096, MaxItemsPerSubmission: 10}

	t.Run("endless mail stops at the limit", func(t *testing.T) {
		r := &countingReader{head: []byte(headers("Content-Type: text/plain") + "\nEAN: 1\n")}
		sub, err := p.ParseMail(r)
		if err != nil {
			t.Fatal(err)
		}
		if r.n > 4096+1 {
			t.Errorf("read %d bytes with a 4096-byte limit", r.n)
		}
		if codes(sub.Problems) != "too_large" || sub.Problems[0].Params["reason"] != "message_size" || sub.Items != nil {
			t.Errorf("problems %+v items %+v", sub.Problems, sub.Items)
		}
		if sub.Kind != rma.KindSubmission || sub.From != "returns@cyprusnet.example" || sub.Source.MessageID != "t1@cyprusnet.example" {
			t.Errorf("headers not read: %+v", sub)
		}
		if len(sub.Source.RawSHA256) != 64 {
			t.Errorf("raw sha256 %q", sub.Source.RawSHA256)
		}
	})
	t.Run("exactly at the limit is fine", func(t *testing.T) {
		raw := multipart(headers(), textPart("EAN: 1"), pdfPart())
		raw += strings.Repeat("x", 4096-len(raw))
		if sub := parse(t, p, raw); sub.Problems != nil || len(sub.Items) != 1 {
			t.Errorf("problems %+v items %d", sub.Problems, len(sub.Items))
		}
		if sub := parse(t, p, raw+"y"); codes(sub.Problems) != "too_large" {
			t.Errorf("one byte over: problems %+v", sub.Problems)
		}
	})
	t.Run("a large csv attachment", func(t *testing.T) {
		big := []byte("ean;serial\n" + strings.Repeat("5204001000013;S\n", 1000))
		raw := multipart(headers(), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=a.csv", big), pdfPart())
		if sub := parse(t, p, raw); codes(sub.Problems) != "too_large" || sub.Items != nil {
			t.Errorf("problems %+v, %d items", sub.Problems, len(sub.Items))
		}
	})
	items := func(n int) string {
		var b strings.Builder
		b.WriteString("ean;serial\n")
		for i := range n {
			fmt.Fprintf(&b, "%d;S\n", i)
		}
		return b.String()
	}
	csvPart := func(n int) string {
		return b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=a.csv", []byte(items(n)))
	}
	cases := []struct {
		name  string
		parts []string
		want  string
		n     int
	}{
		{"max items in a csv", []string{csvPart(10), pdfPart()}, "", 10},
		{"one item too many in a csv", []string{csvPart(11), pdfPart()}, "too_large", 0},
		{"body and csv together too many", []string{textPart("EAN: 1"), csvPart(10), pdfPart()}, "too_large", 0},
		{"two csv files too many", []string{csvPart(6), csvPart(6), pdfPart()}, "too_large", 0},
		{"too many body items", []string{textPart(strings.Repeat("EAN: 1\n", 11)), pdfPart()}, "too_large", 0},
		{"too many and no proof", []string{csvPart(11)}, "too_large,proof_missing", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, p, multipart(headers(), c.parts...))
			if codes(sub.Problems) != c.want || len(sub.Items) != c.n {
				t.Errorf("problems %+v, %d items; want %q, %d", sub.Problems, len(sub.Items), c.want, c.n)
			}
			if c.want == "too_large" && sub.Problems[0].Params["reason"] != "items" {
				t.Errorf("params %v", sub.Problems[0].Params)
			}
		})
	}
}

func TestParseMailOddInput(t *testing.T) {
	p := testParser()
	t.Run("mbox From line", func(t *testing.T) {
		sub := parse(t, p, "From returns@cyprusnet.example Mon Nov  2 09:04:00 2026\n"+multipart(headers(), textPart("EAN: 1"), pdfPart()))
		if sub.Kind != rma.KindSubmission || len(sub.Items) != 1 {
			t.Errorf("kind %q items %d", sub.Kind, len(sub.Items))
		}
	})
	t.Run("From header with a space before its colon is no mbox line", func(t *testing.T) {
		sub := parse(t, p, replaceHeader(headers(), "From", "From : Cyprus Net <returns@cyprusnet.example>")+"\nEAN: 1\n")
		if sub.From != "returns@cyprusnet.example" {
			t.Errorf("from %q", sub.From)
		}
	})
	t.Run("no header at all", func(t *testing.T) {
		if _, err := p.ParseMail(strings.NewReader(" leading space is no header\n\nbody")); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("truncated multipart keeps what came", func(t *testing.T) {
		raw := multipart(headers(), textPart("EAN: 1"), pdfPart())
		raw = raw[:strings.LastIndex(raw, "--BOUNDARY")]
		sub := parse(t, p, raw)
		if len(sub.Items) != 1 || !sub.HasProof {
			t.Errorf("items %d proof %v", len(sub.Items), sub.HasProof)
		}
	})
	t.Run("empty input", func(t *testing.T) {
		sub, err := p.ParseMail(strings.NewReader(""))
		if err == nil && sub.Kind != rma.KindIgnored {
			t.Errorf("empty mail: kind %q", sub.Kind)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		_, err := p.ParseMail(io.MultiReader(strings.NewReader("From: a"), errReader{}))
		if err == nil {
			t.Error("want an error when the header cannot be read")
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

func TestOwnAddresses(t *testing.T) {
	cfg := &config.Config{SMTP: config.SMTP{From: "RMA <rma@d.example>", Username: "smtp-user"},
		IMAP: []config.Mailbox{{Username: "box@d.example"}, {Username: "plainuser"}}}
	if got := strings.Join(OwnAddresses(cfg), ","); got != "RMA <rma@d.example>,box@d.example" {
		t.Errorf("OwnAddresses = %q", got)
	}
}

func TestParseMailRawEightBitSubject(t *testing.T) {
	subj, _ := charmap.Windows1253.NewEncoder().String("Αίτηση RMA")
	sub := parse(t, testParser(), replaceHeader(headers(), "Subject", "Subject: "+subj)+"\nEAN: 1\n")
	if sub.Subject != "Αίτηση RMA" {
		t.Errorf("subject %q", sub.Subject)
	}
}
