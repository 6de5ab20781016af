package rules

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rmad/rmad/internal/csvdelim"
)

// csvTable reads a data file with a header row (catalog, sales). The delimiter is the one that
// splits the header into rmad's column names (csvdelim, as for partners' attachments), because
// ERP exports in Greece and Romania often use ';'.
type csvTable struct {
	name string
	r    *csv.Reader
	col  map[string]int // header name → column index
	errs *errList
	// badUTF8 is set once a cell was not UTF-8, to report the file's encoding only once.
	badUTF8 bool
}

// sniffBytes is how much of a file delimiter detection reads: the header and the first rows.
const sniffBytes = 16 << 10

// openCSV reads the header and checks that every required column is there. Extra columns are
// ignored: exports from ERPs carry more than rmad needs.
func openCSV(r io.Reader, name string, required []string, optional ...string) (*csvTable, error) {
	errs := &errList{file: name}
	br := bufio.NewReaderSize(r, sniffBytes)
	head, _ := br.Peek(sniffBytes) // fewer at the end of a short file
	columns := append(slices.Clone(required), optional...)
	cr := csv.NewReader(skipBOM(br))
	cr.Comma = csvdelim.Detect(string(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))), func(cell string) bool {
		return slices.Contains(columns, strings.ToLower(cell))
	})
	cr.FieldsPerRecord = -1 // short rows get a positioned error from us, not a bare one
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(1, 1, "empty file: want a header row %s", strings.Join(required, ","))
			return nil, errs.err()
		}
		addCSVError(errs, err)
		return nil, errs.err()
	}
	t := &csvTable{name: name, r: cr, col: map[string]int{}, errs: errs}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if _, dup := t.col[h]; dup {
			line, col := cr.FieldPos(i)
			errs.add(line, col, "column %q appears twice in the header", h)
			continue
		}
		t.col[h] = i
	}
	for _, c := range required {
		if _, ok := t.col[c]; !ok {
			errs.add(1, 1, "header lacks column %q (want %s)", c, strings.Join(columns, ","))
		}
	}
	if len(errs.errs) > 0 {
		return nil, errs.err()
	}
	return t, nil
}

// openAndParse runs a parser on a file, naming the file by its path in errors.
func openAndParse[T any](path string, parse func(io.Reader, string) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return parse(f, path)
}

// row is one data row of a csvTable.
type row struct {
	t   *csvTable
	rec []string
}

// next returns the next non-blank row, or false at the end. A malformed row (bad quoting) is
// reported and skipped; reading goes on so that all problems are found in one pass.
func (t *csvTable) next() (row, bool) {
	for {
		rec, err := t.r.Read()
		if errors.Is(err, io.EOF) {
			return row{}, false
		}
		if err != nil {
			addCSVError(t.errs, err)
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				continue // bad quoting on one row: report it and read on
			}
			return row{}, false // an I/O error does not go away by reading again
		}
		for i, f := range rec {
			if !utf8.ValidString(f) && !t.badUTF8 {
				// One report is enough: the whole file has the wrong encoding.
				t.badUTF8 = true
				line, col := t.r.FieldPos(i)
				t.errs.add(line, col, "text is not UTF-8: save the file as CSV UTF-8")
			}
		}
		if blank(rec) {
			continue // spreadsheets leave empty rows at the end
		}
		return row{t: t, rec: rec}, true
	}
}

// get returns a column's trimmed value ("" when the row is short or the column absent).
func (r row) get(col string) string {
	i, ok := r.t.col[col]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

// pos is the position of a column's cell, for error messages (the row's start when the cell is
// missing).
func (r row) pos(col string) (line, column int) {
	i, ok := r.t.col[col]
	if !ok || i >= len(r.rec) {
		line, _ = r.t.r.FieldPos(0)
		return line, len(r.rec) + 1
	}
	return r.t.r.FieldPos(i)
}

// fail reports a problem at a column's cell.
func (r row) fail(col, format string, args ...any) {
	line, c := r.pos(col)
	r.t.errs.add(line, c, format, args...)
}

// line is the row's line number.
func (r row) line() int {
	l, _ := r.t.r.FieldPos(0)
	return l
}

func addCSVError(errs *errList, err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		errs.add(pe.Line, pe.Column, "%v", pe.Err)
		return
	}
	errs.add(0, 0, "%v", err)
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// skipBOM drops a UTF-8 byte order mark (Excel writes one) at the start.
func skipBOM(br *bufio.Reader) io.Reader {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}
	return br
}
