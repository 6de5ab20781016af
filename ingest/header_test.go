package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The header alone gives the same kind, partner and command as the whole mail, for every fixture.
func TestClassifyHeaderAgreesWithParseMail(t *testing.T) {
	p := testParser()
	files, err := filepath.Glob("../testdata/mails/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		end := bytes.Index(raw, []byte("\n\n"))
		if end < 0 {
			t.Fatalf("%s: no header end", f)
		}
		if got := HeaderBlock(raw); !bytes.Equal(got, raw[:end+2]) {
			t.Errorf("%s: HeaderBlock ends at %d, want %d", filepath.Base(f), len(got), end+2)
		}
		// What mail in the wild has above its header is read past by both (the IMAP side files
		// by the header block alone, so it must not take a leading blank line for the header's end).
		for _, above := range []string{"", "\n", "\r\n \n\n", "\xef\xbb\xbf", "From returns@x.example Mon Nov  2 09:04:00 2026\n",
			"\xef\xbb\xbfFrom returns@x.example Mon Nov  2 09:04:00 2026\n\n"} {
			mail := append([]byte(above), raw...)
			whole, err := p.ParseMail(bytes.NewReader(mail))
			if err != nil {
				t.Fatal(err)
			}
			head, err := p.ClassifyHeader(HeaderBlock(mail))
			if err != nil {
				t.Fatalf("%s after %q: %v", f, above, err)
			}
			if head.Kind != whole.Kind || head.Why != whole.Why || head.PartnerID != whole.PartnerID ||
				head.Locale != whole.Locale || (head.Command == nil) != (whole.Command == nil) || head.From != whole.From {
				t.Errorf("%s after %q: header says %s/%s/%s/%s, whole mail %s/%s/%s/%s", filepath.Base(f), above,
					head.Kind, head.Why, head.PartnerID, head.Locale, whole.Kind, whole.Why, whole.PartnerID, whole.Locale)
			}
		}
	}
	if _, err := p.ClassifyHeader([]byte("\x00not a header")); err == nil {
		t.Error("garbage accepted as a header")
	}
}
