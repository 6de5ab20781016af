package label

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// objectsOf is the bytes of every object of a PDF laid out as fpdf writes it, by number.
func objectsOf(t testing.TB, pdf []byte) map[int][]byte {
	t.Helper()
	l, ok := layoutOf(pdf)
	if !ok {
		t.Fatalf("not laid out as fpdf writes a PDF:\n%q", pdf)
	}
	objs := map[int][]byte{}
	for i, o := range l.objects {
		end := l.xref
		if i+1 < len(l.objects) {
			end = l.objects[i+1].off
		}
		objs[o.num] = pdf[o.off:end]
	}
	return objs
}

// checkDeflated checks that out is raw with each unfiltered stream deflated: the same objects,
// each starting where the new cross-reference table says, a plain stream's data inflating back
// to what it was, every other object as it was.
func checkDeflated(t testing.TB, raw, out []byte) {
	t.Helper()
	in, got := objectsOf(t, raw), objectsOf(t, out)
	if len(in) != len(got) {
		t.Fatalf("%d objects, want %d", len(got), len(in))
	}
	for num, obj := range in {
		o, ok := got[num]
		if !ok {
			t.Fatalf("object %d is missing", num)
		}
		data, plain := plainStream(obj, num)
		if !plain {
			if !bytes.Equal(o, obj) {
				t.Errorf("object %d changed:\n got %q\nwant %q", num, o, obj)
			}
			continue
		}
		head := fmt.Sprintf("%d 0 obj\n<</Filter /FlateDecode /Length ", num)
		rest, ok := bytes.CutPrefix(o, []byte(head))
		if !ok {
			t.Fatalf("object %d starts %q, want %q", num, o[:min(len(o), 60)], head)
		}
		n, digits := leadingInt(rest)
		z, ok := bytes.CutPrefix(rest[digits:], []byte(">>\nstream\n"))
		if !ok || len(z) != n+len("\nendstream\nendobj\n") || !bytes.HasSuffix(z, []byte("\nendstream\nendobj\n")) {
			t.Fatalf("object %d is not one stream of %d bytes: %q", num, n, o)
		}
		zr, err := zlib.NewReader(bytes.NewReader(z[:n]))
		if err != nil {
			t.Fatalf("object %d: %v", num, err)
		}
		back, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("object %d inflates to %q (%v), want %q", num, back, err, data)
		}
	}
	if bytes.Contains(raw, []byte("startxref\n")) && !bytes.HasSuffix(out, objectsTail(raw)) {
		t.Errorf("the PDF ends %q, want %q", out[max(0, len(out)-20):], objectsTail(raw))
	}
}

func objectsTail(pdf []byte) []byte {
	l, _ := layoutOf(pdf)
	return l.tail
}

// Labels are rendered uncompressed and their pages deflated after with a pooled writer: the
// PDF is a well-formed rewrite of fpdf's (objects where the table says, pages compressed) and
// draws exactly what fpdf's uncompressed PDF draws, pixel for pixel, in every language, on
// several pages of both formats.
func TestDeflatedPDFDrawsTheSame(t *testing.T) {
	var ls []Label
	for i := range 9 {
		for _, loc := range []string{"el", "ro", "fr"} {
			l := partners[loc]
			l.Number = fmt.Sprintf("RMA/%d/SR/2026", 7+i*131)
			ls = append(ls, l)
		}
	}
	for _, c := range []struct {
		format Format
		labels []Label
	}{{A4x4, ls[:9]}, {A6, ls[:3]}, {A4x4, ls}} {
		raw := rawPDF(t, c.format, c.labels...)
		var out bytes.Buffer
		if err := deflateStreams(&out, raw); err != nil {
			t.Fatal(err)
		}
		checkDeflated(t, raw, out.Bytes())
		if l, _ := layoutOf(out.Bytes()); len(l.objects) == 0 {
			t.Fatal("no objects")
		}
		for num, obj := range objectsOf(t, out.Bytes()) {
			if _, plain := plainStream(obj, num); plain {
				t.Errorf("%s, %d labels: object %d is still uncompressed", c.format, len(c.labels), num)
			}
		}
		if out.Len() >= len(raw)*3/4 {
			t.Errorf("%s, %d labels: %d bytes deflated, %d before: not compressed", c.format, len(c.labels), out.Len(), len(raw))
		}
		if len(c.labels) > 9 {
			continue // rasterising 7 more pages proves nothing more
		}
		got, want := testenv.Pages(t, out.Bytes(), 100), testenv.Pages(t, raw, 100)
		if len(got) != len(want) || len(got) != (len(c.labels)+3)/4 && c.format == A4x4 {
			t.Fatalf("%s: %d pages deflated, %d before", c.format, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: page %d draws differently deflated", c.format, i+1)
			}
		}
	}
}

