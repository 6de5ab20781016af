// Package xlsxread reads the cell values of an Excel workbook (.xlsx) row by row, fast: the
// sheets in workbook order, whether dates count from 1904, and each row's values as excelize
// gives them with RawCellValue (shared and inline strings as text, numbers, dates and booleans as
// stored). excelize's streaming reader decodes every cell with encoding/xml and reads about
// 30,000 rows a second; this scanner reads the same worksheets several times faster (see the
// README's benchmarks). It reads from an archive/zip reader whose sizes the caller has checked:
// each part is read through the zip reader (which refuses entries longer than their header
// says), texts are capped at 256 KiB, columns at Excel's 16,384.
package xlsxread

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// Workbook is an opened workbook.
type Workbook struct {
	Sheets   []Sheet // in workbook order
	Date1904 bool    // serial dates count days from 1904 (old Mac Excel)

	files   map[string]*zip.File // by lower-case name
	strings string               // path of the shared-string table, "" for none
	shared  []string             // the shared strings, once read
	read    bool
}

// Sheet is one worksheet of a workbook.
type Sheet struct {
	Name   string
	Hidden bool // state hidden or veryHidden
	path   string
}

// ErrNoWorkbook is returned by Open for a zip without an Excel workbook part.
var ErrNoWorkbook = errors.New("xlsx: no workbook part")

