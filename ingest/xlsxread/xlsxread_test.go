package xlsxread

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rmad/rmad/internal/testenv"
)

// TestMain fails the run when a panic was recovered that no test caused on purpose.
func TestMain(m *testing.M) { testenv.Main(m) }

// readAll is every row of every sheet, trailing empty cells dropped, rows without values left out.
func readAll(t testing.TB, data []byte) (map[string][][]string, *Workbook, error) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	wb, err := Open(zr)
	if err != nil {
		return nil, nil, err
	}
	out := map[string][][]string{}
	for _, s := range wb.Sheets {
		rows, err := wb.Rows(s)
		if err != nil {
			return nil, wb, err
		}
		for {
			row, err := rows.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, wb, err
			}
			if len(row) > 0 {
				out[s.Name] = append(out[s.Name], slices.Clone(row))
			}
		}
		rows.Close()
	}
	return out, wb, nil
}

// excelizeAll is the same as excelize's streaming reader gives it with RawCellValue.
func excelizeAll(t testing.TB, data []byte) map[string][][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][][]string{}
	for _, name := range f.GetSheetList() {
		rows, err := f.Rows(name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			row, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			for len(row) > 0 && row[len(row)-1] == "" {
				row = row[:len(row)-1]
			}
			if len(row) > 0 {
				out[name] = append(out[name], row)
			}
		}
		rows.Close()
	}
	return out
}

// Workbooks excelize writes (shared strings, inline strings from its stream writer, rich text,
// numbers, dates, booleans, formulas, gaps, hidden sheets, characters XML escapes) read as
// excelize's own reader reads them.
func TestSameAsExcelize(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Items"))
	for cell, v := range map[string]any{
		"A1": "EAN", "B1": "Serial", "C1": "Date", "D1": "Note",
		"A2": int64(5204001000013), "B2": "SN <1> & \"2\" 'three'", "C2": time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), "D2": "Άλφα\nsecond line",
		"A3": 3.25, "B3": true, "D3": "  spaced  ", "F3": "after a gap",
		"A5": "_x0041_ and _x005F_x0041_", "XFD5": "last column",
	} {
		must(f.SetCellValue("Items", cell, v))
	}
	must(f.SetCellFormula("Items", "C3", "A3*2"))
	must(f.SetCellRichText("Items", "B4", []excelize.RichTextRun{{Text: "bold "}, {Text: "plain", Font: &excelize.Font{Bold: true}}}))
	_, err := f.NewSheet("Hidden")
	must(err)
	must(f.SetCellValue("Hidden", "B2", "secret"))
	must(f.SetSheetVisible("Hidden", false))
	_, err = f.NewSheet("Stream")
	must(err)
	sw, err := f.NewStreamWriter("Stream")
	must(err)
	for i := 1; i <= 300; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i*3)
		must(sw.SetRow(cell, []any{fmt.Sprintf("row %d", i), i, strings.Repeat("ș", i), nil, float64(i) / 7}))
	}
	must(sw.Flush())
	var b bytes.Buffer
	_, err = f.WriteTo(&b)
	must(err)

	got, wb, err := readAll(t, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := excelizeAll(t, b.Bytes())
	for name := range want {
		if !slices.EqualFunc(got[name], want[name], slices.Equal) {
			t.Errorf("sheet %s:\n got %q\nwant %q", name, got[name], want[name])
		}
	}
	var names []string
	for _, s := range wb.Sheets {
		names = append(names, fmt.Sprintf("%s:%v", s.Name, s.Hidden))
	}
	if want := []string{"Items:false", "Hidden:true", "Stream:false"}; !slices.Equal(names, want) {
		t.Errorf("sheets %v, want %v", names, want)
	}
	if got["Items"][4][0] != "A and _x0041_" || len(got["Items"][4]) != 16384 {
		t.Errorf("row 5: %q…, %d cells", got["Items"][4][0], len(got["Items"][4]))
	}
}

