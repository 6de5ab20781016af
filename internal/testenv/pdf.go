package testenv

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// tool returns the path of a command scripts/test.sh installs; a test that needs it fails
// without it, never skips.
func tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is missing: run the tests with `make test`, which installs the Debian package %s", name, pkg)
	}
	return p
}

// PDFText is the text of a PDF as poppler's pdftotext reads it (UTF-8, layout kept), one
// string per page.
func PDFText(t testing.TB, pdf []byte) []string {
	t.Helper()
	bin := tool(t, "pdftotext", "poppler-utils")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", "-layout", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	pages := strings.Split(string(out), "\f")
	if len(pages) > 1 && strings.TrimSpace(pages[len(pages)-1]) == "" {
		pages = pages[:len(pages)-1]
	}
	return pages
}

// Barcode is one symbol zbarimg found on a page.
type Barcode struct {
	Page int    // 1-based
	Type string // zbar's name: CODE-128, QR-Code ...
	Data string
}

// Barcodes rasterises a PDF with poppler's pdftoppm (300 dpi) and decodes every barcode on each
// page with zbarimg, sorted by page, type and data.
func Barcodes(t testing.TB, pdf []byte) []Barcode {
	t.Helper()
	var found []Barcode
	for i, png := range pagePNGs(t, pdf, 300) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(tool(t, "zbarimg", "zbar-tools"), "--quiet", "--nodbus", "--xml", png)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// zbarimg exits 4 when a page has no symbol: that is a finding, not a failure.
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
				t.Fatalf("zbarimg %s: %v: %s", filepath.Base(png), err, stderr.String())
			}
		}
		for _, b := range parseZbarXML(t, stdout.Bytes()) {
			b.Page = i + 1
			found = append(found, b)
		}
	}
	sort.Slice(found, func(a, b int) bool {
		x, y := found[a], found[b]
		if x.Page != y.Page {
			return x.Page < y.Page
		}
		if x.Type != y.Type {
			return x.Type < y.Type
		}
		return x.Data < y.Data
	})
	return found
}

// Pages rasterises every page of pdf with pdftoppm (gray, dpi dots per inch) and returns each
// page's PNG: two PDFs that draw the same have the same pages.
func Pages(t testing.TB, pdf []byte, dpi int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range pagePNGs(t, pdf, dpi) {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// pagePNGs writes every page of pdf as a gray PNG and returns their paths in page order.
func pagePNGs(t testing.TB, pdf []byte, dpi int) []string {
	t.Helper()
	ppm := tool(t, "pdftoppm", "poppler-utils")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ppm, "-r", strconv.Itoa(dpi), "-gray", "-png", in, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	pngs, err := filepath.Glob(filepath.Join(dir, "page-*.png"))
	if err != nil || len(pngs) == 0 {
		t.Fatalf("pdftoppm made no pages (%v)", err)
	}
	sort.Strings(pngs) // page-1.png, page-2.png ... zero-padded by pdftoppm for 10+ pages
	return pngs
}

// parseZbarXML reads zbarimg --xml output: <barcodes><source><index><symbol type=..><data>.
func parseZbarXML(t testing.TB, out []byte) []Barcode {
	t.Helper()
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	var doc struct {
		Symbols []struct {
			Type string `xml:"type,attr"`
			Data string `xml:"data"`
		} `xml:"source>index>symbol"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("zbarimg output: %v: %s", err, out)
	}
	var found []Barcode
	for _, s := range doc.Symbols {
		found = append(found, Barcode{Type: s.Type, Data: s.Data})
	}
	return found
}
