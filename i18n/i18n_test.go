package i18n

import (
	"io"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rmad/rmad/rma"
)

func TestCatalogsLoad(t *testing.T) {
	if catalogErr != nil {
		t.Fatalf("locale catalogs: %v", catalogErr)
	}
	for _, loc := range Locales {
		if len(catalogs[loc]) == 0 {
			t.Errorf("locale %s has no phrases", loc)
		}
	}
}

// Every phrase exists in every language: a missing one would fall back to English mid-mail.
func TestCatalogsComplete(t *testing.T) {
	en := Keys("en")
	for _, loc := range Locales[1:] {
		keys := Keys(loc)
		for _, k := range en {
			if !slices.Contains(keys, k) {
				t.Errorf("%s lacks %q", loc, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(en, k) {
				t.Errorf("%s has %q, which en has not (a typo?)", loc, k)
			}
		}
	}
}

// Every problem code, status and note key has its own phrase in each of the four languages (not
// a fallback to problem.unknown or to English).
func TestEveryCodeStatusAndNoteWorded(t *testing.T) {
	var want []string
	for _, c := range rma.AllCodes {
		want = append(want, "problem."+string(c))
	}
	for _, s := range rma.AllStatuses {
		want = append(want, "status."+string(s))
	}
	for _, n := range rma.AllNoteKeys {
		want = append(want, "note."+string(n))
	}
	for _, loc := range Locales {
		keys := Keys(loc)
		for _, k := range want {
			if !slices.Contains(keys, k) {
				t.Errorf("locale %s has no phrase %q", loc, k)
			}
		}
	}
}

// sampleParams fill every parameter any phrase uses, so that rendering shows leftovers.
var sampleParams = map[string]string{
	"value": "X-1", "reason": "", "allowed": "defective|order_error", "brands": "DJI", "brand": "DJI",
	"helpdesk": "https://helpdesk.example/", "min": "15", "until": "2027-01-31", "months": "24",
	"suggestion": "0810088000058", "expanded": "5901230000000", "expected_check": "3", "country": "GR",
	"expected_length": "27", "file": "rma.csv", "line": "3", "max": "25 MiB", "code": "x", "key": "k",
	"serial": "SN1", "ean": "5204001000013", "given": "2026-01-02", "sales": "2026-01-05", "date": "2026-01-05",
	"name": "Centre", "address": "Street 1", "numbers": "RMA/1/SR/2026", "number": "RMA/1/SR/2026",
	"portal": "https://rma.example/", "lines": "1", "n": "2", "subject": "S", "from": "a@b.example",
	"staff": "desk@example.com", "query": "Q", "product": "P", "purchase": "2025-01-31", "fee": "15 EUR",
	"percent": "15", "iban": "GR16", "contents": "PSU", "ticket": "T-1", "text": "t", "days": "10",
	"label": "L", "formats": "YYYY-MM-DD", "today": "2026-11-02", "claim_type": "fast_refund", "max_len": "",
	"limit": "10", "count": "12", "size": "25 MB", "tracking": "ACS 1", "example": "RMA/1/SR/2026",
	"total": "134.50 EUR", "accept": "ACCEPT", "decline": "DECLINE", "url": "https://rma.example/estimate/t/accept",
	"status": "Being repaired",
}

func TestEveryPhraseRenders(t *testing.T) {
	for _, loc := range Locales {
		for _, k := range Keys(loc) {
			// A parameter name no caller sets (a typo such as {{.vlaue}}) would render empty.
			strict, err := catalogs[loc][k].t.Clone()
			if err != nil {
				t.Fatal(err)
			}
			if err := strict.Option("missingkey=error").Execute(io.Discard, sampleParams); err != nil {
				t.Errorf("%s %s uses an unknown parameter: %v", loc, k, err)
			}
			out := Lang(loc).Render(k, sampleParams)
			if out == k || strings.TrimSpace(out) == "" {
				t.Errorf("%s %s renders as %q", loc, k, out)
			}
			for _, bad := range []string{"<no value>", "{{", "}}", "  "} {
				if strings.Contains(out, bad) {
					t.Errorf("%s %s contains %q: %q", loc, k, bad, out)
				}
			}
		}
	}
}

// Every code of rma.AllCodes has, in every language, words that differ from the code and name
// the field when there is one.
func TestDescribeEveryCode(t *testing.T) {
	for _, code := range rma.AllCodes {
		for _, loc := range Locales {
			for _, field := range []string{"", "ean"} {
				p := rma.Problem{Code: code, Field: field, Params: map[string]string{"value": "ABC", "allowed": "a|b"}}
				got := Describe(loc, p)
				if got == "" || got == string(code) || strings.Contains(got, string(code)) {
					t.Errorf("Describe(%s, %s) = %q: want words, not the code", loc, code, got)
				}
				if strings.Contains(got, "problem.") || strings.Contains(got, "<no value>") {
					t.Errorf("Describe(%s, %s) = %q: catalog key or missing value leaked", loc, code, got)
				}
				if field != "" && !strings.HasPrefix(got, Lang(loc).Field(field)) {
					t.Errorf("Describe(%s, %s) = %q: should start with the field label %q", loc, code, got, Lang(loc).Field(field))
				}
			}
		}
	}
	// An unknown code still gives a sentence.
	if got := Describe("fr", rma.Problem{Code: "martian"}); !strings.Contains(got, "martian") || !strings.Contains(got, "service") {
		t.Errorf("unknown code: %q", got)
	}
}

func TestDescribeReasons(t *testing.T) {
	sci := rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5.90123E+12", "reason", "scientific_notation")
	tests := []struct {
		loc  string
		p    rma.Problem
		want []string
	}{
		{"en", sci, []string{"EAN: ", "5.90123E+12", "Excel", "scientific notation", "as Text"}},
		{"el", sci, []string{"Κωδικός EAN: ", "5.90123E+12", "Excel", "επιστημονική", "Κείμενο"}},
		{"ro", sci, []string{"Cod EAN: ", "5.90123E+12", "Excel", "științifică", "Text"}},
		{"fr", sci, []string{"Code EAN : ", "5.90123E+12", "Excel", "scientifique", "Texte"}},
		{"en", rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "810088000058", "reason", "length", "suggestion", "0810088000058"),
			[]string{"810088000058", "leading zero", "0810088000058"}},
		{"en", rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "", "reason", "missing"), []string{"EAN: missing"}},
		{"en", rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5204001000014", "reason", "check_digit"), []string{"check digit", "mistyped"}},
		{"el", rma.NewProblem(rma.CodeDateInvalid, "purchase_date", "value", "31.02.2026", "reason", "calendar"),
			[]string{"Ημερομηνία αγοράς: ", "31.02.2026", "ημερολόγιο"}},
		{"ro", rma.NewProblem(rma.CodeDateInFuture, "purchase_date", "value", "2027-05-01"), []string{"Data achiziției: ", "2027-05-01", "viitor"}},
		{"fr", rma.NewProblem(rma.CodeDescriptionMissing, "description", "min", "15"), []string{"Description du problème : ", "15 caractères"}},
		{"en", rma.NewProblem(rma.CodeClaimTypeNotAllowed, "claim_type", "value", "dji_care", "brand", "TP-Link", "brands", "DJI"),
			[]string{"dji_care", "TP-Link", "only for DJI"}},
		{"en", rma.NewProblem(rma.CodeClaimTypeInvalid, "claim_type", "value", "warranty", "allowed", "defective|order_error"),
			[]string{"warranty", "defective, order_error"}},
		{"el", rma.NewProblem(rma.CodeFaultTypeInvalid, "fault_type", "value", "water", "allowed", "no power|battery"),
			[]string{"water", "no power, battery"}},
		{"en", rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", "3", "reason", "not_bulk", "max", "1"),
			[]string{"Quantity: 3 pieces", "bulk", "quantity 1"}},
		{"ro", rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", "-2", "reason", "not_positive"), []string{"„-2”", "număr întreg"}},
		{"fr", rma.NewProblem(rma.CodeIBANInvalid, "iban", "value", "FR76 123", "reason", "length", "country", "FR", "expected_length", "27"),
			[]string{"IBAN : ", "FR76 123", "27 caractères"}},
		{"en", rma.NewProblem(rma.CodeIBANRequired, "iban", "claim_type", "fast_refund"), []string{"IBAN: required for a fast refund"}},
		{"en", rma.NewProblem(rma.CodeVendorTicketRequired, "vendor_ticket", "brand", "Grandstream", "helpdesk", "https://helpdesk.grandstream.com/"),
			[]string{"Vendor ticket: Grandstream", "https://helpdesk.grandstream.com/", "ticket number"}},
		{"en", rma.NewProblem(rma.CodeOutOfWarranty, "purchase_date", "until", "2025-12-01", "months", "24"), []string{"ended on 2025-12-01"}},
		{"fr", rma.NewProblem(rma.CodeProofMissing, ""), []string{"Preuve d'achat manquante", "PDF"}},
		// too_large and csv_invalid with the Params ingest and the webhook actually set.
		{"en", rma.NewProblem(rma.CodeTooLarge, "", "reason", "items", "limit", "10"), []string{"more items", "at most 10", "Split it"}},
		{"ro", rma.NewProblem(rma.CodeTooLarge, "", "reason", "items", "limit", "2", "count", "3"), []string{"cel mult 2"}},
		{"el", rma.NewProblem(rma.CodeTooLarge, "", "reason", "message_size", "limit", "26214400"), []string{"25 MB", "PDF"}},
		{"en", rma.NewProblem(rma.CodeTooLarge, "", "reason", "message_size", "limit", "1572864"), []string{"limit 1.5 MB"}},
		{"fr", rma.NewProblem(rma.CodeCSVInvalid, "", "reason", "spreadsheet_file", "file", "rma.xlsx"), []string{"rma.xlsx", "Excel", "CSV UTF-8"}},
		{"ro", rma.NewProblem(rma.CodeCSVInvalid, "", "reason", "empty", "file", "rma.csv"), []string{"rma.csv", "niciun rând"}},
		// rules makes <field>_required for every field a claim type requires (config).
		{"en", rma.NewProblem("tracking_required", "tracking", "claim_type", "delivery_error"),
			[]string{"Tracking number: required for the claim type “delivery_error”", "Fill it in"}},
		{"ro", rma.NewProblem("contents_required", "contents", "claim_type", "order_error"), []string{"obligatoriu", "„order_error”"}},
		{"en", rma.NewProblem(rma.CodeCSVInvalid, "", "reason", "syntax", "file", "rma.csv", "line", "4"), []string{"rma.csv (line 4)", "CSV UTF-8"}},
	}
	for _, tt := range tests {
		got := Describe(tt.loc, tt.p)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Describe(%s, %s/%s) = %q, want it to contain %q", tt.loc, tt.p.Code, tt.p.Params["reason"], got, w)
			}
		}
	}
}

