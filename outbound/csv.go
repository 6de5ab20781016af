package outbound

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// ResultsHeader is the header row of rma-results.csv (docs/contract.md §3); partners' tools rely on it.
var ResultsHeader = []string{"line", "own_number", "ean", "serial", "result", "rma_number", "handling", "warranty", "codes", "message"}

// ClaimsHeader is the header row of the CSV a forwarded claim carries to the manufacturer.
var ClaimsHeader = []string{"rma_number", "brand", "model", "ean", "serial", "purchase_date", "warranty_until", "claim_type", "fault_type", "quantity", "description"}

// ResultRow is one item's row of rma-results.csv before it becomes CSV: the webhook API and
// explain report these same values. Message is not neutralised (only the CSV needs that).
type ResultRow struct {
	Line      int        `json:"line"`
	OwnNumber string     `json:"own_number"`
	EAN       string     `json:"ean"`
	Serial    string     `json:"serial"`
	Result    rma.Result `json:"result"`
	RMANumber string     `json:"rma_number"`
	Handling  string     `json:"handling"` // empty when rejected
	Warranty  string     `json:"warranty"`
	Codes     []string   `json:"codes"`
	Message   string     `json:"message"` // problems and notes in the partner's language, one line
}

// ResultRows are the rows of rma-results.csv, one per decision, in the partner's language.
func ResultRows(ds []rma.Decision, locale string) []ResultRow {
	l := i18n.For(locale)
	rows := make([]ResultRow, 0, len(ds))
	for i, d := range ds {
		handling := string(d.Route.Handling)
		if d.Result == rma.ResultRejected {
			handling = "" // docs/contract.md §3: empty when rejected, whatever rules left in Route
		}
		warranty := string(d.Warranty.Status)
		if warranty == "" {
			warranty = string(rma.WarrantyUnknown)
		}
		codes := make([]string, 0, len(d.Problems))
		for _, c := range d.Codes() {
			codes = append(codes, string(c))
		}
		rows = append(rows, ResultRow{
			Line: lineOf(d, i), OwnNumber: d.Item.OwnNumber, EAN: d.Item.EAN, Serial: d.Item.Serial,
			Result: d.Result, RMANumber: d.Number, Handling: handling, Warranty: warranty,
			Codes: codes, Message: oneLine(itemMessage(l, d)),
		})
	}
	return rows
}

// ResultsCSV is rma-results.csv: UTF-8, a header row, one row per decision, delimited by delim
// (the partner's own CSV delimiter; ',' when 0 or unusable). message is the item's problems
// and notes in the partner's language, on one line.
func ResultsCSV(ds []rma.Decision, locale string, delim rune) []byte {
	rows := make([][]string, 0, len(ds))
	for _, r := range ResultRows(ds, locale) {
		rows = append(rows, []string{strconv.Itoa(r.Line), r.OwnNumber, r.EAN, r.Serial, string(r.Result),
			r.RMANumber, r.Handling, r.Warranty, strings.Join(r.Codes, "|"), r.Message})
	}
	return writeCSV(ResultsHeader, rows, delim)
}

// itemMessage is what the message column says about one item: why it was rejected, where it
// went, and any warning.
func itemMessage(l i18n.Lang, d rma.Decision) string {
	var parts []string
	switch d.Result {
	case rma.ResultDuplicate:
		parts = append(parts, l.T("csv.duplicate", "number", d.Number))
	case rma.ResultRedirected:
		parts = append(parts, l.T("csv.redirected", "brand", brandOf(d), "portal", d.Route.Portal))
	}
	for _, p := range d.Problems {
		parts = append(parts, l.Describe(enrich(p, d)))
	}
	for _, n := range d.Notes {
		parts = append(parts, l.DescribeNote(n))
	}
	// Each part is a sentence; notes are worded to follow "Note: " in the body, so capitalise
	// them here, and end parts without a stop, so the column reads as one line of prose.
	for i, s := range parts {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if r, size := utf8.DecodeRuneInString(s); unicode.IsLower(r) {
			s = string(unicode.ToUpper(r)) + s[size:]
		}
		if !strings.ContainsRune(".!?;", rune(s[len(s)-1])) {
			s += "."
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

// writeCSV writes a header and rows, neutralising every cell against formula injection.
func writeCSV(header []string, rows [][]string, delim rune) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = csvDelimiter(delim)
	_ = w.Write(header) // a bytes.Buffer does not fail; errors surface in w.Error below
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = Neutralize(c)
		}
		_ = w.Write(cells)
	}
	w.Flush()
	if w.Error() != nil {
		// Only an invalid delimiter can fail; csvDelimiter already refused those.
		return nil
	}
	return b.Bytes()
}

// csvDelimiter keeps the partner's delimiter when encoding/csv can write it.
func csvDelimiter(r rune) rune {
	switch {
	case r == 0, r == '"', r == '\r', r == '\n', r == utf8.RuneError, !utf8.ValidRune(r):
		return ','
	}
	return r
}

// Neutralize defuses a spreadsheet formula: a cell beginning with = + - @ (or a tab or carriage
// return, which some spreadsheets skip before evaluating) gets a leading apostrophe, so it is
// shown as text instead of being run (OWASP "CSV injection").
func Neutralize(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func lineOf(d rma.Decision, i int) int {
	switch {
	case d.Line > 0:
		return d.Line
	case d.Item.Line > 0:
		return d.Item.Line
	}
	return i + 1
}

func brandOf(d rma.Decision) string {
	if d.Product != nil {
		return d.Product.Brand
	}
	return ""
}

// enrich fills parameters a problem's message needs from its decision, for rules that left them
// out: the brand, and the helpdesk of a vendor_ticket brand.
func enrich(p rma.Problem, d rma.Decision) rma.Problem {
	var add []string
	if p.Params["brand"] == "" && brandOf(d) != "" {
		add = append(add, "brand", brandOf(d))
	}
	if p.Code == rma.CodeVendorTicketRequired && p.Params["helpdesk"] == "" && d.Route.Helpdesk != "" {
		add = append(add, "helpdesk", d.Route.Helpdesk)
	}
	if len(add) > 0 {
		p.Params = i18n.Params(p.Params, add...)
	}
	return p
}
