package outbound

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

func readCSV(t *testing.T, b []byte, delim rune) [][]string {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatal("CSV is not UTF-8")
	}
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		t.Fatal("CSV starts with a BOM: the header must be exactly the contract's (docs/contract.md §3)")
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = delim
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v\n%s", err, b)
	}
	return rows
}

func TestResultsCSV(t *testing.T) {
	dup := inHouse(3, "RMA/1/SR/2026", archer, rma.Item{OwnNumber: "ALFA-7781"})
	dup.Result = rma.ResultDuplicate
	rej := rejected(2, nil, rma.Item{EAN: "5.90123E+12", OwnNumber: "=HYPERLINK(\"http://x\")"},
		rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5.90123E+12", "reason", "scientific_notation"),
		rma.NewProblem(rma.CodeDescriptionMissing, "description", "min", "15"))
	rej.Route = rma.Route{Helpdesk: "https://h/"} // rules leave Route empty; even if not, handling must be
	rej.Route.Handling = rma.HandlingInHouse
	direct := rma.Decision{Line: 4, Item: rma.Item{Line: 4, EAN: uap.EAN, Serial: "+SN", Description: "a\nb"}, Result: rma.ResultRedirected,
		Route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}, Product: uap}
	noted := inHouse(1, "RMA/2/SR/2026", qnap, rma.Item{Serial: "-7", OwnNumber: "@cmd"})
	noted.Notes = []rma.Note{{Key: rma.NoteSerialNotInSales, Params: map[string]string{"serial": "-7"}}}
	ds := []rma.Decision{noted, rej, dup, direct}

	for _, delim := range []rune{',', ';', '\t'} {
		rows := readCSV(t, ResultsCSV(ds, "en", delim), delim)
		if got := strings.Join(rows[0], ","); got != "line,own_number,ean,serial,result,rma_number,handling,warranty,codes,message" {
			t.Fatalf("delim %q: header %q", delim, got)
		}
		if len(rows) != len(ds)+1 {
			t.Fatalf("delim %q: %d rows, want %d", delim, len(rows)-1, len(ds))
		}
		want := [][]string{
			{"1", "'@cmd", "4712633000024", "'-7", "accepted", "RMA/2/SR/2026", "in_house", "in_warranty", ""},
			{"2", "'=HYPERLINK(\"http://x\")", "5.90123E+12", "", "rejected", "", "", "unknown", "ean_invalid|description_missing"},
			{"3", "ALFA-7781", "5204001000013", "", "duplicate", "RMA/1/SR/2026", "in_house", "in_warranty", ""},
			{"4", "", "0810088000058", "'+SN", "redirected", "", "vendor_direct", "unknown", ""},
		}
		for i, w := range want {
			got := rows[i+1][:9]
			if strings.Join(got, "\x00") != strings.Join(w, "\x00") {
				t.Errorf("delim %q row %d:\n got %q\nwant %q", delim, i+1, got, w)
			}
			if msg := rows[i+1][9]; strings.ContainsAny(msg, "\r\n") {
				t.Errorf("row %d message spans lines: %q", i+1, msg)
			}
		}
		mustContain(t, "row 1 message", rows[1][9], "no sale of serial number -7")
		mustContain(t, "row 2 message", rows[2][9], "Excel", "Description: missing or too short")
		mustContain(t, "row 3 message", rows[3][9], "Already registered under RMA/1/SR/2026")
		mustContain(t, "row 4 message", rows[4][9], "Ubiquiti", "https://rma.ui.com/")
	}

	// The message is in the partner's language.
	rows := readCSV(t, ResultsCSV(ds, "el", ';'), ';')
	mustContain(t, "el message", rows[2][9], "Κωδικός EAN", "Excel")
}

