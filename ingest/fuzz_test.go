package ingest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// fixtureMails returns the sample mails, the seeds of every fuzz target.
func fixtureMails(f *testing.F) [][]byte {
	f.Helper()
	files, err := filepath.Glob("../testdata/mails/*.eml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixture mails: %v", err)
	}
	var out [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// fixtureParts returns the decoded text bodies and CSV attachments of the sample mails.
func fixtureParts(f *testing.F) (texts []string, csvs [][]byte) {
	for _, raw := range fixtureMails(f) {
		mr, err := mail.CreateReader(bytes.NewReader(raw))
		if err != nil {
			f.Fatal(err)
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			info := classifyPart(p.Header)
			b, _ := io.ReadAll(p.Body)
			switch info.kind {
			case partPlain:
				texts = append(texts, string(b))
			case partHTML:
				texts = append(texts, HTMLToText(string(b)))
			case partCSV:
				csvs = append(csvs, b)
			}
		}
	}
	return texts, csvs
}

func FuzzParseMail(f *testing.F) {
	for _, m := range fixtureMails(f) {
		f.Add(m)
	}
	f.Add([]byte(multipart(headers(), nested("alternative", textPart("EAN: 1"), htmlPart("<table><tr><td>EAN:</td><td>2</td></tr></table>")),
		b64Part("Content-Type: application/octet-stream; name=a.csv", []byte("ean;serial\n1;S\n")), pdfPart())))
	f.Add([]byte(headers("Auto-Submitted: auto-replied", "Authentication-Results: mx.example.com; dmarc=pass") + "\n"))
	p := testParser()
	p.Limits = config.Limits{MaxMessageBytes: 1 << 16, MaxItemsPerSubmission: 50}
	p.Security = config.Security{AuthservID: "mx.example.com"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sub, err := p.ParseMail(bytes.NewReader(raw))
		if err != nil {
			return
		}
		switch sub.Kind {
		case rma.KindSubmission, rma.KindCommand, rma.KindIgnored, rma.KindUnknownSender:
		default:
			t.Fatalf("kind %q", sub.Kind)
		}
		if len(sub.Source.RawSHA256) != 64 || sub.Source.MessageID == "" || sub.Source.Channel != ChannelMail {
			t.Fatalf("source %+v", sub.Source)
		}
		if len(sub.Items) > 50 {
			t.Fatalf("%d items beyond the limit", len(sub.Items))
		}
		for i, it := range sub.Items {
			if it.Line != i+1 {
				t.Fatalf("item %d has line %d", i, it.Line)
			}
		}
		if sub.Kind == rma.KindCommand && sub.Command == nil {
			t.Fatal("command kind without a command")
		}
		if sub.Kind == rma.KindSubmission && len(sub.Items) == 0 && len(sub.Problems) == 0 {
			t.Fatal("a submission without items must carry a problem")
		}
	})
}

