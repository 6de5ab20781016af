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
		whole, err := p.ParseMail(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		head, err := p.ClassifyHeader(raw[:end+2])
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if head.Kind != whole.Kind || head.Why != whole.Why || head.PartnerID != whole.PartnerID ||
			head.Locale != whole.Locale || (head.Command == nil) != (whole.Command == nil) {
			t.Errorf("%s: header says %s/%s/%s/%s, whole mail %s/%s/%s/%s", filepath.Base(f),
				head.Kind, head.Why, head.PartnerID, head.Locale, whole.Kind, whole.Why, whole.PartnerID, whole.Locale)
		}
	}
	if _, err := p.ClassifyHeader([]byte("\x00not a header")); err == nil {
		t.Error("garbage accepted as a header")
	}
}
