package ingest_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// What partners type goes through parse + rules: EANs as printed under the barcode and dates
// the way people write them are read; a date that does not exist is date_invalid, and the
// partner is told what rmad reads.
func TestPartnersTyping(t *testing.T) {
	raw, err := os.ReadFile("../testdata/mails/14-future-date.eml")
	if err != nil {
		t.Fatal(err)
	}
	p := newPipeline(t)
	cases := []struct{ ean, date, code string }{
		{"5 204001 000013", "2026-06-01", ""},
		{"5-204001-000013", "01/06/26", ""},
		{"5.204001.000013", "1 June 2026", ""},
		{"5204001000013", "1 Ιουνίου 2026", ""},
		{"5204001000013", "1 iunie 2026", ""},
		{"5204001000013", "1er juin 2026", ""},
		{"5204001000013", "2026-06-01T09:30:00+03:00", ""},
		{"5 204001 00001", "2026-06-01", "ean_invalid"},
		{"5204001000013", "31.02.2026", "date_invalid"},
		{"5204001000013", "31 février 2026", "date_invalid"},
	}
	for _, c := range cases {
		t.Run(c.ean+" "+c.date, func(t *testing.T) {
			mail := strings.Replace(strings.Replace(string(raw), "EAN: 5204001000013", "EAN: "+c.ean, 1), "Purchase date: 2099-01-01", "Purchase date: "+c.date, 1)
			sub, err := p.parser.ParseMail(strings.NewReader(mail))
			if err != nil {
				t.Fatal(err)
			}
			ds := p.engine.Evaluate(sub, fixtureNow)
			if len(ds) != 1 {
				t.Fatalf("%d decisions", len(ds))
			}
			codes := ds[0].Codes()
			if c.code == "" {
				if slices.Contains(codes, rma.CodeEANInvalid) || slices.Contains(codes, rma.CodeDateInvalid) {
					t.Fatalf("codes %v", codes)
				}
				if ds[0].Item.EAN != "5204001000013" || ds[0].Purchase.Format("2006-01-02") != "2026-06-01" {
					t.Errorf("read EAN %q date %v", ds[0].Item.EAN, ds[0].Purchase)
				}
				return
			}
			if !slices.Contains(codes, rma.Code(c.code)) {
				t.Fatalf("codes %v, want %s", codes, c.code)
			}
			for _, pr := range ds[0].Problems {
				if pr.Code == rma.CodeDateInvalid {
					for loc, example := range map[string]string{"en": "21.03.2026", "el": "21.03.2026", "ro": "21.03.2026", "fr": "21/03/2026"} {
						if text := i18n.Describe(loc, pr); !strings.Contains(text, example) || !strings.Contains(text, strings.Fields(c.date)[0]) {
							t.Errorf("%s: %q", loc, text)
						}
					}
				}
			}
		})
	}
}

// Every workbook problem is worded in every language, naming the file and what to do.
func TestWorkbookProblemsWorded(t *testing.T) {
	want := map[string]map[string]string{
		"old_spreadsheet": {"en": ".xlsx", "el": ".xlsx", "ro": ".xlsx", "fr": ".xlsx"},
		"encrypted":       {"en": "password", "el": "κωδικό", "ro": "parolă", "fr": "mot de passe"},
		"macros":          {"en": "macros", "el": "μακροεντολές", "ro": "macrocomenzi", "fr": "macros"},
		"unzip_too_large": {"en": "unpacks", "el": "αποσυμπιέζεται", "ro": "dezarhivează", "fr": "décompresse"},
		"damaged_xlsx":    {"en": "damaged", "el": "κατεστραμμένο", "ro": "deteriorat", "fr": "endommagé"},
	}
	for reason, byLocale := range want {
		for loc, word := range byLocale {
			text := i18n.Describe(loc, rma.NewProblem(rma.CodeCSVInvalid, "", "reason", reason, "file", "rma.xlsx"))
			if !strings.Contains(text, word) || !strings.Contains(text, "rma.xlsx") {
				t.Errorf("%s/%s: %q", reason, loc, text)
			}
		}
	}
	for _, loc := range []string{"en", "el", "ro", "fr"} {
		if text := i18n.Describe(loc, rma.NewProblem(rma.CodeTooLarge, "", "reason", "rows", "limit", "10000", "file", "rma.xlsx")); !strings.Contains(text, "10000") {
			t.Errorf("too_large rows/%s: %q", loc, text)
		}
	}
}