func FuzzParseBodyForm(f *testing.F) {
	texts, _ := fixtureParts(f)
	for _, s := range texts {
		f.Add(s)
	}
	f.Add("EAN: 1\n---\nEAN: 2\n\nOn Mon wrote:\n> x\nDescription:\nwrapped\n-- \nsig")
	f.Fuzz(func(t *testing.T, text string) {
		for _, it := range ParseBodyForm(text) {
			n := 0
			for _, fld := range rma.Fields {
				v := it.Get(fld)
				if v != strings.TrimSpace(v) {
					t.Fatalf("%s value %q not trimmed", fld, v)
				}
				if v != "" {
					n++
				}
			}
			if it.EAN == "" && n < 2 {
				t.Fatalf("item without EAN and with %d fields: %+v", n, it)
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	_, csvs := fixtureParts(f)
	for _, c := range csvs {
		f.Add(c, 5)
	}
	f.Add([]byte("\xff\xfeE\x00A\x00N\x00\t\x00S\x00\n\x001\x00\t\x002\x00"), 0)
	f.Add([]byte("title;;\nEAN;Serial\n=\"1\";'2\n;;\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, maxRows int) {
		maxRows %= 100
		items, delim, err := ReadCSV(data, maxRows)
		if maxRows > 0 && len(items) > maxRows {
			t.Fatalf("%d items with maxRows %d", len(items), maxRows)
		}
		if err == nil && (len(items) == 0 || !strings.ContainsRune("\t;,|", delim)) {
			t.Fatalf("no error but %d items, delimiter %q", len(items), delim)
		}
		for i, it := range items {
			if it.Line != i+1 {
				t.Fatalf("item %d has line %d", i, it.Line)
			}
			for _, fld := range rma.Fields {
				if !utf8.ValidString(it.Get(fld)) {
					t.Fatalf("%s is not UTF-8: %q", fld, it.Get(fld))
				}
			}
		}
	})
}

func FuzzHTMLToText(f *testing.F) {
	f.Add(`<html><body><p>Bonjour,</p><p><b>Code EAN</b> : 6940735000095<br></p></body></html>`)
	f.Add(`<table><tr><th>EAN</th><th>Serial</th></tr><tr><td>1</td><td><table><tr><td>x</td></tr></table></td></tr></table><blockquote type=cite>q</blockquote><hr><pre>a\nb</pre>`)
	f.Fuzz(func(t *testing.T, html string) {
		out := HTMLToText(html)
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("output %q does not end a line", out)
		}
		ParseBodyForm(out)
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STATUS ALFA-1", "ΑΠ: ΕΓΓΥΗΣΗ 1 2", "Re[3]: [EXT] GARANȚIE", "TR: statut"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, ok := ParseCommand(s); ok && c.Name != rma.CommandStatus && c.Name != rma.CommandWarranty {
			t.Fatalf("command %+v", c)
		}
	})
}

func FuzzDecodeUU(f *testing.F) {
	f.Add([]byte(uuencode("invoice.pdf", pdfBytes)))
	f.Add([]byte("text\nbegin 644 a.bin\nM" + strings.Repeat("`", 60) + "\nbegin 0644 b\n!\nend\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, rest := decodeUUBlocks(data)
		if len(files) > maxUUFiles || len(rest) > len(data) {
			t.Fatalf("%d files, %d bytes of text from %d", len(files), len(rest), len(data))
		}
		total := 0
		for _, f := range files {
			total += len(f.data)
		}
		if total > len(data) {
			t.Fatalf("%d bytes decoded from %d", total, len(data))
		}
	})
}

// FuzzForwarded wraps the fuzzed mail in forwarded mail, several levels deep and in each of
// the ways partners forward (message/rfc822, an .eml, inside a winmail.dat's neighbour).
func FuzzForwarded(f *testing.F) {
	f.Add([]byte(innerMail(textPart(formBody), pdfPart())), uint8(1))
	f.Add([]byte(innerMail(forwardedPart(innerMail(textPart(formBody))))), uint8(3))
	f.Add([]byte(headers()+"\n"+formBody), uint8(5))
	p := testParser()
	p.Limits = config.Limits{MaxMessageBytes: 1 << 18, MaxItemsPerSubmission: 50}
	f.Fuzz(func(t *testing.T, inner []byte, levels uint8) {
		raw := string(inner)
		for i := range int(levels % 6) {
			if i%2 == 0 {
				raw = innerMail(textPart("fwd"), forwardedPart(raw))
			} else {
				raw = innerMail(b64Part("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=f.eml", []byte(raw)))
			}
		}
		raw = multipart(headers(), textPart("see below"), forwardedPart(raw))
		sub, atts, err := p.Inspect(strings.NewReader(raw))
		if err != nil {
			return
		}
		if len(sub.Items) > 50 {
			t.Fatalf("%d items", len(sub.Items))
		}
		for _, a := range atts {
			if strings.Count(a.Inside, InsideForwarded) > maxForwardDepth {
				t.Fatalf("read %q", a.Inside)
			}
			if a.Role == rolePending {
				t.Fatalf("role left undecided: %+v", a)
			}
		}
	})
}
