package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rmad/rmad/ingest/tnef/tneftest"
	"github.com/rmad/rmad/rma"
)

// winmailDat is a TNEF stream holding a body form and the given files.
func winmailDat(body string, files map[string][]byte) []byte {
	s := tneftest.NewStream()
	s.Attr(1, tneftest.AttTnefVersion, []byte{0, 0, 1, 0})
	if body != "" {
		s.Attr(1, tneftest.AttBody, []byte(body+"\x00"))
	}
	for _, name := range []string{"invoice.pdf", "rma.csv", "logo.png", "notes.bin"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		s.Attr(2, tneftest.AttAttachRendData, make([]byte, 14))
		s.Attr(2, tneftest.AttAttachTitle, []byte(strings.ToUpper(name[:min(6, len(name))])+"~1\x00"))
		s.Attr(2, tneftest.AttAttachData, data)
		s.Attr(2, tneftest.AttAttachment, (&tneftest.Props{}).Unicode(tneftest.PrAttachLong, name).Bytes())
	}
	return s.Bytes()
}

// rtfWinmailDat is a winmail.dat as Outlook sends a "rich text" mail: the body only as compressed
// RTF, and an invoice.
func rtfWinmailDat(rtf string, pdf []byte) []byte {
	s := tneftest.NewStream()
	s.Attr(1, tneftest.AttTnefVersion, []byte{0, 0, 1, 0})
	s.Attr(1, tneftest.AttMsgProps, (&tneftest.Props{}).Variable(0x0102, 0x1009, tneftest.CompressRTF([]byte(rtf))).Bytes())
	s.Attr(2, tneftest.AttAttachRendData, make([]byte, 14))
	s.Attr(2, tneftest.AttAttachData, pdf)
	s.Attr(2, tneftest.AttAttachment, (&tneftest.Props{}).Unicode(tneftest.PrAttachLong, "invoice.pdf").Bytes())
	return s.Bytes()
}

func tnefPart(data []byte) string {
	return b64Part("Content-Type: application/ms-tnef; name=\"winmail.dat\"\nContent-Disposition: attachment; filename=\"winmail.dat\"", data)
}

// forwardedPart wraps a whole mail as a message/rfc822 part.
func forwardedPart(mail string) string {
	return "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + mail
}

// innerMail is a mail a customer or a colleague sent, forwarded by the partner.
func innerMail(parts ...string) string {
	h := "From: Colleague <colleague@cyprusnet.example>\nTo: returns@cyprusnet.example\nSubject: the router\nMIME-Version: 1.0\n"
	innerMails++
	return strings.ReplaceAll(multipartOf("mixed", h, parts...), "BOUNDARY-mixed", fmt.Sprintf("INNER-%d", innerMails))
}

var innerMails int // makes each inner mail's boundary its own