// Open reads the workbook's structure: the relationships, workbook.xml and its sheets.
func Open(zr *zip.Reader) (*Workbook, error) {
	w := &Workbook{files: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		w.files[strings.ToLower(strings.ReplaceAll(f.Name, "\\", "/"))] = f
	}
	wbPath := "xl/workbook.xml"
	var rels relationships
	if err := w.decode("_rels/.rels", &rels); err == nil {
		for _, r := range rels.Rel {
			if strings.HasSuffix(r.Type, "/officeDocument") {
				wbPath = resolve("", r.Target)
			}
		}
	}
	var wb struct {
		Pr struct {
			Date1904 string `xml:"date1904,attr"`
		} `xml:"workbookPr"`
		Sheets []struct {
			Name  string `xml:"name,attr"`
			State string `xml:"state,attr"`
			ID    string `xml:"id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := w.decode(wbPath, &wb); err != nil {
		if _, ok := w.files[strings.ToLower(wbPath)]; !ok {
			return nil, ErrNoWorkbook
		}
		return nil, err
	}
	w.Date1904 = wb.Pr.Date1904 == "1" || wb.Pr.Date1904 == "true"
	dir := path.Dir(wbPath)
	rels = relationships{}
	if err := w.decode(path.Join(dir, "_rels", path.Base(wbPath)+".rels"), &rels); err != nil {
		return nil, err
	}
	targets := map[string]string{}
	for _, r := range rels.Rel {
		targets[r.ID] = resolve(dir, r.Target)
		if strings.HasSuffix(r.Type, "/sharedStrings") {
			w.strings = resolve(dir, r.Target)
		}
	}
	for _, s := range wb.Sheets {
		p, ok := targets[s.ID]
		if !ok {
			continue // a chart sheet or a dangling reference: nothing to read
		}
		w.Sheets = append(w.Sheets, Sheet{Name: s.Name, Hidden: s.State == "hidden" || s.State == "veryHidden", path: p})
	}
	return w, nil
}

type relationships struct {
	Rel []struct {
		ID     string `xml:"Id,attr"`
		Target string `xml:"Target,attr"`
		Type   string `xml:"Type,attr"`
	} `xml:"Relationship"`
}

// resolve is the part a relationship target names, relative to dir or absolute.
func resolve(dir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return path.Join(dir, target)
}

// decode reads a small part with encoding/xml (its structure, not its rows).
func (w *Workbook) decode(name string, v any) error {
	rc, err := w.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("xlsx: %s: %w", name, err)
	}
	return nil
}

func (w *Workbook) open(name string) (io.ReadCloser, error) {
	f, ok := w.files[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("xlsx: no part %s", name)
	}
	return f.Open()
}

// sharedStrings reads the shared-string table once: each <si>'s text, its runs joined, its
// phonetic runs left out.
func (w *Workbook) sharedStrings() error {
	if _, ok := w.files[strings.ToLower(w.strings)]; w.read || !ok {
		w.read = true // no table (or a relationship to a missing part): no shared strings
		return nil
	}
	rc, err := w.open(w.strings)
	if err != nil {
		return err
	}
	defer rc.Close()
	s := newScanner(rc)
	var cur []byte
	inSI, inT, phonetic := false, false, 0
	for {
		s.keep = inT
		err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("xlsx: shared strings: %w", err)
		}
		if inT {
			cur = append(cur, s.text...)
			if len(cur) > maxText {
				return fmt.Errorf("xlsx: shared strings: %w", errTooLong)
			}
		}
		inT = false
		switch string(s.name) {
		case "si":
			switch s.kind {
			case startTag:
				inSI, cur, phonetic = true, cur[:0], 0
			case endTag:
				w.shared = append(w.shared, unescape(string(cur)))
				inSI = false
			case emptyTag:
				w.shared = append(w.shared, "")
			}
		case "rPh":
			switch s.kind {
			case startTag:
				phonetic++
			case endTag:
				phonetic--
			}
		case "t":
			inT = s.kind == startTag && inSI && phonetic == 0
		}
	}
	w.read = true
	return nil
}

// Rows reads the rows of sheet s from the start.
func (w *Workbook) Rows(s Sheet) (*Rows, error) {
	if err := w.sharedStrings(); err != nil {
		return nil, err
	}
	rc, err := w.open(s.path)
	if err != nil {
		return nil, err
	}
	return &Rows{rc: rc, s: newScanner(rc), shared: w.shared}, nil
}

// Rows reads one sheet's rows.
type Rows struct {
	rc     io.ReadCloser
	s      *scanner
	shared []string
	row    []string
	done   bool
	cell   cell // the cell being read, its buffers reused
}

type cell struct {
	col     int
	typ     string
	v, is   []byte // the text of <v>, of <is>
	hasIS   bool
	phon    int // depth in phonetic runs, whose text is not the value
	inV     bool
	inIS    bool
	inT     bool
	hasCell bool
}

// maxColumns is Excel's last column, XFD.
const maxColumns = 16384

// Next returns the next row's values, positioned by their column ("" between them), without
// trailing empty cells; io.EOF after the last row. Rows without cells come back empty (rows
// the sheet leaves out do not come back at all). The slice is reused by the next call.
func (r *Rows) Next() ([]string, error) {
	if r.done {
		return nil, io.EOF
	}
	s := r.s
	r.row = r.row[:0]
	inRow, lastCol := false, 0
	cell := &r.cell
	for {
		s.keep = cell.inV || cell.inT
		err := s.next()
		if err == io.EOF {
			r.done = true
			if inRow {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("xlsx: sheet: %w", err)
		}
		if cell.inV {
			cell.v = append(cell.v, s.text...)
		}
		if cell.inT {
			cell.is = append(cell.is, s.text...)
		}
		if len(cell.v) > maxText || len(cell.is) > maxText {
			return nil, fmt.Errorf("xlsx: sheet: %w", errTooLong)
		}
		cell.inV, cell.inT = false, false
		switch string(s.name) {
		case "sheetData":
			if s.kind != startTag {
				r.done = true
				if inRow {
					return nil, errors.New("xlsx: sheet: row not closed")
				}
				return nil, io.EOF
			}
		case "row":
			switch s.kind {
			case startTag:
				if inRow {
					return nil, errors.New("xlsx: sheet: row inside a row")
				}
				inRow = true
			case emptyTag:
				if !inRow {
					return r.row, nil
				}
			case endTag:
				if inRow {
					return r.row, nil
				}
			}
		case "c":
			if !inRow {
				continue
			}
			if s.kind == endTag {
				if !cell.hasCell {
					continue
				}
				if err := r.addCell(cell.col, cell.typ, cell.v, cell.is, cell.hasIS); err != nil {
					return nil, err
				}
				cell.hasCell = false
				continue
			}
			col, typ := lastCol+1, ""
			var ref []byte
			if err := s.attrs(func(name, value []byte) {
				switch string(name) {
				case "r":
					ref = value
				case "t":
					typ = cellType(value)
				}
			}); err != nil {
				return nil, err
			}
			if len(ref) > 0 {
				var err error
				if col, err = column(ref); err != nil {
					return nil, err
				}
			}
			lastCol = col
			cell.col, cell.typ, cell.v, cell.is, cell.hasIS, cell.phon = col, typ, cell.v[:0], cell.is[:0], false, 0
			cell.hasCell = s.kind == startTag
			if !cell.hasCell {
				// <c/> holds no value: it only moves the column on.
				if err := r.addCell(col, typ, nil, nil, false); err != nil {
					return nil, err
				}
			}
		case "v":
			cell.inV = cell.hasCell && s.kind == startTag && !cell.inIS
		case "is":
			switch s.kind {
			case startTag:
				cell.inIS, cell.hasIS = cell.hasCell, cell.hasCell
			case endTag:
				cell.inIS = false
			case emptyTag:
				cell.hasIS = cell.hasCell
			}
		case "rPh":
			switch s.kind {
			case startTag:
				cell.phon++
			case endTag:
				cell.phon--
			}
		case "t":
			cell.inT = cell.inIS && s.kind == startTag && cell.phon == 0
		}
	}
}

// addCell puts a cell's value at its column, as excelize's raw values read.
func (r *Rows) addCell(col int, typ string, v, is []byte, hasIS bool) error {
	if col > maxColumns {
		return fmt.Errorf("xlsx: sheet: column %d beyond Excel's last (%d)", col, maxColumns)
	}
	var val string
	switch typ {
	case "s":
		if len(v) == 0 {
			return nil
		}
		i, ok := index(v)
		if !ok || i >= len(r.shared) {
			return fmt.Errorf("xlsx: sheet: shared string %q not in the table of %d", truncate(v), len(r.shared))
		}
		val = r.shared[i]
	case "inlineStr":
		if hasIS {
			val = unescape(string(is))
		} else {
			val = string(v)
		}
	default:
		val = string(v)
	}
	if val == "" {
		return nil
	}
	for len(r.row) < col-1 {
		r.row = append(r.row, "")
	}
	r.row = append(r.row, val)
	return nil
}

// index reads a shared-string index (digits, maybe with spaces around them).
func index(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// cellType is a cell's t attribute as one of the types whose value addCell reads differently
// (other types: their <v> as it is).
func cellType(t []byte) string {
	switch string(t) {
	case "s":
		return "s"
	case "inlineStr":
		return "inlineStr"
	}
	return ""
}

// Close ends reading the sheet.
func (r *Rows) Close() error { return r.rc.Close() }

// column is the 1-based column of a cell reference such as "B7".
func column(ref []byte) (int, error) {
	n := 0
	for i := 0; i < len(ref); i++ {
		c := ref[i] | 0x20 // lower case
		if c < 'a' || c > 'z' {
			if i == 0 {
				break
			}
			return n, nil
		}
		if n = n*26 + int(c-'a'+1); n > maxColumns {
			return 0, fmt.Errorf("xlsx: sheet: cell %q beyond Excel's last column", truncate(ref))
		}
	}
	return 0, fmt.Errorf("xlsx: sheet: bad cell reference %q", truncate(ref))
}

// unescape decodes the _xHHHH_ escapes Excel writes for characters XML cannot hold (ECMA-376
// 22.9.2.19); _x005F_ stands for the underscore itself.
func unescape(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "_x")
		if i < 0 || len(s) < i+7 {
			break
		}
		n, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		if err != nil || s[i+6] != '_' {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteRune(rune(n))
		s = s[i+7:]
	}
	b.WriteString(s)
	return b.String()
}
