package label

import (
	"bytes"
	"codeberg.org/go-pdf/fpdf"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/internal/testenv"
)

// flat collapses whitespace, so that text wrapped over lines or laid out in columns by
// pdftotext compares as one line.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

var partners = map[string]Label{
	"el": {
		Number: "RMA/417/SR/2026", Locale: "el",
		Partner: "Άλφα Υπολογιστές Α.Ε.", OwnNumber: "ΕΠ-2026/77",
		Brand: "TP-Link", Model: "Archer AX55", Serial: "22384Q1002345",
		CenterName:    "Example Distribution Service GR",
		CenterAddress: "Οδός Παραδείγματος 1, 14451 Μεταμόρφωση",
		ReturnAddress: "Λεωφόρος Ηρακλείου 120, 14231 Νέα Ιωνία",
	},
	"ro": {
		Number: "RMA/9/SR/2026", Locale: "ro",
		Partner: "Nova IT SRL", OwnNumber: "RET-ȘȚ-15",
		Brand: "Xiaomi", Model: "Mi Router 4A", Serial: "MI4A-2210-0045",
		CenterName:    "Example Distribution Service RO",
		CenterAddress: "Strada Științei 3, 031041 București",
		ReturnAddress: "Bd. Ștefan cel Mare 10, 300014 Timișoara, județul Timiș",
		ReceiverPays:  true,
	},
	"fr": {
		Number: "RMA/10023/SR/2026", Locale: "fr",
		Partner: "Télécom Pro Lyon", OwnNumber: "SAV-Ç-0042",
		Brand: "Grandstream", Model: "GXP2170", Serial: "20EZ3KJK91C2",
		CenterName:    "Example Distribution Service GR",
		CenterAddress: "Example Street 1, 14451 Metamorfosi, Greece",
		ReturnAddress: "12 rue Garibaldi, 69006 Lyon — bâtiment à côté de l'église",
	},
}

func TestLabelTextInEachLanguage(t *testing.T) {
	for loc, l := range partners {
		t.Run(loc, func(t *testing.T) {
			pdf, err := PDF(A6, l)
			if err != nil {
				t.Fatal(err)
			}
			if len(pdf) > 60<<10 {
				t.Errorf("one label is %d bytes, more than 60 KB", len(pdf))
			}
			pages := testenv.PDFText(t, pdf)
			if len(pages) != 1 {
				t.Fatalf("%d pages, want 1", len(pages))
			}
			text := flat(pages[0])
			w := i18n.For(loc)
			want := []string{l.Number, l.Partner, l.OwnNumber, l.Brand + " " + l.Model, l.Serial,
				l.CenterName, l.CenterAddress, l.ReturnAddress,
				w.T("label.ship_to"), w.T("label.return_to"), w.T("label.stick")}
			for _, s := range want {
				if !strings.Contains(text, flat(s)) {
					t.Errorf("label text lacks %q:\n%s", s, pages[0])
				}
			}
			approved := strings.Contains(text, w.T("label.receiver_pays"))
			if approved != l.ReceiverPays {
				t.Errorf("receiver pays shown %v, approved %v:\n%s", approved, l.ReceiverPays, pages[0])
			}
		})
	}
}