func uuencode(name string, data []byte) string {
	var b strings.Builder
	b.WriteString("begin 644 " + name + "\n")
	for len(data) > 0 {
		n := min(45, len(data))
		chunk := data[:n]
		data = data[n:]
		b.WriteByte(byte(' ' + n))
		for i := 0; i < len(chunk); i += 3 {
			var t [3]byte
			copy(t[:], chunk[i:])
			for _, q := range []byte{t[0] >> 2, (t[0]<<4 | t[1]>>4) & 63, (t[1]<<2 | t[2]>>6) & 63, t[2] & 63} {
				if q == 0 {
					b.WriteByte('`')
				} else {
					b.WriteByte(' ' + q)
				}
			}
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

func TestAttachmentsInsideAttachments(t *testing.T) {
	csv := []byte("ean;serial;purchase_date\n5204001000013;RT-9;2026-06-01\n")
	big := testPNG(900, 700)
	cases := []struct {
		name, raw, items string
		proof            bool
		problems         string
		role, inside     string // of the file named in the case (first with that role)
	}{
		{"winmail.dat with a pdf", multipart(headers(), textPart(formBody), tnefPart(winmailDat("", map[string][]byte{"invoice.pdf": pdfBytes}))),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, "winmail.dat"},
		{"winmail.dat with a csv and a pdf", multipart(headers(), textPart("see attached"), tnefPart(winmailDat("", map[string][]byte{"invoice.pdf": pdfBytes, "rma.csv": csv}))),
			"ean=5204001000013; serial=RT-9; purchase_date=2026-06-01", true, "", RoleItems, "winmail.dat"},
		{"winmail.dat body form", multipart(headers(), tnefPart(winmailDat("EAN: 5204001000013\r\nSerial: RT-5\r\n", map[string][]byte{"invoice.pdf": pdfBytes}))),
			"ean=5204001000013; serial=RT-5", true, "", RoleProof, "winmail.dat"},
		{"winmail.dat body form in rich text", multipart(headers(), tnefPart(rtfWinmailDat(`{\rtf1\ansi\ansicpg1250\deff0{\fonttbl{\f0 Arial;}}\pard EAN: 5204001000013\par Serial: RT-\'aa\u536?5\par}`, pdfBytes))),
			"ean=5204001000013; serial=RT-ŞȘ5", true, "", RoleProof, "winmail.dat"},
		{"winmail.dat as octet-stream", multipart(headers(), textPart(formBody), b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"WINMAIL.DAT\"", winmailDat("", map[string][]byte{"invoice.pdf": pdfBytes}))),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, "WINMAIL.DAT"},
		{"truncated winmail.dat", multipart(headers(), textPart(formBody), tnefPart(winmailDat("", map[string][]byte{"invoice.pdf": pdfBytes})[:40])),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", false, "proof_missing", "", ""},
		{"forwarded mail with form and pdf", multipart(headers(), textPart("FYI, see below"), forwardedPart(innerMail(textPart(formBody), pdfPart()))),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, InsideForwarded},
		{"forwarded .eml with a csv", multipart(headers(), textPart("see the attached mail"), pdfPart(),
			b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"fwd.eml\"", []byte(innerMail(textPart("hi"), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=rma.csv", csv))))),
			"ean=5204001000013; serial=RT-9; purchase_date=2026-06-01", true, "", RoleItems, InsideForwarded},
		{"the outer mail's own items win", multipart(headers(), textPart("EAN: 1\nSerial: OUTER"), pdfPart(), forwardedPart(innerMail(textPart("EAN: 2\nSerial: INNER")))),
			"ean=1; serial=OUTER", true, "", "", ""},
		{"forwarded three deep", multipart(headers(), textPart("fwd"), forwardedPart(innerMail(textPart("fwd"), forwardedPart(innerMail(textPart("fwd"),
			forwardedPart(innerMail(textPart(formBody), pdfPart()))))))),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, "forwarded message > forwarded message > forwarded message"},
		{"forwarded four deep is not read", multipart(headers(), textPart("fwd"), forwardedPart(innerMail(textPart("fwd"), forwardedPart(innerMail(textPart("fwd"),
			forwardedPart(innerMail(textPart("fwd"), forwardedPart(innerMail(textPart(formBody), pdfPart()))))))))),
			"", false, "no_items,proof_missing", "", ""},
		{"x-uuencode part", multipart(headers(), textPart(formBody), "Content-Type: application/pdf; name=invoice.pdf\nContent-Transfer-Encoding: x-uuencode\n\n"+uuencode("invoice.pdf", pdfBytes)),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, ""},
		{"uuencoded in the body", headers("Content-Type: text/plain") + "\n" + formBody + "\n" + uuencode("scan.png", big) + "\nThanks\n",
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, InsideUUText},
		{"inner boundary begins with the outer", strings.ReplaceAll(multipart(headers(), nested("alternative", textPart(formBody), htmlPart("<p>x</p>")), pdfPart()), "BOUNDARY-alternative", "BOUNDARY-mixed-alt"),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, ""},
		{"unquoted boundary with =", strings.ReplaceAll(strings.Replace(multipart(headers(), textPart(formBody), pdfPart()), "boundary=\"BOUNDARY-mixed\"", "boundary=----=_Part_7_1.2", 1), "BOUNDARY-mixed", "----=_Part_7_1.2"),
			"ean=5204001000013; serial=RT-1; purchase_date=2026-06-01; description=no power at all after storm", true, "", RoleProof, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub, atts, err := testParser().Inspect(strings.NewReader(c.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := itemsString(sub.Items); got != c.items {
				t.Errorf("items\ngot  %s\nwant %s", got, c.items)
			}
			if sub.HasProof != c.proof || codes(sub.Problems) != c.problems {
				t.Errorf("proof %v problems %v; want %v %q", sub.HasProof, sub.Problems, c.proof, c.problems)
			}
			if c.role == "" {
				return
			}
			for _, a := range atts {
				if a.Role == c.role && a.Inside == c.inside {
					return
				}
			}
			t.Errorf("no %s file inside %q: %+v", c.role, c.inside, atts)
		})
	}
}

func TestDecorativeImages(t *testing.T) {
	big := testPNG(1200, 900)
	cases := []struct {
		name  string
		parts []string
		proof bool
		role  string
	}{
		{"a large image the html shows is decoration", []string{nested("related", htmlPart(`<p>EAN: 1</p><img src="cid:banner@x">`),
			b64Part("Content-Type: image/png\nContent-ID: <banner@x>\nContent-Disposition: inline", append(big, make([]byte, 40<<10)...)))}, false, RoleDecorative},
		{"a tiny unreferenced inline image is decoration", []string{textPart("EAN: 1"), b64Part("Content-Type: image/png\nContent-ID: <smile@x>", testPNG(20, 20))}, false, RoleDecorative},
		{"an icon attached as a file is decoration", []string{textPart("EAN: 1"), b64Part("Content-Type: image/png\nContent-Disposition: attachment; filename=image001.png", testPNG(48, 48))}, false, RoleDecorative},
		{"a scan attached as a file is proof", []string{textPart("EAN: 1"), b64Part("Content-Type: image/png\nContent-Disposition: attachment; filename=scan.png", big)}, true, RoleProof},
		{"a large unreferenced inline image is proof", []string{textPart("EAN: 1"), b64Part("Content-Type: image/png\nContent-ID: <scan@x>", big)}, true, RoleProof},
		{"image/jpeg that is not an image", []string{textPart("EAN: 1"), b64Part("Content-Type: image/jpeg\nContent-Disposition: attachment; filename=photo.jpg", []byte(strings.Repeat("<html>not a photo</html>", 100)))}, false, RoleUnreadable},
		{"a pdf named .pdf that is not one", []string{textPart("EAN: 1"), b64Part("Content-Type: application/pdf\nContent-Disposition: attachment; filename=invoice.pdf", []byte("PK\x03\x04 a zip"))}, false, RoleUnreadable},
		{"octet-stream invoice.pdf with pdf bytes", []string{textPart("EAN: 1"), b64Part("Content-Type: application/octet-stream; name=invoice.pdf", pdfBytes)}, true, RoleProof},
		{"octet-stream without a name, pdf bytes after junk", []string{textPart("EAN: 1"), b64Part("Content-Type: application/octet-stream", append([]byte("\r\n\r\n"), pdfBytes...))}, true, RoleProof},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub, atts, err := testParser().Inspect(strings.NewReader(multipart(headers(), c.parts...)))
			if err != nil {
				t.Fatal(err)
			}
			if sub.HasProof != c.proof {
				t.Errorf("proof %v, want %v (%+v)", sub.HasProof, c.proof, atts)
			}
			if len(atts) != 1 || atts[0].Role != c.role {
				t.Errorf("attachments %+v, want one %s", atts, c.role)
			}
		})
	}
}

// Nothing is lost and nothing panics on forwarded mail cut anywhere.
func TestForwardedTruncated(t *testing.T) {
	raw := multipart(headers(), textPart("fwd"), forwardedPart(innerMail(textPart(formBody), pdfPart(), tnefPart(winmailDat("EAN: 1", map[string][]byte{"invoice.pdf": pdfBytes})))))
	for n := 0; n < len(raw); n += 7 {
		sub, err := testParser().ParseMail(strings.NewReader(raw[:n]))
		if err == nil && sub.Kind == rma.KindSubmission && len(sub.Items) == 0 && len(sub.Problems) == 0 {
			t.Fatalf("cut at %d: a submission with neither items nor problems", n)
		}
	}
}