// sheetZip is a workbook around a hand-written worksheet (and shared-string table): what
// other programs than Excel write.
func sheetZip(t testing.TB, sheet, sst string, workbookPr string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	files := []struct{ name, body string }{
		{"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` +
			workbookPr + `<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="/xl/sharedStrings.xml"/></Relationships>`},
		{"xl/worksheets/sheet1.xml", sheet},
	}
	if sst != "" {
		files = append(files, struct{ name, body string }{"xl/sharedStrings.xml", sst})
	}
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHandWrittenSheets(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the scanner's buffer
	sst := `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>zero</t></si>` +
		`<si><r><t>ru</t></r><r><rPr><b/></rPr><t xml:space="preserve">ns </t></r><rPh sb="0" eb="1"><t>ignored</t></rPh></si><si/><si><t>` + long + `</t></si></sst>`
	for _, c := range []struct {
		name, sheet string
		want        [][]string
	}{
		{"prefixed names, no r attributes", `<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
			`<x:row><x:c t="s"><x:v>0</x:v></x:c><x:c><x:v>12</x:v></x:c></x:row><x:row><x:c/><x:c t="s"><x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>`,
			[][]string{{"zero", "12"}, {"", "runs "}}},
		{"comments, instructions, CDATA, entities", `<?xml version="1.0"?><worksheet><!-- a > b --><sheetData><row r="1">` +
			`<c r="B1" t="inlineStr"><is><t>a&amp;b&lt;&#233;&#x3b1;<![CDATA[<raw> & ]]>z<!-- gone --></t></is></c>` +
			`<c r='C1' t='str'><f>1+1</f><v>2</v></c></row></sheetData></worksheet>`,
			[][]string{{"", "a&b<éα<raw> & z", "2"}}},
		{"'>' inside an attribute, spaces around '='", `<worksheet><sheetData><row r="3" spans="1:2" x14ac:dyDescent = "0.25" note="a>b"><c r="A3" t = "s"><v> 3 </v></c><c r="B3" t="s"><v>2</v></c></row></sheetData></worksheet>`,
			[][]string{{long}}},
		{"inline rich text with a phonetic run", `<worksheet><sheetData><row><c t="inlineStr"><is><r><t>漢</t></r><rPh><t>かん</t></rPh><r><t>字</t></r></is></c>` +
			`<c t="b"><v>1</v></c><c t="e"><v>#N/A</v></c><c t="d"><v>2026-05-02T00:00:00</v></c><c t="n"><v>5.90123E+12</v></c></row><row r="9"/></sheetData></worksheet>`,
			[][]string{{"漢字", "1", "#N/A", "2026-05-02T00:00:00", "5.90123E+12"}, {}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := sheetZip(t, c.sheet, sst, "")
			zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			wb, err := Open(zr)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := wb.Rows(wb.Sheets[0])
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for {
				row, err := rows.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, slices.Clone(row))
			}
			if !slices.EqualFunc(got, c.want, slices.Equal) {
				t.Errorf("rows\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// Broken or hostile XML is an error, never a panic or an unbounded read.
func TestBadSheets(t *testing.T) {
	sst := `<sst><si><t>only</t></si></sst>`
	for _, c := range []struct{ name, sheet, want string }{
		{"truncated in a tag", `<worksheet><sheetData><row><c r="A1"`, "unexpected EOF"},
		{"truncated in a row", `<worksheet><sheetData><row><c><v>1</v></c>`, "unexpected EOF"},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><worksheet><sheetData/></worksheet>`, "not allowed"},
		{"unknown entity", `<worksheet><sheetData><row><c t="inlineStr"><is><t>&a;</t></is></c></row></sheetData></worksheet>`, "unknown entity"},
		{"bad character reference", `<worksheet><sheetData><row><c t="inlineStr"><is><t>&#xD800;</t></is></c></row></sheetData></worksheet>`, "bad character reference"},
		{"shared string out of range", `<worksheet><sheetData><row><c t="s"><v>1</v></c></row></sheetData></worksheet>`, "not in the table of 1"},
		{"beyond the last column", `<worksheet><sheetData><row><c r="XFE1"><v>1</v></c></row></sheetData></worksheet>`, "beyond Excel's last column"},
		{"bad reference", `<worksheet><sheetData><row><c r="1A"><v>1</v></c></row></sheetData></worksheet>`, "bad cell reference"},
		{"text too long", `<worksheet><sheetData><row><c><v>` + strings.Repeat("9", maxText+1) + `</v></c></row></sheetData></worksheet>`, "too long"},
		{"unquoted attribute", `<worksheet><sheetData><row><c r=A1><v>1</v></c></row></sheetData></worksheet>`, "unquoted attribute"},
		{"row in a row", `<worksheet><sheetData><row><row></row></row></sheetData></worksheet>`, "row inside a row"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, sheetZip(t, c.sheet, sst, ""))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestWorkbookParts(t *testing.T) {
	sheet := `<worksheet><sheetData><row><c><v>1</v></c></row></sheetData></worksheet>`
	_, wb, err := readAll(t, sheetZip(t, sheet, "", `<workbookPr date1904="1"/>`))
	if err != nil || !wb.Date1904 {
		t.Errorf("date1904: %v, %v", wb, err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("content.txt")
	_, _ = w.Write([]byte("not a workbook"))
	_ = zw.Close()
	zr, _ := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if _, err := Open(zr); !errors.Is(err, ErrNoWorkbook) {
		t.Errorf("a zip without a workbook: %v", err)
	}
}

// FuzzRows reads fuzzed worksheet XML (and a fuzzed shared-string table): an error or rows,
// never a panic, a row wider than Excel's or a value longer than the cap.
func FuzzRows(f *testing.F) {
	f.Add(`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>x&amp;y</t></is></c></row></sheetData></worksheet>`,
		`<sst><si><t>zero</t></si></sst>`)
	f.Add(`<x:worksheet><x:sheetData><x:row><x:c t="inlineStr"><x:is><x:r><x:t><![CDATA[a]]></x:t></x:r><x:rPh><x:t>b</x:t></x:rPh></x:is></x:c></x:row></x:sheetData></x:worksheet>`,
		`<sst><si><r><t>a</t></r><rPh><t>b</t></rPh></si><si/></sst>`)
	f.Add(`<?xml?><!-- > --><worksheet><sheetData><row a='>'><c r="B2"><v>&#x41;</v></c></row><row/></sheetData></worksheet>`, ``)
	f.Fuzz(func(t *testing.T, sheet, sst string) {
		data := sheetZip(t, sheet, sst, "")
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		wb, err := Open(zr)
		if err != nil {
			t.Fatal(err) // the structure parts are fixed here
		}
		rows, err := wb.Rows(wb.Sheets[0])
		if err != nil {
			return
		}
		defer rows.Close()
		for n := 0; ; n++ {
			row, err := rows.Next()
			if err != nil {
				return
			}
			if len(row) > maxColumns || n > len(sheet) {
				t.Fatalf("row %d: %d cells", n, len(row))
			}
			for _, v := range row {
				if len(v) > maxText*6 {
					t.Fatalf("value of %d bytes", len(v))
				}
			}
		}
	})
}
