package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/xlsxread"
	"github.com/rmad/rmad/rma"
)

// Workbook problem reasons (CSVError.Reason; Params["reason"] of a csv_invalid problem).
const (
	CSVReasonOldSpreadsheet = "old_spreadsheet" // .xls or .ods: the partner is asked to save it as .xlsx or CSV
	CSVReasonEncrypted      = "encrypted"       // a password-protected workbook
	CSVReasonMacros         = "macros"          // a workbook with macros (.xlsm, vbaProject.bin)
	CSVReasonUnzipTooLarge  = "unzip_too_large" // unpacks to more than the limit (a zip bomb, or a giant workbook)
	CSVReasonDamagedXLSX    = "damaged_xlsx"    // not a readable .xlsx
)

// xlsxUnzipLimit bounds what one workbook's entries unpack to, all together (their headers are
// checked before reading; the zip reader refuses an entry longer than its header says).
const xlsxUnzipLimit = 16 << 20

// DefaultMaxCSVRows bounds the non-empty rows read from one CSV or XLSX file when
// limits.max_csv_rows is 0.
const DefaultMaxCSVRows = config.DefaultMaxCSVRows

// oleMagic starts an OLE2 compound file: an old .xls, or an encrypted .xlsx.
var oleMagic = []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}

// addXLSX reads an Excel workbook's item rows and says what the file was to rmad.
func (p *Parser) addXLSX(c *content, info partInfo, body io.Reader) (int64, string) {
	data, err := io.ReadAll(io.LimitReader(body, p.maxBytes()))
	size := int64(len(data))
	if err != nil {
		c.csvProblems = append(c.csvProblems, csvProblem(info.filename, &CSVError{Reason: CSVReasonDamaged, Err: err}))
		return size, RoleUnreadable
	}
	left := p.maxItems() - len(c.csv)
	if left <= 0 {
		c.tooManyItems = true
		return size, RoleItems
	}
	t, err := readXLSXTable(data, left, p.maxCSVRows())
	switch {
	case errors.Is(err, errRowLimit):
		c.rowLimitFile = info.filename
		return size, RoleItems
	case errors.Is(err, ErrTooManyRows):
		c.tooManyItems = true
		return size, RoleItems
	case err != nil:
		c.csvProblems = append(c.csvProblems, csvProblem(info.filename, err))
		return size, RoleUnreadable
	}
	c.addTable(t.items, t.delim)
	return size, RoleItems
}

func (p *Parser) maxCSVRows() int {
	if p.Limits.MaxCSVRows > 0 {
		return p.Limits.MaxCSVRows
	}
	return DefaultMaxCSVRows
}

// ReadXLSX reads the items of an Excel workbook like a CSV attachment (see ReadCSV): the first
// visible sheet whose first rows hold a header row, else the first sheet with positional
// columns. The rows are read with ingest/xlsxread (excelize's streaming reader is several times
// slower), cell values as excelize gives them raw. Dates
// stored as Excel serial numbers become ISO dates; EANs stored as numbers keep their 13 digits;
// a number Excel stored in scientific notation stays as it is (and is an invalid EAN). Rows are
// streamed; at most maxRows non-empty rows are read (more: ErrTooManyRows), at most maxItems
// items kept (more: ErrTooManyRows). Encrypted and macro workbooks, old .xls files and
// workbooks that unpack to more than 16 MiB give a *CSVError.
func ReadXLSX(data []byte, maxItems, maxRows int) ([]rma.Item, error) {
	t, err := readXLSXTable(data, maxItems, maxRows)
	return t.items, err
}

func readXLSXTable(data []byte, maxItems, maxRows int) (csvTable, error) {
	var t csvTable
	t.delim = ',' // rma-results.csv for a workbook: the CSV default
	if bytes.HasPrefix(data, oleMagic) {
		if bytes.Contains(data, utf16Name("EncryptedPackage")) || bytes.Contains(data, utf16Name("EncryptionInfo")) {
			return t, &CSVError{Reason: CSVReasonEncrypted}
		}
		return t, &CSVError{Reason: CSVReasonOldSpreadsheet}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if bytes.HasPrefix(data, []byte("PK")) {
			return t, &CSVError{Reason: CSVReasonDamagedXLSX, Err: err}
		}
		return t, &CSVError{Reason: CSVReasonOldSpreadsheet, Err: err} // an .ods or anything else named .xlsx
	}
	var unzipped uint64
	for _, f := range zr.File {
		name := strings.ToLower(f.Name)
		if strings.HasSuffix(name, "vbaproject.bin") {
			return t, &CSVError{Reason: CSVReasonMacros}
		}
		if name == "mimetype" || name == "content.xml" {
			return t, &CSVError{Reason: CSVReasonOldSpreadsheet} // OpenDocument
		}
		unzipped += f.UncompressedSize64
	}
	if unzipped > xlsxUnzipLimit {
		return t, &CSVError{Reason: CSVReasonUnzipTooLarge, Err: fmt.Errorf("unpacks to %d bytes, limit %d", unzipped, xlsxUnzipLimit)}
	}
	wb, err := xlsxread.Open(zr)
	if err != nil {
		return t, &CSVError{Reason: CSVReasonDamagedXLSX, Err: err}
	}
	sheet, ok := pickSheet(wb)
	if !ok {
		return t, &CSVError{Reason: CSVReasonEmpty}
	}
	rows, err := wb.Rows(sheet)
	if err != nil {
		return t, damagedOrLying(zr, err)
	}
	defer rows.Close()
	t.items = make([]rma.Item, 0, min(maxItems, 1024))
	st := &tableState{columns: positionalColumns}
	dates := map[string]string{}
	for {
		rec, err := rows.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return t, damagedOrLying(zr, err)
		}
		if blankRecord(rec, true) {
			continue
		}
		it, err := t.addRecord(rec, st, maxItems, maxRows, hasOddSpacesRow(rec))
		if err != nil {
			return t, fmt.Errorf("xlsx: %w", err)
		}
		if it == nil {
			continue
		}
		if d := it.PurchaseDate; d != "" {
			// A sheet's purchase dates repeat: each distinct one is converted once.
			iso, ok := dates[d]
			if !ok {
				iso = excelDate(d, wb.Date1904)
				if len(dates) < 4096 {
					dates[d] = iso
				}
			}
			it.PurchaseDate = iso
		}
	}
	if len(t.items) == 0 {
		return t, emptyOrLying(zr)
	}
	return t, nil
}