// The letters with diacritics come through as themselves, not as look-alikes: Romanian ș ț with
// the comma below (U+0219, U+021B), not the cedilla (U+015F, U+0163).
func TestDiacriticsIntact(t *testing.T) {
	ro := partners["ro"]
	pdf, err := PDF(A6, ro)
	if err != nil {
		t.Fatal(err)
	}
	text := testenv.PDFText(t, pdf)[0]
	for _, r := range []rune{'ș', 'ț', 'Ș', 'Ț', 'ă'} {
		if !strings.ContainsRune(text, r) {
			t.Errorf("text lacks %q (%U):\n%s", r, r, text)
		}
	}
	for _, r := range []rune{'ş', 'ţ', '?'} {
		if strings.ContainsRune(text, r) {
			t.Errorf("text has %q (%U), which the label was not given:\n%s", r, r, text)
		}
	}
	el, fr := testenv.PDFText(t, must(PDF(A6, partners["el"])))[0], testenv.PDFText(t, must(PDF(A6, partners["fr"])))[0]
	for _, s := range []string{"Άλφα", "Υπολογιστές", "Ηρακλείου", "Νέα Ιωνία"} {
		if !strings.Contains(el, s) {
			t.Errorf("Greek text lacks %q:\n%s", s, el)
		}
	}
	for _, s := range []string{"Télécom", "bâtiment à côté de l'église", "SAV-Ç-0042"} {
		if !strings.Contains(flat(fr), s) {
			t.Errorf("French text lacks %q:\n%s", s, fr)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// Both symbols of every label read back as exactly its RMA number, one page per A6 label, four
// labels per A4 page.
func TestBarcodesReadTheNumber(t *testing.T) {
	var ls []Label
	for _, loc := range []string{"el", "ro", "fr"} {
		ls = append(ls, partners[loc])
	}
	for n := 4; len(ls) < 5; n++ {
		l := partners["el"]
		l.Number = fmt.Sprintf("RMA/%d/SR/2026", 100000+n)
		ls = append(ls, l)
	}
	for _, tc := range []struct {
		format Format
		pages  [][]Label
	}{
		{A6, [][]Label{{ls[0]}, {ls[1]}, {ls[2]}, {ls[3]}, {ls[4]}}},
		{A4x4, [][]Label{ls[:4], ls[4:]}},
	} {
		t.Run(string(tc.format), func(t *testing.T) {
			pdf, err := PDF(tc.format, ls...)
			if err != nil {
				t.Fatal(err)
			}
			var want []testenv.Barcode
			for p, page := range tc.pages {
				for _, l := range page {
					want = append(want, testenv.Barcode{Page: p + 1, Type: "CODE-128", Data: l.Number},
						testenv.Barcode{Page: p + 1, Type: "QR-Code", Data: l.Number})
				}
			}
			sortBarcodes(want)
			if got := testenv.Barcodes(t, pdf); !slices.Equal(got, want) {
				t.Errorf("barcodes:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func sortBarcodes(bs []testenv.Barcode) {
	slices.SortFunc(bs, func(a, b testenv.Barcode) int {
		if a.Page != b.Page {
			return a.Page - b.Page
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Data, b.Data)
	})
}

// Text longer than its place on the label is cut with "…" rather than printed over the next
// field, and characters the font lacks print as '?'.
func TestLongAndUncoveredText(t *testing.T) {
	l := partners["fr"]
	l.CenterAddress = strings.Repeat("Très longue adresse du centre de service ", 12)
	l.Partner = "Télécom 電話 Pro"
	pdf, err := PDF(A6, l)
	if err != nil {
		t.Fatal(err)
	}
	text := flat(testenv.PDFText(t, pdf)[0])
	if !strings.Contains(text, "…") {
		t.Errorf("a cut address ends in …:\n%s", text)
	}
	if strings.Count(text, "Très longue adresse") > 8 {
		t.Errorf("the address was not cut to three lines:\n%s", text)
	}
	if !strings.Contains(text, "Télécom ?? Pro") {
		t.Errorf("characters without a glyph print as '?':\n%s", text)
	}
	if got := testenv.Barcodes(t, pdf); len(got) != 2 {
		t.Errorf("barcodes of a label with long text: %v", got)
	}
}

// A PDF's labels share one simple font while its 129 codes beyond ASCII last, spread over more
// when they do not, and a label needing more than all of them gets the UTF-8 font: every text
// comes through intact in each case.
func TestManyCharacters(t *testing.T) {
	alphabet := func(lo, hi rune) string {
		var b strings.Builder
		for r := lo; r <= hi; r++ {
			if covered(r) {
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	// Words short enough for a line: 16 letters each.
	words := func(s string) string {
		var ws []string
		for rs := []rune(s); len(rs) > 0; rs = rs[min(16, len(rs)):] {
			ws = append(ws, string(rs[:min(16, len(rs))]))
		}
		return strings.Join(ws, " ")
	}
	greek, cyrillic := words(alphabet('α', 'ω')+alphabet('Α', 'Ω')), words(alphabet('а', 'я')+alphabet('А', 'Я'))
	latin, latinA := words(alphabet('À', 'ÿ')), words(alphabet('Ā', 'ğ'))
	var ls []Label
	for i, addr := range []string{greek, cyrillic, latin, greek} {
		l := partners["fr"]
		l.Number = fmt.Sprintf("RMA/%d/SR/2026", 700+i)
		l.CenterAddress = addr
		ls = append(ls, l)
	}
	ls[3].ReturnAddress, ls[3].Model = cyrillic, latinA
	texts := make([]labelText, len(ls))
	for i, l := range ls {
		texts[i] = textOf(l)
	}
	faces, err := addFaces(fpdf.New("P", "mm", "A4", ""), texts)
	if err != nil {
		t.Fatal(err)
	}
	var families []string
	for _, f := range faces {
		families = append(families, f.family)
	}
	// Greek and Cyrillic share the first font, Latin needs a second one, all three the UTF-8 font.
	if want := []string{"DejaVuSans1", "DejaVuSans1", "DejaVuSans2", "DejaVuSansU"}; !slices.Equal(families, want) {
		t.Errorf("fonts of the labels: %v, want %v", families, want)
	}
	pdf, err := PDF(A6, ls...)
	if err != nil {
		t.Fatal(err)
	}
	pages := testenv.PDFText(t, pdf)
	if len(pages) != len(ls) {
		t.Fatalf("%d pages, want %d", len(pages), len(ls))
	}
	for i, l := range ls {
		text := flat(pages[i])
		for _, s := range []string{l.Number, l.Partner, l.Model, l.CenterAddress, l.ReturnAddress} {
			if !strings.Contains(text, flat(s)) {
				t.Errorf("label %d lacks %q:\n%s", i+1, s, pages[i])
			}
		}
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	var b bytes.Buffer
	for _, tc := range []struct {
		name   string
		format Format
		labels []Label
		want   string
	}{
		{"no labels", A6, nil, "no labels"},
		{"unknown format", "letter", []Label{partners["el"]}, `format "letter" is not one of a6, a4x4`},
		{"no number", A4x4, []Label{partners["el"], {Partner: "X"}}, "label 2 has no RMA number"},
	} {
		if err := Render(&b, tc.format, tc.labels...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
}

// cpuTime is the CPU time the process used so far (all threads, the collector's included):
// on a shared machine it measures the work of a benchmark better than the wall clock does.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkRenderOneLabel(b *testing.B) {
	l := partners["ro"]
	var buf bytes.Buffer
	cpu0 := cpuTime(b)
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, A6, l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(buf.Len()), "bytes/pdf")
}

func BenchmarkRender500Labels(b *testing.B) {
	ls := make([]Label, 500)
	for i := range ls {
		ls[i] = partners["el"]
		ls[i].Number = fmt.Sprintf("RMA/%d/SR/2026", 1000+i)
	}
	var buf bytes.Buffer
	cpu0 := cpuTime(b)
	for b.Loop() {
		buf.Reset()
		if err := Render(&buf, A4x4, ls...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/500/1000, "ms/label")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Millisecond)/float64(b.N)/500, "cpu-ms/label")
}

// A PDF embeds only the glyphs its labels print (a cut of the font), and draws exactly what the
// whole font file draws: the same pages, pixel for pixel, in every language and with the many
// characters of TestManyCharacters; and a one-label PDF is small.
func TestCutFontDrawsTheSame(t *testing.T) {
	var ls []Label
	for _, loc := range slices.Sorted(maps.Keys(partners)) {
		ls = append(ls, partners[loc])
	}
	many := partners["fr"]
	many.Number, many.CenterAddress = "RMA/9/SR/2026", "αβγδεζηθικλμνξοπρστυφχψω АБВГДЕЖЗИЙКЛМН ÀÂÇÉÈÊËÎÏÔÛÙÜŸ ĂăȘșȚț"
	ls = append(ls, many)
	cut, err := PDF(A4x4, ls...)
	if err != nil {
		t.Fatal(err)
	}
	one, err := PDF(A6, partners["el"])
	if err != nil {
		t.Fatal(err)
	}
	if len(one) > 16<<10 {
		t.Errorf("one label is %d bytes, want the font cut to its characters (under 16 KB)", len(one))
	}

	defer func(f func([]byte, string) []byte) { cutFont = f; clear(cuts.m) }(cutFont)
	cutFont = func(ttf []byte, _ string) []byte { return ttf }
	clear(cuts.m)
	whole, err := PDF(A4x4, ls...)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) <= len(cut) {
		t.Errorf("the whole font's PDF is %d bytes, the cut's %d: nothing was cut", len(whole), len(cut))
	}
	got, want := testenv.Pages(t, cut, 150), testenv.Pages(t, whole, 150)
	if len(got) != len(want) {
		t.Fatalf("%d pages with the cut font, %d with the whole one", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("page %d draws differently with the cut font", i+1)
		}
	}
}

// Every QR code has the same mask (qrMask), whatever its data: zbarimg reads each of 200
// numbers off the QR code as a label draws it (qrCode, 24 mm, rasterised at 300 dpi; one small
// page each, so that rasterising is cheap): numbers of one digit to ten (both QR versions a
// number takes), of many digits and years. TestBarcodesReadTheNumber reads whole labels.
func TestQRCodesReadWithTheFixedMask(t *testing.T) {
	t.Parallel() // 200 pages through pdftoppm and zbarimg
	const side = qrSize + 8
	pdf := fpdf.NewCustom(&fpdf.InitType{UnitStr: "mm", Size: fpdf.SizeType{Wd: side, Ht: side}})
	pdf.SetCompression(true)
	var want []testenv.Barcode
	for i := range 200 {
		digits := i%10 + 1
		n := i/10 + 1
		for len(strconv.Itoa(n)) < digits {
			n = n*10 + (n*7+i)%10
		}
		number := fmt.Sprintf("RMA/%d/SR/%d", n, 2026+i%74)
		pdf.AddPage()
		if err := qrCode(pdf, number, 4, 4, qrSize); err != nil {
			t.Fatal(err)
		}
		want = append(want, testenv.Barcode{Page: i + 1, Type: "QR-Code", Data: number})
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatal(err)
	}
	if got := testenv.Barcodes(t, b.Bytes()); !slices.Equal(got, want) {
		t.Errorf("QR codes:\n got %v\nwant %v", got, want)
	}
}
