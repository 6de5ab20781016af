package outbound

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/label"
)

// goMessageMIME is how writeMIME wrote a mail before it wrote the parts itself: go-message's
// mail.Writer throughout. writeMIME must write the same bytes (the boundary aside).
func goMessageMIME(w io.Writer, h mail.Header, d draft) error {
	text := strings.TrimRight(d.body, "\n") + "\n"
	if len(d.files) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		tw, err := mail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(tw, text); err != nil {
			return err
		}
		return tw.Close()
	}
	mw, err := mail.CreateWriter(w, h)
	if err != nil {
		return err
	}
	var th mail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(tw, text); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	for _, f := range d.files {
		var ah mail.AttachmentHeader
		params := map[string]string{"name": f.name}
		if strings.HasPrefix(f.contentType, "text/") {
			params["charset"] = "utf-8"
		}
		ah.SetContentType(f.contentType, params)
		ah.SetFilename(f.name)
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return err
		}
		if f.write != nil {
			err = f.write(aw)
		} else {
			_, err = aw.Write(f.data)
		}
		if err != nil {
			return err
		}
		if err := aw.Close(); err != nil {
			return err
		}
	}
	return mw.Close()
}

// sameMIME fails t unless writeMIME writes d as go-message's mail.Writer does (boundaries
// aside), and the labels spans it returns are the base64 bodies cutLabels finds.
func sameMIME(t *testing.T, d draft) {
	t.Helper()
	header := func() mail.Header {
		var h mail.Header
		h.SetSubject("Re: RMA Αίτηση")
		h.SetAddressList("From", []*mail.Address{{Name: "RMA", Address: "rma@distributor.example"}})
		h.Set("MIME-Version", "1.0")
		return h
	}
	var want, got bytes.Buffer
	if err := goMessageMIME(&want, header(), d); err != nil {
		t.Fatal(err)
	}
	got.WriteString("x") // spans are relative to where the mail starts
	labels, err := writeMIME(&got, header(), d)
	if err != nil {
		t.Fatal(err)
	}
	raw := got.Bytes()[1:]
	if w, g := fixBoundary(want.Bytes()), fixBoundary(raw); !bytes.Equal(w, g) {
		t.Fatalf("writeMIME wrote\n%q\ngo-message\n%q", g, w)
	}
	cut, at, err := cutLabels(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != len(labels) {
		t.Fatalf("labels at %v, writeMIME says %v", at, labels)
	}
	var mine []byte
	from := 0
	for _, s := range labels {
		mine = append(mine, raw[from:s.from]...)
		from = s.to
	}
	if len(labels) > 0 && !bytes.Equal(append(mine, raw[from:]...), cut) {
		t.Fatalf("labels spans %v cut another mail than cutLabels", labels)
	}
}

// writeMIME writes what go-message's mail.Writer writes: plain text alone, and text with
// files of every size around a base64 line (57 bytes), given as bytes, already encoded
// (appendBase64Lines) or written while the mail is, labels PDFs among them.
func TestWriteMIMEAsGoMessage(t *testing.T) {
	texts := []string{"", "Hello\n", "Αποδεκτό: RMA/12/SR/2026 — = \x01\ttab  \n\n\n", strings.Repeat("long line without end ", 40)}
	for _, text := range texts {
		sameMIME(t, draft{body: text})
		for _, n := range []int{0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000, 12027} {
			data := bytes.Repeat([]byte{0x25, 0x00, 0xff, 0x7f, 'a', '\n', '\r'}, n/7+1)[:n]
			sameMIME(t, draft{body: text, files: []file{
				{name: ResultsFilename, contentType: "text/csv", data: data},
				{name: label.Filename, contentType: "application/pdf", data: data, encoded: appendBase64Lines(nil, data)},
				{name: "rma-labels-2.pdf", contentType: "application/pdf", write: func(w io.Writer) error {
					for i := 0; i < len(data); i += 5 { // in pieces, as a PDF is written
						if _, err := w.Write(data[i:min(i+5, len(data))]); err != nil {
							return err
						}
					}
					return nil
				}},
				{name: "invoice.pdf", contentType: "application/pdf", data: data},
			}})
		}
	}
}

func FuzzWriteMIME(f *testing.F) {
	f.Add("Hello\n", []byte("%PDF-1.4"), 3)
	f.Add("Αίτηση = x\n", bytes.Repeat([]byte{0xff}, 200), 57)
	f.Fuzz(func(t *testing.T, text string, data []byte, piece int) {
		piece = max(1, piece%200)
		sameMIME(t, draft{body: text, files: []file{
			{name: label.Filename, contentType: "application/pdf", data: data, encoded: appendBase64Lines(nil, data)},
			{name: "rma-labels-1.pdf", contentType: "application/pdf", write: func(w io.Writer) error {
				for i := 0; i < len(data); i += piece {
					if _, err := w.Write(data[i:min(i+piece, len(data))]); err != nil {
						return err
					}
				}
				return nil
			}},
			{name: ResultsFilename, contentType: "text/csv", data: data},
		}})
	})
}
