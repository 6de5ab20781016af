package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rmad/rmad/internal/csvdelim"
	"github.com/rmad/rmad/rma"
)

// positionalColumns is the column order of a CSV without a header row (docs/contract.md §1.2).
var positionalColumns = []string{"own_number", "ean", "serial", "purchase_date", "description", "expectation"}

// ErrTooManyRows is returned (wrapped) by ReadCSV when a file has more item rows than allowed.
var ErrTooManyRows = errors.New("more item rows than allowed")

// errRowLimit is ErrTooManyRows for limits.max_csv_rows (rows of one file, not items in all).
var errRowLimit = fmt.Errorf("%w: limits.max_csv_rows", ErrTooManyRows)

// CSV problem reasons (CSVError.Reason; Params["reason"] of a csv_invalid problem).
const (
	CSVReasonEmpty       = "empty"            // no item rows at all
	CSVReasonSpreadsheet = "spreadsheet_file" // an Excel/ODS workbook named .csv
	CSVReasonBinary      = "not_text"         // not text in any encoding we know
	CSVReasonSyntax      = "syntax"           // the CSV reader gave up
	CSVReasonDamaged     = "damaged"          // the attachment's transfer encoding is broken
)

// CSVError says why a CSV attachment could not be read at all.
type CSVError struct {
	Reason string // one of the CSVReason constants
	Line   int    // 1-based line of a syntax error, else 0
	Err    error  // the underlying error, if any
}

func (e *CSVError) Error() string {
	msg := "csv " + e.Reason
	if e.Line > 0 {
		msg += fmt.Sprintf(" at line %d", e.Line)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CSVError) Unwrap() error { return e.Err }

// ReadCSV reads the items of a CSV attachment (docs/contract.md §1.2): encoding and delimiter are detected,
// a header row (column names in any of the four languages, any order) is used when present,
// else the positional columns own_number, ean, serial, purchase_date, description,
// expectation. Empty rows and columns are skipped. Values are kept as sent, trimmed; Line is the
// 1-based position among the returned items.
//
// With maxRows > 0, reading stops after maxRows items and the error wraps ErrTooManyRows when
// there are more. A file that cannot be read at all gives a *CSVError.
func ReadCSV(data []byte, maxRows int) (items []rma.Item, delim rune, err error) {
	t, err := readCSVTable(data, maxRows, 0)
	return t.items, t.delim, err
}

// csvTable is what readCSVTable learned about a file.
type csvTable struct {
	items    []rma.Item
	delim    rune
	encoding string
	header   bool // a header row named the columns
}

// readCSVTable reads at most maxRows items and maxRecords non-empty records (0: no limit).
func readCSVTable(data []byte, maxRows, maxRecords int) (csvTable, error) {
	var t csvTable
	if reason := binaryKind(data); reason != "" {
		return t, &CSVError{Reason: reason}
	}
	text, enc := decodeBytes(data)
	t.encoding = enc
	if bytes.IndexByte(text, 0) >= 0 {
		return t, &CSVError{Reason: CSVReasonBinary}
	}
	if d, rest, ok := excelSepLine(text); ok {
		t.delim, text = d, rest
	} else {
		t.delim = csvdelim.Detect(string(text[:min(len(text), delimSniffBytes)]), func(cell string) bool {
			_, ok := fieldForLabel(cell)
			return ok
		})
	}

	// Most files have no odd spaces at all: then cells are only trimmed (the hot path).
	odd := hasOddSpaces(text)
	r := csv.NewReader(bytes.NewReader(text))
	r.Comma = t.delim
	r.LazyQuotes = true    // spreadsheets and hand edits leave stray quotes
	r.FieldsPerRecord = -1 // trailing empty columns come and go
	r.ReuseRecord = true

	if maxRows > 0 {
		t.items = make([]rma.Item, 0, min(maxRows, estimateRows(data)))
	} else {
		t.items = make([]rma.Item, 0, estimateRows(data))
	}
	st := tableState{columns: positionalColumns}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return t, &CSVError{Reason: CSVReasonSyntax, Line: line, Err: err}
		}
		if blankRecord(rec, odd) {
			continue
		}
		if _, err := t.addRecord(rec, &st, maxRows, maxRecords, odd); err != nil {
			return t, err
		}
	}
	if len(t.items) == 0 {
		return t, &CSVError{Reason: CSVReasonEmpty}
	}
	return t, nil
}

// tableState is what addRecord carries from one record of a table to the next.
type tableState struct {
	records int      // non-empty records read
	columns []string // field of each column; "" ignores the column
}