func TestResultsCSVDelimiterFallback(t *testing.T) {
	ds := []rma.Decision{inHouse(1, "RMA/1/SR/2026", archer, rma.Item{})}
	for _, d := range []rune{0, '"', '\n', '\r', utf8.RuneError} {
		b := ResultsCSV(ds, "en", d)
		if !bytes.HasPrefix(b, []byte("line,own_number,")) {
			t.Errorf("delimiter %q: want a comma fallback, got %q", d, b)
		}
	}
	if b := ResultsCSV(nil, "en", ';'); string(b) != "line;own_number;ean;serial;result;rma_number;handling;warranty;codes;message\n" {
		t.Errorf("no decisions: %q, want the header alone", b)
	}
	// Line numbers fall back to the item's, then the position.
	ds = []rma.Decision{{Result: rma.ResultRejected}, {Item: rma.Item{Line: 7}, Result: rma.ResultRejected}}
	rows := readCSV(t, ResultsCSV(ds, "en", ','), ',')
	if rows[1][0] != "1" || rows[2][0] != "7" {
		t.Errorf("line numbers %q %q, want 1 and 7", rows[1][0], rows[2][0])
	}
}

func TestNeutralize(t *testing.T) {
	tests := map[string]string{
		"=1+2":          "'=1+2",
		"+30 210 000":   "'+30 210 000",
		"-5":            "'-5",
		"@SUM(A1)":      "'@SUM(A1)",
		"\t=cmd":        "'\t=cmd",
		"\r=cmd":        "'\r=cmd",
		"RMA/1/SR/2026": "RMA/1/SR/2026",
		"5204001000013": "5204001000013",
		"a=b":           "a=b",
		"":              "",
		"'already":      "'already",
	}
	for in, want := range tests {
		if got := Neutralize(in); got != want {
			t.Errorf("Neutralize(%q) = %q, want %q", in, got, want)
		}
	}
}

// ResultRows carry the CSV's values, unneutralised, for the webhook API and explain.
func TestResultRows(t *testing.T) {
	d := rejected(2, nil, rma.Item{EAN: "-5", OwnNumber: "=X"}, rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "-5", "reason", "not_digits"))
	d.Route.Handling = rma.HandlingInHouse
	rows := ResultRows([]rma.Decision{d}, "fr")
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r.Line != 2 || r.OwnNumber != "=X" || r.EAN != "-5" || r.Result != rma.ResultRejected || r.Handling != "" ||
		r.Warranty != "unknown" || strings.Join(r.Codes, "|") != "ean_invalid" || !strings.HasPrefix(r.Message, "Code EAN : « -5 »") {
		t.Errorf("row = %+v", r)
	}
	csvRow := readCSV(t, ResultsCSV([]rma.Decision{d}, "fr", ','), ',')[1]
	if csvRow[1] != "'=X" || csvRow[2] != "'-5" || csvRow[9] != r.Message {
		t.Errorf("CSV %q and row %+v disagree", csvRow, r)
	}
}

// The message column is prose: each problem and note starts a capitalised sentence in every
// language, even though notes are worded to follow "Note: " in the mail body.
func TestResultRowsMessageSentences(t *testing.T) {
	d := rma.Decision{Line: 1, Result: rma.ResultRejected, Item: rma.Item{EAN: "5204001000016", Serial: "RT-1"},
		Problems: []rma.Problem{rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5204001000016", "reason", "check_digit")},
		Notes:    []rma.Note{{Key: rma.NoteSerialNotInSales, Params: map[string]string{"serial": "RT-1"}}}}
	for _, loc := range i18n.Locales {
		msg := ResultRows([]rma.Decision{d}, loc)[0].Message
		note := i18n.DescribeNote(loc, d.Notes[0])
		r, size := utf8.DecodeRuneInString(note)
		want := string(unicode.ToUpper(r)) + note[size:]
		if !strings.Contains(msg, want) || strings.Contains(msg, " "+note) {
			t.Errorf("%s: message %q should contain the note as a sentence %q", loc, msg, want)
		}
	}
}