func TestDescribeNotes(t *testing.T) {
	for _, k := range rma.AllNoteKeys {
		for _, loc := range Locales {
			got := DescribeNote(loc, rma.Note{Key: k, Params: sampleParams})
			if got == "" || strings.Contains(got, string(k)) || strings.Contains(got, "note.") {
				t.Errorf("DescribeNote(%s, %s) = %q", loc, k, got)
			}
		}
	}
	got := DescribeNote("en", rma.Note{Key: rma.NoteDateDiffersFromSale, Params: map[string]string{"given": "2026-01-02", "sales": "2026-01-05"}})
	if !strings.Contains(got, "2026-01-02") || !strings.Contains(got, "2026-01-05") {
		t.Errorf("date note lost its dates: %q", got)
	}
}

func TestStatusNames(t *testing.T) {
	for _, s := range rma.AllStatuses {
		seen := map[string]string{}
		for _, loc := range Locales {
			name := StatusName(loc, s)
			if name == "" || name == string(s) {
				t.Errorf("StatusName(%s, %s) = %q", loc, s, name)
			}
			seen[loc] = name
		}
		if seen["el"] == seen["en"] || seen["ro"] == seen["en"] {
			t.Errorf("status %s is not translated: %v", s, seen)
		}
	}
	if got := StatusName("el", rma.StatusAwaitingGoods); got != "Αναμονή παραλαβής" {
		t.Errorf("el awaiting_goods = %q", got)
	}
	if got := StatusName("xx", rma.StatusReceived); got != "Received" {
		t.Errorf("unknown locale falls back to en: %q", got)
	}
	if got := StatusName("en", "teleported"); got != "teleported" {
		t.Errorf("unknown status: %q", got)
	}
}

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"el": "el", "EL": "el", "el-GR": "el", "el_GR.UTF-8": "el", "gr": "el", "ro": "ro", "ro-RO": "ro",
		"fr": "fr", "fr_CA": "fr", "en": "en", "en-GB": "en", "": "en", "de": "en", " ro ": "ro",
	}
	for in, want := range tests {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// Romanian is written with the comma-below letters ș ț; the cedilla forms ş ţ are a legacy of
// old code pages and look wrong to Romanian readers.
func TestRomanianDiacritics(t *testing.T) {
	b, err := localeFiles.ReadFile("locales/ro.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(b), "şţŞŢ") {
		t.Error("ro.yaml uses cedilla ş/ţ; use comma-below ș/ț")
	}
	if !strings.ContainsAny(string(b), "ăâî") || !strings.ContainsAny(string(b), "șț") {
		t.Error("ro.yaml lacks Romanian diacritics")
	}
}

func TestLoadCatalogsReportsErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"locales/en.yaml": {Data: []byte("a: \"{{.x\"\n")},
		"locales/el.yaml": {Data: []byte("not: [yaml\n")},
	}
	_, err := loadCatalogs(fsys)
	if err == nil {
		t.Fatal("broken catalogs loaded without error")
	}
	for _, want := range []string{"en.yaml", "el.yaml", "ro.yaml", "fr.yaml"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// An estimate's answer is the first word of the reply's own text, in any locale's words, any
// case, accents and punctuation ignored; anything else is no answer.
func TestEstimateAnswer(t *testing.T) {
	for text, want := range map[string]rma.EstimateAnswer{
		"ACCEPT": rma.EstimateAccept, "accept, thanks": rma.EstimateAccept, "Αποδοχή.": rma.EstimateAccept,
		"ΑΠΟΔΟΧΗ": rma.EstimateAccept, "acceptă": "", "Accepte !": rma.EstimateAccept, "  \n accepté\n": rma.EstimateAccept,
		"DECLINE": rma.EstimateDecline, "ΑΡΝΗΣΗ": rma.EstimateDecline, "άρνηση": rma.EstimateDecline, "Refuz": rma.EstimateDecline,
		"REFUSE": rma.EstimateDecline, "refusé": rma.EstimateDecline,
		"": "", "thanks, ACCEPT": "", "I accept": "", "Accepted": "", "> ACCEPT": "", "declined": "",
	} {
		got, ok := EstimateAnswer(text)
		if got != want || ok != (want != "") {
			t.Errorf("EstimateAnswer(%q) = %q %v, want %q", text, got, ok, want)
		}
	}
}

// The console's catalogs load, and every console text exists in each of its languages.
func TestConsoleCatalogsComplete(t *testing.T) {
	if err := ConsoleErr(); err != nil {
		t.Fatal(err)
	}
	en := ConsoleKeys("en")
	if len(en) < 100 {
		t.Fatalf("en has %d console words", len(en))
	}
	for _, loc := range ConsoleLocales[1:] {
		keys := ConsoleKeys(loc)
		for _, k := range en {
			if !slices.Contains(keys, k) {
				t.Errorf("console %s lacks %q", loc, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(en, k) {
				t.Errorf("console %s has %q, which en has not (a typo?)", loc, k)
			}
		}
	}
	if got := ConsoleWord("el", "nav.worklist"); got == "" || got == ConsoleWord("en", "nav.worklist") || got == "nav.worklist" {
		t.Errorf("el nav.worklist = %q", got)
	}
	if got := ConsoleWord("fr", "nav.worklist"); got != ConsoleWord("en", "nav.worklist") {
		t.Errorf("an unknown console locale falls back to English: %q", got)
	}
	if got := ConsoleWord("en", "no.such.key"); got != "no.such.key" {
		t.Errorf("a missing key: %q", got)
	}
}