// rawPDF is the PDF of labels as fpdf writes it, uncompressed.
func rawPDF(t testing.TB, format Format, labels ...Label) []byte {
	t.Helper()
	var raw bytes.Buffer
	if err := uncompressed(&raw, format, labels); err != nil {
		t.Fatal(err)
	}
	return raw.Bytes()
}

// What is not a PDF as fpdf writes it goes out unchanged; what is gets its plain streams
// deflated and a matching table, whatever the streams hold; nothing panics.
func FuzzDeflateStreams(f *testing.F) {
	raw := rawPDF(f, A6, partners["ro"])
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte(small))
	f.Add([]byte(strings.Replace(small, "<</Length 5>>", "<</Length 9>>", 1)))
	f.Add([]byte(strings.Replace(small, "0000000009 00000 n", "0000000099 00000 n", 1)))
	f.Add([]byte("startxref\n0\n%%EOF\n"))
	f.Fuzz(func(t *testing.T, pdf []byte) {
		var out bytes.Buffer
		if err := deflateStreams(&out, pdf); err != nil {
			t.Fatal(err)
		}
		if _, ok := layoutOf(pdf); !ok {
			if !bytes.Equal(out.Bytes(), pdf) {
				t.Fatal("a PDF not laid out as fpdf writes it changed")
			}
			return
		}
		checkDeflated(t, pdf, out.Bytes())
	})
}

// small is the least PDF laid out as fpdf writes it: one plain stream, one other object.
const small = "%PDF-1.3\n" +
	"1 0 obj\n<</Length 5>>\nstream\nhello\nendstream\nendobj\n" +
	"2 0 obj\n<</Type /Catalog>>\nendobj\n" +
	"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000061 00000 n \n" +
	"trailer\n<</Size 3 /Root 2 0 R>>\nstartxref\n95\n%%EOF\n"

func TestSmallIsLaidOut(t *testing.T) {
	if _, ok := layoutOf([]byte(small)); !ok {
		t.Fatal("the fuzz seed is not laid out as fpdf writes a PDF: fix its offsets")
	}
}

// The rectangles of a symbol cover its dark modules, each exactly once, and nothing else:
// grids made of the fuzzer's bytes, and every QR code of a label's numbers.
func FuzzModuleRects(f *testing.F) {
	f.Add(uint8(21), []byte("QR code of RMA/1/SR/2026 and some more bytes for its modules"))
	f.Add(uint8(1), []byte{0xff})
	f.Add(uint8(7), []byte{0xaa, 0x55, 0xaa, 0x55, 0xff, 0xff, 0x0f, 0xf0})
	f.Fuzz(func(t *testing.T, cols uint8, bits []byte) {
		if cols == 0 || len(bits) == 0 {
			return
		}
		n := int(cols)
		rows := (len(bits)*8 + n - 1) / n
		dark := func(col, row int) bool {
			i := row*n + col
			return i < len(bits)*8 && bits[i/8]&(1<<(i%8)) != 0
		}
		checkRects(t, n, rows, dark)
	})
}

// checkRects checks appendModuleRects' rectangles against dark.
func checkRects(t *testing.T, cols, rows int, dark func(col, row int) bool) {
	t.Helper()
	covered := make([]int, cols*rows)
	for line := range strings.Lines(string(appendModuleRects(nil, cols, rows, dark))) {
		var c, r, w, h int
		if _, err := fmt.Sscanf(line, "%d %d %d %d re f\n", &c, &r, &w, &h); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if w < 1 || h < 1 || c < 0 || r < 0 || c+w > cols || r+h > rows {
			t.Fatalf("%q is outside the %d × %d symbol", line, cols, rows)
		}
		for y := r; y < r+h; y++ {
			for x := c; x < c+w; x++ {
				covered[y*cols+x]++
			}
		}
	}
	for row := range rows {
		for col := range cols {
			want := 0
			if dark(col, row) {
				want = 1
			}
			if got := covered[row*cols+col]; got != want {
				t.Fatalf("module (%d, %d) is covered %d times, want %d", col, row, got, want)
			}
		}
	}
}

func TestModuleRectsOfQRCodes(t *testing.T) {
	for i := range 300 {
		number := "RMA/" + strconv.Itoa(1+i*i*37) + "/SR/2026"
		code, err := qrOf(number)
		if err != nil {
			t.Fatal(err)
		}
		checkRects(t, code.Size(), code.Size(), code.Module)
	}
}

// BenchmarkDeflateStreams is deflateStreams alone on the PDF of 40 labels (10 A4 pages).
func BenchmarkDeflateStreams(b *testing.B) {
	ls := make([]Label, 40)
	for i := range ls {
		ls[i] = partners["el"]
		ls[i].Number = fmt.Sprintf("RMA/%d/SR/2026", 1000+i)
	}
	raw := rawPDF(b, A4x4, ls...)
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := deflateStreams(&out, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(raw)), "bytes-in")
	b.ReportMetric(float64(out.Len()), "bytes-out")
}