// damagedOrLying is the problem of a workbook that could not be read: too large to unpack when
// an entry unpacks to more than its header says (archive/zip refuses to read on), else damaged.
func damagedOrLying(zr *zip.Reader, err error) error {
	var ce *CSVError
	if errors.As(emptyOrLying(zr), &ce) && ce.Reason == CSVReasonUnzipTooLarge {
		return ce
	}
	return &CSVError{Reason: CSVReasonDamagedXLSX, Err: err}
}

// emptyOrLying tells a workbook with no items (or one that could not be read) from one whose zip
// headers understate what its entries unpack to: archive/zip refuses to read an entry past its
// declared size, so a zip bomb with forged sizes would look empty or damaged. Only workbooks
// that gave no items pay for this second unpacking.
func emptyOrLying(zr *zip.Reader) error {
	var total uint64
	for _, f := range zr.File {
		n, err := unpackedSize(f, xlsxUnzipLimit-total)
		total += n
		switch {
		case total > xlsxUnzipLimit:
			return &CSVError{Reason: CSVReasonUnzipTooLarge,
				Err: fmt.Errorf("%s unpacks to more than %d bytes (its header says %d)", f.Name, xlsxUnzipLimit, f.UncompressedSize64)}
		case err != nil:
			return &CSVError{Reason: CSVReasonDamagedXLSX, Err: fmt.Errorf("%s: %w", f.Name, err)}
		case n != f.UncompressedSize64:
			return &CSVError{Reason: CSVReasonDamagedXLSX,
				Err: fmt.Errorf("%s unpacks to %d bytes, its header says %d", f.Name, n, f.UncompressedSize64)}
		}
	}
	return &CSVError{Reason: CSVReasonEmpty}
}

// unpackedSize is what one zip entry really unpacks to, counted without keeping it and without
// trusting its header; counting stops once it passes limit.
func unpackedSize(f *zip.File, limit uint64) (uint64, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return 0, err
	}
	var r io.Reader
	switch f.Method {
	case zip.Store:
		r = raw
	case zip.Deflate:
		fr := flate.NewReader(raw)
		defer fr.Close()
		r = fr
	default:
		return 0, fmt.Errorf("compression method %d", f.Method)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, int64(limit)+1))
	return uint64(n), err
}

// maxHeaderSheets bounds the sheets searched for a header: a workbook listing the same big
// sheet thousands of times must not be read thousands of times.
const maxHeaderSheets = 100

// pickSheet is the first visible sheet whose first rows hold a header row (among the first
// maxHeaderSheets), else the first sheet (ok false: the workbook has none).
func pickSheet(wb *xlsxread.Workbook) (xlsxread.Sheet, bool) {
	for i, s := range wb.Sheets {
		if i == maxHeaderSheets {
			break
		}
		if s.Hidden {
			continue
		}
		// A sheet that cannot be read is not the one with the header; if it is the first, reading
		// it for its rows says what is wrong with it.
		if found, err := sheetHasHeader(wb, s); err == nil && found {
			return s, true
		}
	}
	if len(wb.Sheets) == 0 {
		return xlsxread.Sheet{}, false
	}
	return wb.Sheets[0], true
}

func sheetHasHeader(wb *xlsxread.Workbook, sheet xlsxread.Sheet) (bool, error) {
	rows, err := wb.Rows(sheet)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for seen, n := 0, 0; seen <= headerSearchRows && n < 1000; n++ {
		rec, err := rows.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if blankRecord(rec, true) {
			continue
		}
		seen++
		if headerColumns(rec) != nil {
			return true, nil
		}
	}
	return false, nil
}

// excelDate turns an Excel serial date (days since 1900, or 1904) into 2006-01-02; text dates
// are left to the rules.
func excelDate(v string, date1904 bool) string {
	if v == "" || strings.Trim(v, "0123456789.") != "" {
		return v
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil || n < 1 || n > 2958465 {
		return v
	}
	tm, err := excelize.ExcelDateToTime(n, date1904)
	if err != nil {
		return v
	}
	return tm.Format("2006-01-02")
}

func hasOddSpacesRow(rec []string) bool {
	for _, v := range rec {
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return true
			}
		}
	}
	return false
}

// utf16Name is a stream name as an OLE2 directory stores it.
func utf16Name(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i], 0)
	}
	return out
}
