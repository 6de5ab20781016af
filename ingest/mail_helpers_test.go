package ingest

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"strings"

	"github.com/rmad/rmad/rma"
)

// fakePartners finds partners by exact address, then domain.
type fakePartners map[string]rma.Partner

func (f fakePartners) BySender(addr string) (rma.Partner, bool) {
	addr = strings.ToLower(addr)
	if p, ok := f[addr]; ok {
		return p, true
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		p, ok := f[addr[i+1:]]
		return p, ok
	}
	return rma.Partner{}, false
}

var testPartners = fakePartners{
	"returns@cyprusnet.example": {ID: "P-EN-004", Locale: "en"},
	"alfa-computers.gr":         {ID: "P-GR-001", Locale: "el"},
	"rma@nova-it.ro":            {ID: "P-RO-002", Locale: "ro"},
	"odd@partner.example":       {ID: "P-X", Locale: "de"},
}

func testParser() *Parser {
	return &Parser{Partners: testPartners, OwnAddresses: []string{"Example RMA <rma@distributor.example>", "imap-user@distributor.example"}}
}

// headers are the usual top-level headers of a partner's mail; extra lines go after them.
func headers(extra ...string) string {
	h := "From: Cyprus Net <returns@cyprusnet.example>\nTo: rma@distributor.example\nSubject: RMA\n" +
		"Date: Mon, 02 Nov 2026 09:04:00 +0000\nMessage-ID: <t1@cyprusnet.example>\nMIME-Version: 1.0\n"
	for _, e := range extra {
		h += e + "\n"
	}
	return h
}

// replaceHeader swaps one header line of headers() for another.
func replaceHeader(h, name, line string) string {
	var out []string
	for _, l := range strings.Split(h, "\n") {
		if strings.HasPrefix(l, name+":") {
			if line != "" {
				out = append(out, line)
			}
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// multipart is a multipart/mixed mail: the headers, then each part (its own headers, a blank
// line, its body).
func multipart(h string, parts ...string) string {
	return multipartOf("mixed", h, parts...)
}

func multipartOf(sub, h string, parts ...string) string {
	var b strings.Builder
	b.WriteString(h)
	b.WriteString("Content-Type: multipart/" + sub + "; boundary=\"BOUNDARY-" + sub + "\"\n\n")
	for _, p := range parts {
		b.WriteString("--BOUNDARY-" + sub + "\n" + p + "\n")
	}
	b.WriteString("--BOUNDARY-" + sub + "--\n")
	return b.String()
}

// nested is a multipart part (for multipart/alternative inside multipart/mixed).
func nested(sub string, parts ...string) string {
	m := multipartOf(sub, "", parts...)
	return m
}

func textPart(body string) string {
	return "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
}

func htmlPart(body string) string {
	return "Content-Type: text/html; charset=utf-8\n\n" + body
}

// b64Part is a base64 part with the given headers.
func b64Part(hdrs string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	return hdrs + "\nContent-Transfer-Encoding: base64\n\n" + strings.Join(lines, "\n")
}

var pdfBytes = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

func pdfPart() string {
	return b64Part("Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"invoice.pdf\"", pdfBytes)
}

const formBody = "EAN: 5204001000013\nSerial: RT-1\nPurchase date: 2026-06-01\nDescription: no power at all after storm\n"

// testPNG is a real PNG of the given size in pixels (a few hundred bytes: size in bytes is not
// what tells a scan from an icon).
func testPNG(w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}