// addRecord reads one non-empty record of a CSV or XLSX table: a header row (up to
// headerSearchRows rows down, below titles) names the columns, any other row is an item. It
// returns the item added (nil for a header) or an error wrapping ErrTooManyRows when the
// file has more than maxRecords records (errRowLimit) or maxItems items (0: no limit).
func (t *csvTable) addRecord(rec []string, st *tableState, maxItems, maxRecords int, odd bool) (*rma.Item, error) {
	if st.records++; maxRecords > 0 && st.records > maxRecords {
		return nil, fmt.Errorf("more than %d rows: %w", maxRecords, errRowLimit)
	}
	if !t.header && len(t.items) < headerSearchRows {
		// The header may sit below a title row or two: rows read before it were titles.
		if h := headerColumns(rec); h != nil {
			st.columns, t.header, t.items = h, true, t.items[:0]
			return nil, nil
		}
	}
	if maxItems > 0 && len(t.items) >= maxItems {
		return nil, fmt.Errorf("more than %d item rows: %w", maxItems, ErrTooManyRows)
	}
	t.items = append(t.items, rma.Item{Line: len(t.items) + 1})
	it := &t.items[len(t.items)-1]
	fillItem(it, rec, st.columns, odd)
	return it, nil
}

// delimSniffBytes is how much of a file delimiter detection reads.
const delimSniffBytes = 64 << 10

// excelSepLine reads the "sep=;" line Excel writes (and honours) above a CSV.
func excelSepLine(text []byte) (rune, []byte, bool) {
	if !bytes.HasPrefix(text, []byte("sep=")) || len(text) < 5 {
		return 0, text, false
	}
	d := rune(text[4])
	rest := text[5:]
	rest = bytes.TrimPrefix(rest, []byte("\r"))
	if !strings.ContainsRune("\t;,|", d) || !(len(rest) == 0 || rest[0] == '\n') {
		return 0, text, false
	}
	return d, bytes.TrimPrefix(rest, []byte("\n")), true
}

// headerSearchRows is how many leading rows may be a title above the header.
const headerSearchRows = 3

// fillItem sets the fields of one record; odd says the file has non-breaking or invisible
// spaces to normalise.
func fillItem(it *rma.Item, rec []string, columns []string, odd bool) {
	for i, v := range rec {
		if i >= len(columns) {
			break
		}
		if columns[i] == "" {
			continue
		}
		v = cleanCell(v, odd)
		if v == "" {
			continue
		}
		if columns[i] == "ean" {
			// Excel's text marker: '5204001000013 keeps the leading zero and the digits.
			v = strings.TrimPrefix(v, "'")
		}
		if it.Get(columns[i]) == "" {
			it.Set(columns[i], v)
		}
	}
}

// cleanCell trims a cell and unwraps Excel's ="..." text formula (used to keep digits as text).
func cleanCell(v string, odd bool) string {
	if odd {
		v = cleanValue(v)
	} else {
		v = strings.TrimSpace(v)
	}
	if len(v) >= 3 && v[0] == '=' && v[1] == '"' && v[len(v)-1] == '"' {
		v = strings.TrimSpace(v[2 : len(v)-1])
	}
	return v
}

// headerColumns maps a header record to fields, or returns nil when the record is not a header:
// a header names at least two fields, or names a field in every non-empty cell.
func headerColumns(rec []string) []string {
	cols := make([]string, len(rec))
	known, nonEmpty := 0, 0
	used := make(map[string]bool, len(rec))
	for i, cell := range rec {
		cell = cleanValue(cell)
		if cell == "" {
			continue
		}
		nonEmpty++
		f, ok := fieldForLabel(cell)
		if !ok {
			continue
		}
		known++
		if !used[f] { // the first column of a field wins
			cols[i], used[f] = f, true
		}
	}
	if known >= 2 || (known == 1 && known == nonEmpty) {
		return cols
	}
	return nil
}

func blankRecord(rec []string, odd bool) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" && (!odd || cleanValue(v) != "") {
			return false
		}
	}
	return true
}

// hasOddSpaces reports whether text may hold a character cleanValue replaces (see
// needsSpaceReplace), with one fast scan per lead byte.
func hasOddSpaces(text []byte) bool {
	for _, b := range []byte{0xc2, 0xe2, 0xe3, 0xef} {
		if bytes.IndexByte(text, b) >= 0 {
			return true
		}
	}
	return false
}

// estimateRows sizes the item slice once instead of growing it.
func estimateRows(data []byte) int {
	return min(bytes.Count(data, []byte{'\n'})+1, 1<<16)
}

// binaryKind recognises files that are not CSV text: spreadsheet workbooks named .csv, and
// binary data (zero bytes where no UTF-16 text would have them).
func binaryKind(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), // xlsx, ods
		bytes.HasPrefix(data, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}): // xls
		return CSVReasonSpreadsheet
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return CSVReasonBinary
	}
	return ""
}
