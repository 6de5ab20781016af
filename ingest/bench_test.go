package ingest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rmad/rmad/ingest"
)

const benchRows = 10000

// benchCSV is a 10,000-row partner CSV as spreadsheets write it: header, ';', CRLF, dates with
// dots, descriptions with commas, valid EANs from the fixture catalog.
func benchCSV() []byte {
	eans := []string{"5204001000013", "4712633000024", "6940735000095", "5099206000070"}
	var b bytes.Buffer
	b.WriteString("own_number;ean;serial;purchase_date;description;expectation\r\n")
	for i := range benchRows {
		fmt.Fprintf(&b, "NOVA-%05d;%s;SN-%06d;%02d.%02d.2026;Nu pornește, LED-ul de stare clipește roșu (unit %d);înlocuire\r\n",
			i, eans[i%len(eans)], i, i%28+1, i%10+1, i)
	}
	return b.Bytes()
}

// benchMail carries benchCSV as a base64 attachment next to an invoice.
func benchMail(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: Nova IT <rma@nova-it.ro>\r\nTo: rma@distributor.example\r\nSubject: RMA\r\nMessage-ID: <bench@nova-it.ro>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCSV atașat.\r\n" +
		"--B\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"rma.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"f.pdf\"\r\n\r\n%PDF-1.4\r\n--B--\r\n")
	return []byte(b.String())
}

func reportRows(b *testing.B) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// reportCPURows is rows per second of the process's CPU time since cpu0: on a shared, loaded
// machine the wall clock mostly measures the waiting for a core.
func reportCPURows(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(benchRows)*float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "cpu-rows/s")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPlainCSV is the yardstick: encoding/csv reading the same bytes, nothing else.
func BenchmarkPlainCSV(b *testing.B) {
	data := benchCSV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.Comma = ';'
		r.ReuseRecord = true
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows+1 {
			b.Fatalf("%d records", n)
		}
	}
	reportRows(b)
}

// BenchmarkReadCSV is ingest's CSV reader alone: encoding and delimiter detection, header
// matching, items. Goal: at least half of BenchmarkPlainCSV's rows/s.
func BenchmarkReadCSV(b *testing.B) {
	data := benchCSV()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		items, _, err := ingest.ReadCSV(data, benchRows)
		if err != nil || len(items) != benchRows {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
	reportRows(b)
}

// BenchmarkParseMailCSV is the mail path: MIME, base64, CSV, items.
func BenchmarkParseMailCSV(b *testing.B) { benchParse(b, benchMail(benchCSV()), false) }

// BenchmarkParseMailAndRules is parse + rules of the 10,000-row attachment, as the worker does
// before the store.
func BenchmarkParseMailAndRules(b *testing.B) { benchParse(b, benchMail(benchCSV()), true) }

// BenchmarkRules is the rules half of BenchmarkParseMailAndRules alone: Evaluate of the parsed
// 10,000-row submission.
func BenchmarkRules(b *testing.B) {
	p := newPipeline(b)
	p.parser.Limits.MaxItemsPerSubmission = benchRows
	p.parser.Limits.MaxCSVRows = benchRows + 1
	sub, err := p.parser.ParseMail(bytes.NewReader(benchMail(benchCSV())))
	if err != nil || len(sub.Items) != benchRows {
		b.Fatalf("%d items, %v, %v", len(sub.Items), sub.Problems, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.engine.Evaluate(sub, fixtureNow); len(d) != benchRows {
			b.Fatalf("%d decisions", len(d))
		}
	}
	reportRows(b)
}

func benchParse(b *testing.B, raw []byte, withRules bool) {
	p := newPipeline(b)
	p.parser.Limits.MaxItemsPerSubmission = benchRows
	p.parser.Limits.MaxCSVRows = benchRows + 1
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		sub, err := p.parser.ParseMail(bytes.NewReader(raw))
		if err != nil || len(sub.Items) != benchRows {
			b.Fatalf("%d items, %v, %v", len(sub.Items), sub.Problems, err)
		}
		if withRules {
			if d := p.engine.Evaluate(sub, fixtureNow); len(d) != benchRows {
				b.Fatalf("%d decisions", len(d))
			}
		}
	}
	reportRows(b)
	reportCPURows(b, cpu0)
}

// benchXLSX is the 10,000 rows of benchCSV as an Excel workbook (EANs as numbers, dates as
// Excel dates), written with excelize's stream writer.
func benchXLSX(b *testing.B) []byte {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	_ = sw.SetRow("A1", []any{"own_number", "ean", "serial", "purchase_date", "description", "expectation"})
	eans := []int64{5204001000013, 4712633000024, 6940735000095, 5099206000070}
	for i := range benchRows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, []any{fmt.Sprintf("NOVA-%05d", i), eans[i%len(eans)], fmt.Sprintf("SN-%06d", i),
			time.Date(2026, time.Month(i%10+1), i%28+1, 0, 0, 0, 0, time.UTC),
			fmt.Sprintf("Nu pornește, LED-ul de stare clipește roșu (unit %d)", i), "înlocuire"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := f.WriteTo(&out); err != nil {
		b.Fatal(err)
	}
	return out.Bytes()
}

// BenchmarkParseMailXLSXAndRules is parse + rules of a 10,000-row .xlsx attachment.
func BenchmarkParseMailXLSXAndRules(b *testing.B) {
	raw := bytes.Replace(benchMail(benchXLSX(b)), []byte("Content-Type: text/csv\r\nContent-Disposition: attachment; filename=\"rma.csv\""),
		[]byte("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\r\nContent-Disposition: attachment; filename=\"rma.xlsx\""), 1)
	benchParse(b, raw, true)
}

// BenchmarkReadXLSX is the workbook reader alone (ReadXLSX: sheet choice, rows, items) on the
// same workbook, without the mail around it and without rules.
func BenchmarkReadXLSX(b *testing.B) {
	data := benchXLSX(b)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		items, err := ingest.ReadXLSX(data, benchRows, benchRows+1)
		if err != nil || len(items) != benchRows {
			b.Fatalf("%d items, %v", len(items), err)
		}
	}
	reportRows(b)
	reportCPURows(b, cpu0)
}

// BenchmarkExcelizeRows is the yardstick of the XLSX path: excelize opening the same workbook
// and streaming its rows (Rows, Columns), nothing of ours.
func BenchmarkExcelizeRows(b *testing.B) {
	data := benchXLSX(b)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{RawCellValue: true})
		if err != nil {
			b.Fatal(err)
		}
		rows, err := f.Rows("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if _, err := rows.Columns(); err != nil {
				b.Fatal(err)
			}
			n++
		}
		_ = rows.Close()
		_ = f.Close()
		if n != benchRows+1 {
			b.Fatalf("%d rows", n)
		}
	}
	reportRows(b)
	reportCPURows(b, cpu0)
}
