package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// workbook writes an .xlsx with excelize: each sheet's rows, cell values as given (numbers,
// times, strings), the first sheet named by the first name.
func workbook(t testing.TB, sheets map[string][][]any, order ...string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range order {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for r, row := range sheets[name] {
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				if err := f.SetCellValue(name, cell, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadXLSX(t *testing.T) {
	day := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		data   []byte
		want   string
		reason string
	}{
		{"header row, numeric EAN, serial date", workbook(t, map[string][][]any{"RMA": {
			{"Cod EAN", "Număr de serie", "Data achiziției", "Descriere"},
			{5204001000013, "RT-1", day, "nu pornește"},
			{int64(4712633000024), 12345678, "02/05/26", "zgomot"},
		}}, "RMA"), "ean=5204001000013; serial=RT-1; purchase_date=2026-05-02; description=nu pornește | ean=4712633000024; serial=12345678; purchase_date=02/05/26; description=zgomot", ""},
		{"title rows above the header", workbook(t, map[string][][]any{"S": {
			{"Nova IT — RMA noiembrie"}, {}, {"EAN", "Serial"}, {"5204001000013", "A"},
		}}, "S"), "ean=5204001000013; serial=A", ""},
		{"the sheet whose header matches", workbook(t, map[string][][]any{
			"Cover": {{"Returns for November"}, {"Prepared by: Nova IT"}},
			"Items": {{"Κωδικός EAN", "Σειριακός αριθμός"}, {5204001000013, "GR-1"}},
		}, "Cover", "Items"), "ean=5204001000013; serial=GR-1", ""},
		{"the header searched in the first 100 sheets", manySheets(t, 101), "own_number=NOVA-1", ""},
		{"a header in sheet 100 is found", manySheets(t, 100), "ean=5204001000013; serial=GR-1", ""},
		{"no header: positional columns", workbook(t, map[string][][]any{"S": {
			{"NOVA-1", 5204001000013, "SN1", day},
		}}, "S"), "ean=5204001000013; serial=SN1; purchase_date=2026-05-02; own_number=NOVA-1", ""},
		{"scientific notation stays as typed", workbook(t, map[string][][]any{"S": {
			{"EAN", "Serial"}, {"5.90123E+12", "X"},
		}}, "S"), "ean=5.90123E+12; serial=X", ""},
		{"empty workbook", workbook(t, map[string][][]any{"S": {{"EAN", "Serial"}}}, "S"), "", CSVReasonEmpty},
		{"old xls", append(append([]byte{}, oleMagic...), make([]byte, 600)...), "", CSVReasonOldSpreadsheet},
		{"not a zip", []byte("PK\x03\x04garbage"), "", CSVReasonDamagedXLSX},
		{"macros", withZipEntry(t, workbook(t, map[string][][]any{"S": {{"EAN"}, {"1"}}}, "S"), "xl/vbaProject.bin", []byte("VBA")), "", CSVReasonMacros},
		{"encrypted", encryptedWorkbook(t), "", CSVReasonEncrypted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, err := ReadXLSX(c.data, 100, 1000)
			if c.reason != "" {
				var ce *CSVError
				if !asCSVError(err, &ce) || ce.Reason != c.reason {
					t.Fatalf("err %v, want reason %s", err, c.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := itemsString(items); got != c.want {
				t.Errorf("items\ngot  %s\nwant %s", got, c.want)
			}
		})
	}
	// Limits: items, then non-empty rows.
	rows := [][]any{{"EAN", "Serial"}}
	for i := range 30 {
		rows = append(rows, []any{5204001000013, i})
	}
	big := workbook(t, map[string][][]any{"S": rows}, "S")
	if _, err := ReadXLSX(big, 10, 1000); !isTooMany(err) {
		t.Errorf("30 items with a limit of 10: %v", err)
	}
	if _, err := ReadXLSX(big, 100, 20); !isTooMany(err) {
		t.Errorf("31 rows with max_csv_rows 20: %v", err)
	}
}

// manySheets is a workbook of n sheets, the last with a header and an item, the others a
// line of text each.
func manySheets(t testing.TB, n int) []byte {
	sheets := map[string][][]any{}
	var order []string
	for i := 1; i < n; i++ {
		name := fmt.Sprintf("Notes %d", i)
		sheets[name], order = [][]any{{"NOVA-1"}}, append(order, name)
	}
	sheets["Items"], order = [][]any{{"EAN", "Serial"}, {5204001000013, "GR-1"}}, append(order, "Items")
	return workbook(t, sheets, order...)
}

func isTooMany(err error) bool {
	return err != nil && strings.Contains(err.Error(), ErrTooManyRows.Error())
}

func asCSVError(err error, ce **CSVError) bool {
	e, ok := err.(*CSVError)
	*ce = e
	return ok
}

func withZipEntry(t testing.TB, data []byte, name string, content []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create(name)
	_, _ = w.Write(content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encryptedWorkbook(t testing.TB) []byte {
	f := excelize.NewFile()
	defer f.Close()
	_ = f.SetCellValue("Sheet1", "A1", "EAN")
	var b bytes.Buffer
	if _, err := f.WriteTo(&b, excelize.Options{Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zipBomb is an .xlsx whose sheet unpacks to size bytes (of a few hundred KB compressed). With
// forged, its header claims 1000 bytes instead.
func zipBomb(t testing.TB, size int64, forged bool) []byte {
	good := workbook(t, map[string][][]any{"S": {{"EAN"}, {"1"}}}, "S")
	zr, _ := zip.NewReader(bytes.NewReader(good), int64(len(good)))
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestSpeed)
	crc := crc32.NewIEEE()
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	_, _ = io.WriteString(fw, `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	crc.Write([]byte(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`))
	for n := int64(0); n < size; n += int64(len(chunk)) {
		_, _ = fw.Write(chunk)
		crc.Write(chunk)
	}
	_ = fw.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			declared := uint64(size) + 87
			if forged {
				declared = 1000
			}
			w, err := zw.CreateRaw(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, CRC32: crc.Sum32(),
				CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write(comp.Bytes())
			continue
		}
		_ = zw.Copy(f)
	}
	_ = zw.Close()
	return b.Bytes()
}

// A zip bomb is refused by its size, without unpacking it into memory.
func TestXLSXZipBomb(t *testing.T) {
	for _, forged := range []bool{false, true} {
		bomb := zipBomb(t, 100<<20, forged)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := ReadXLSX(bomb, 100, 1000)
		runtime.ReadMemStats(&after)
		var ce *CSVError
		// A header that lies about the size is still refused as too large, not taken for the
		// empty sheet that archive/zip's cut at the claimed size leaves.
		if !asCSVError(err, &ce) || ce.Reason != CSVReasonUnzipTooLarge {
			t.Errorf("forged %v: err %v, want %s", forged, err, CSVReasonUnzipTooLarge)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Errorf("forged %v: %d MB allocated for a %d KB file", forged, alloc>>20, len(bomb)>>10)
		}
	}
	// In a mail, the partner is told why, in the partner's language, whether the sizes lie or not.
	for _, forged := range []bool{false, true} {
		ro := replaceHeader(headers(), "From", "From: Nova IT <rma@nova-it.ro>")
		sub := parse(t, testParser(), multipart(ro, textPart("see attached"), pdfPart(),
			b64Part("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\nContent-Disposition: attachment; filename=rma.xlsx", zipBomb(t, 40<<20, forged))))
		if len(sub.Problems) != 1 || sub.Problems[0].Params["reason"] != CSVReasonUnzipTooLarge || sub.Problems[0].Params["file"] != "rma.xlsx" {
			t.Fatalf("forged %v: problems %+v", forged, sub.Problems)
		}
		if text := i18n.Describe(sub.Locale, sub.Problems[0]); !strings.Contains(text, "rma.xlsx") || !strings.Contains(text, "se dezarhivează în mult mai multe date") {
			t.Errorf("forged %v: the %s partner reads %q", forged, sub.Locale, text)
		}
	}
	// A header that understates a small entry is a damaged workbook, not an empty one; an honest
	// workbook without items stays empty.
	good := workbook(t, map[string][][]any{"S": {{"EAN"}, {"5204001000013"}}}, "S")
	for want, data := range map[string][]byte{
		CSVReasonDamagedXLSX: withForgedSize(t, good, "xl/worksheets/sheet1.xml", 10),
		CSVReasonEmpty:       good,
	} {
		var ce *CSVError
		if err := emptyOrLying(zipReader(t, data)); !asCSVError(err, &ce) || ce.Reason != want {
			t.Errorf("emptyOrLying = %v, want %s", err, want)
		}
	}
}

func zipReader(t testing.TB, data []byte) *zip.Reader {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return zr
}

// withForgedSize copies a workbook with one entry's declared unpacked size replaced.
func withForgedSize(t testing.TB, data []byte, name string, size uint64) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zipReader(t, data).File {
		if f.Name != name {
			_ = zw.Copy(f)
			continue
		}
		h := f.FileHeader
		h.UncompressedSize64 = size
		w, err := zw.CreateRaw(&h)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := f.OpenRaw()
		_, _ = io.Copy(w, raw)
	}
	_ = zw.Close()
	return b.Bytes()
}

func xlsxPart(name string, data []byte) string {
	return b64Part("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\nContent-Disposition: attachment; filename="+name, data)
}

func TestParseMailXLSX(t *testing.T) {
	wb := workbook(t, map[string][][]any{"RMA": {{"EAN", "Serial", "Purchase date"}, {5204001000013, "RT-1", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}}}, "RMA")
	cases := []struct {
		name, raw, items, problems string
	}{
		{"xlsx attachment", multipart(headers(), textPart("attached"), xlsxPart("rma.xlsx", wb), pdfPart()), "ean=5204001000013; serial=RT-1; purchase_date=2026-06-01", ""},
		{"xlsx named .csv", multipart(headers(), b64Part("Content-Type: text/csv\nContent-Disposition: attachment; filename=rma.csv", wb), pdfPart()), "ean=5204001000013; serial=RT-1; purchase_date=2026-06-01", ""},
		{"xlsx in a winmail.dat", multipart(headers(), tnefPart(winmailDat("", map[string][]byte{"invoice.pdf": pdfBytes, "rma.csv": wb}))), "ean=5204001000013; serial=RT-1; purchase_date=2026-06-01", ""},
		{"xlsx in forwarded mail", multipart(headers(), textPart("fwd"), forwardedPart(innerMail(xlsxPart("rma.xlsx", wb), pdfPart()))), "ean=5204001000013; serial=RT-1; purchase_date=2026-06-01", ""},
		{"xlsm", multipart(headers(), xlsxPart("rma.xlsm", withZipEntry(t, wb, "xl/vbaProject.bin", []byte("x"))), pdfPart()), "", "csv_invalid"},
		{"xls", multipart(headers(), b64Part("Content-Type: application/vnd.ms-excel\nContent-Disposition: attachment; filename=rma.xls", append(append([]byte{}, oleMagic...), 0)), pdfPart()), "", "csv_invalid"},
		{"ods", multipart(headers(), b64Part("Content-Type: application/vnd.oasis.opendocument.spreadsheet\nContent-Disposition: attachment; filename=rma.ods", []byte("PK\x03\x04")), pdfPart()), "", "csv_invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := parse(t, testParser(), c.raw)
			if got := itemsString(sub.Items); got != c.items || codes(sub.Problems) != c.problems {
				t.Errorf("items %s problems %+v; want %s %s", got, sub.Problems, c.items, c.problems)
			}
			if sub.Kind != rma.KindSubmission {
				t.Errorf("kind %s", sub.Kind)
			}
		})
	}
	sub := parse(t, testParser(), multipart(headers(), b64Part("Content-Type: application/vnd.ms-excel\nContent-Disposition: attachment; filename=rma.xls", append(append([]byte{}, oleMagic...), 0)), pdfPart()))
	if len(sub.Problems) != 1 || sub.Problems[0].Params["reason"] != CSVReasonOldSpreadsheet || sub.Problems[0].Params["file"] != "rma.xls" {
		t.Errorf(".xls: %+v", sub.Problems)
	}
}

func FuzzReadXLSX(f *testing.F) {
	f.Add(workbook(f, map[string][][]any{"S": {{"EAN", "Serial", "Date"}, {5204001000013, "A", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}}, "S"))
	f.Add(workbook(f, map[string][][]any{"A": {{"x"}}, "B": {{"1", "2"}}}, "A", "B"))
	for _, name := range []string{"OverflowNumericCell.xlsx", "BadWorkbook.xlsx", "encryptAES.xlsx"} {
		if b, err := os.ReadFile(filepath.Join("testdata/xlsx", name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := ReadXLSX(data, 50, 100)
		if len(items) > 50 {
			t.Fatalf("%d items", len(items))
		}
		if err == nil && len(items) == 0 {
			t.Fatal("no items and no error")
		}
	})
}

// Workbooks Excel wrote (testdata/xlsx/README.md says where they come from): encrypted ones are
// refused as encrypted, a 13-digit number keeps its digits, a broken one gets an answer.
func TestRealWorkbooks(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/xlsx", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, want := range map[string]string{"encryptAES.xlsx": CSVReasonEncrypted, "encryptSHA1.xlsx": CSVReasonEncrypted,
		"BadWorkbook.xlsx": CSVReasonEmpty} {
		var ce *CSVError
		if _, err := ReadXLSX(read(name), 100, 1000); !asCSVError(err, &ce) || ce.Reason != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
	items, err := ReadXLSX(read("OverflowNumericCell.xlsx"), 100, 1000)
	if err != nil || len(items) != 1 || items[0].OwnNumber != "8595602512225" {
		t.Errorf("13-digit number: %+v %v", items, err)
	}
	// In a mail, the partner is told the workbook is password-protected, in Romanian.
	ro := replaceHeader(headers(), "From", "From: Nova IT <rma@nova-it.ro>")
	sub := parse(t, testParser(), multipart(ro, textPart("atașat"), pdfPart(), xlsxPart("rma.xlsx", read("encryptAES.xlsx"))))
	if len(sub.Problems) != 1 || sub.Problems[0].Params["reason"] != CSVReasonEncrypted {
		t.Fatalf("problems %+v", sub.Problems)
	}
	if text := i18n.Describe(sub.Locale, sub.Problems[0]); !strings.Contains(text, "rma.xlsx este protejat cu parolă") {
		t.Errorf("the %s partner reads %q", sub.Locale, text)
	}
}
