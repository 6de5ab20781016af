// Package label renders the parcel labels partners stick on the RMAs they send to the service
// centre: one label per RMA, with the number in large type, as a Code 128 barcode and as a QR
// code, who sends what, where it goes and where it comes back to. Labels are PDF (fpdf) in
// DejaVu Sans, embedded and subset, so Greek, Romanian and French print as written.
package label

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode/code128"
	qrcode "github.com/piglig/go-qr"

	"github.com/rmad/rmad/i18n"
)

// Filename is the attachment name of the labels in replies and staff copies (when they fit in
// one PDF; see Filenames).
const Filename = "rma-labels.pdf"

// MaxPerPDF is the most labels one PDF holds. fpdf keeps a whole document in memory while it
// renders it (every page's content, then the whole output) and compresses each page with a
// zlib writer of its own, so a submission of thousands of items gets several PDFs of at most
// this many labels (125 A4 pages), rendered one after the other.
const MaxPerPDF = 500

// SizeOf is about the size of a PDF of n labels: the font and about 1.3 KB per label.
func SizeOf(n int) int { return 12<<10 + n*1300 }

// Batches splits labels into the PDFs that hold them, in order: at most per labels each
// (MaxPerPDF when per is 0 or less).
func Batches(labels []Label, per int) [][]Label {
	if per <= 0 {
		per = MaxPerPDF
	}
	var out [][]Label
	for len(labels) > per {
		out = append(out, labels[:per:per])
		labels = labels[per:]
	}
	if len(labels) > 0 {
		out = append(out, labels)
	}
	return out
}

// Filenames names n label PDFs (see Batches): Filename for one, else rma-labels-1.pdf,
// rma-labels-2.pdf and so on.
func Filenames(n int) []string {
	if n <= 1 {
		return []string{Filename}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("rma-labels-%d.pdf", i+1)
	}
	return out
}

// Format is how labels are laid out on paper (config labels.format).
type Format string

// Formats: one A6 label per page, or four A6 labels on each A4 page (cut along the dashes).
const (
	A6   Format = "a6"
	A4x4 Format = "a4x4"
)

// DefaultFormat is the format when the configuration names none.
const DefaultFormat = A4x4

// Formats lists the valid formats, for configuration checks.
var Formats = []Format{A6, A4x4}

// Label is what one parcel label shows. Empty fields are left off the label.
type Label struct {
	Number string // the RMA number: large type, Code 128 and QR code
	Locale string // the partner's language: captions and the line that says where to stick it

	Partner   string // the partner's name
	OwnNumber string // the partner's own reference for the item

	Brand, Model, Serial string

	CenterName, CenterAddress string // the service centre the parcel goes to
	ReturnAddress             string // the partner's address, where the item comes back to

	ReceiverPays bool // shipping at the receiver's cost was approved
}

// The DejaVu Sans subset (scripts/subset-font.sh) covers Latin with ș ț, Greek and Cyrillic.
//
//go:embed font/DejaVuSans-subset.ttf
var fontTTF []byte

const fontFamily = "DejaVuSans"

// Sizes in millimetres. A label is an A6 sheet; an A4 page holds four of them.
const (
	labelW, labelH = 105.0, 148.0
	margin         = 6.0
	innerW         = labelW - 2*margin
	qrSize         = 24.0
)

// Render writes one PDF with the labels in the given format (one label per A6 page, or four
// per A4 page). An unknown format is an error, as are no labels and a label without a number.
func Render(w io.Writer, format Format, labels ...Label) error {
	raw := raws.Get().(*bytes.Buffer)
	defer func() {
		if raw.Cap() <= 1<<20 { // a PDF of hundreds of labels: let its buffer go
			raws.Put(raw)
		}
	}()
	raw.Reset()
	if err := uncompressed(raw, format, labels); err != nil {
		return err
	}
	if err := deflateStreams(w, raw.Bytes()); err != nil {
		return fmt.Errorf("label: write PDF: %w", err)
	}
	return nil
}

// raws are the buffers fpdf writes its PDFs into, for deflateStreams.
var raws = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// uncompressed writes the PDF of the labels to raw as fpdf writes it, its pages not compressed.
func uncompressed(raw *bytes.Buffer, format Format, labels []Label) error {
	if fontErr != nil {
		return fontErr
	}
	if len(labels) == 0 {
		return errors.New("label: no labels to render")
	}
	size := "A6"
	switch format {
	case A6:
	case A4x4:
		size = "A4"
	default:
		return fmt.Errorf("label: format %q is not one of a6, a4x4", format)
	}
	texts := make([]labelText, len(labels))
	for i, l := range labels {
		if strings.TrimSpace(l.Number) == "" {
			return fmt.Errorf("label: label %d has no RMA number", i+1)
		}
		texts[i] = textOf(l)
	}
	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "mm", SizeStr: size})
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.SetCellMargin(0)
	pdf.SetCompression(false) // deflateStreams compresses the pages, with a pooled writer
	pdf.SetCreator("rmad", false)
	pdf.SetTitle("RMA "+labels[0].Number, true)
	faces, err := addFaces(pdf, texts)
	if err != nil {
		return fmt.Errorf("label: font: %w", err)
	}
	for i, t := range texts {
		x, y := 0.0, 0.0
		if format == A4x4 {
			slot := i % 4
			if slot == 0 {
				pdf.AddPage()
				cutLines(pdf)
			}
			x, y = float64(slot%2)*labelW, float64(slot/2)*(297.0/2)
		} else {
			pdf.AddPage()
		}
		if err := draw(&pen{pdf: pdf, face: faces[i]}, x, y, t); err != nil {
			return fmt.Errorf("label: %s: %w", labels[i].Number, err)
		}
	}
	if err := pdf.Output(raw); err != nil {
		return fmt.Errorf("label: make PDF: %w", err)
	}
	return nil
}

// PDF renders the labels into a byte slice (see Render).
func PDF(format Format, labels ...Label) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(SizeOf(len(labels)))
	if err := Render(&b, format, labels...); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// cutLines marks where an A4 page is cut into its four labels.
func cutLines(pdf *fpdf.Fpdf) {
	pdf.SetDrawColor(170, 170, 170)
	pdf.SetLineWidth(0.2)
	pdf.SetDashPattern([]float64{2, 2}, 0)
	pdf.Line(labelW, 0, labelW, 297)
	pdf.Line(0, 297.0/2, 210, 297.0/2)
	pdf.SetDashPattern(nil, 0)
	pdf.SetDrawColor(0, 0, 0)
}

// labelText is all a label prints, made printable (clean), in the order draw uses it.
type labelText struct {
	number, partner, ownNumber, item, serial, centerName, centerAddress, returnAddress string
	receiverPays                                                                       bool
	*captions
}

// captions are the words of a label in one language, made printable.
type captions struct {
	partnerCap, ownNumberCap, itemCap, serialCap, shipTo, returnTo, receiverPaysCap, stick string
}

func textOf(l Label) labelText {
	return labelText{
		number: clean(l.Number), partner: clean(l.Partner), ownNumber: clean(l.OwnNumber),
		item: clean(strings.TrimSpace(l.Brand + " " + l.Model)), serial: clean(l.Serial),
		centerName: clean(l.CenterName), centerAddress: clean(l.CenterAddress),
		returnAddress: clean(l.ReturnAddress), receiverPays: l.ReceiverPays,
		captions: captionsIn(i18n.For(l.Locale)),
	}
}

// The captions of each language are rendered once (the catalogs are embedded, they do not
// change): every label of a partner prints the same ones.
var (
	captionsMu sync.Mutex
	captionsOf = map[i18n.Lang]*captions{}
)

func captionsIn(wd i18n.Lang) *captions {
	captionsMu.Lock()
	c, ok := captionsOf[wd]
	captionsMu.Unlock()
	if ok {
		return c
	}
	c = &captions{
		partnerCap: clean(wd.T("label.partner")), ownNumberCap: clean(wd.T("label.own_number")),
		itemCap: clean(wd.T("label.item")), serialCap: clean(wd.T("label.serial")),
		shipTo: clean(wd.T("label.ship_to")), returnTo: clean(wd.T("label.return_to")),
		receiverPaysCap: clean(wd.T("label.receiver_pays")), stick: clean(wd.T("label.stick")),
	}
	captionsMu.Lock()
	if len(captionsOf) >= 64 { // a locale string of every shape a partner ever had: start over
		clear(captionsOf)
	}
	captionsOf[wd] = c
	captionsMu.Unlock()
	return c
}

// runes lists the characters beyond ASCII that the label may print (the "…" of cut lines too).
func (t labelText) runes() []rune {
	var out []rune
	seen := map[rune]bool{}
	for _, s := range []string{t.number, t.partner, t.ownNumber, t.item, t.serial, t.centerName,
		t.centerAddress, t.returnAddress, t.partnerCap, t.ownNumberCap, t.itemCap, t.serialCap,
		t.shipTo, t.returnTo, t.receiverPaysCap, t.stick, "…"} {
		for _, r := range s {
			if r >= firstCode && !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// pen writes text on pdf in a face.
type pen struct {
	pdf  *fpdf.Fpdf
	face face
	pt   float64 // the size set last: fpdf writes the font again on every SetFont
}

func (p *pen) font(pt float64) {
	if pt != p.pt {
		p.pdf.SetFont(p.face.family, "", pt)
		p.pt = pt
	}
}

func (p *pen) cell(x, y, w, h float64, text, border, align string) {
	p.pdf.SetXY(x, y)
	p.pdf.CellFormat(w, h, p.face.enc(text), border, 0, align, false, 0, "")
}

// draw puts one label with its top left corner at (x0, y0).
func draw(p *pen, x0, y0 float64, t labelText) error {
	pdf := p.pdf
	left := x0 + margin
	y := y0 + margin

	// The number, as large as fits, in faux bold (fill and stroke: one font file is enough).
	size := 24.0
	for size > 10 && width(t.number, size) > innerW {
		size--
	}
	p.font(size)
	pdf.SetLineWidth(0.25)
	pdf.SetTextRenderingMode(2)
	p.cell(left, y, innerW, 10, t.number, "", "C")
	pdf.SetTextRenderingMode(0)
	y += 12

	if err := code128Bars(pdf, t.number, left, y, innerW, 16); err != nil {
		return err
	}
	y += 19

	// Who sends what, beside the QR code.
	if err := qrCode(pdf, t.number, left+innerW-qrSize, y, qrSize); err != nil {
		return err
	}
	textW := innerW - qrSize - 3
	top := y
	y = p.field(left, y, textW, t.partnerCap, t.partner, 2)
	y = p.field(left, y, textW, t.ownNumberCap, t.ownNumber, 1)
	y = p.field(left, y, textW, t.itemCap, t.item, 2)
	y = p.field(left, y, textW, t.serialCap, t.serial, 1)
	y = max(y, top+qrSize) + 2

	pdf.SetDrawColor(0, 0, 0)
	pdf.SetLineWidth(0.3)
	pdf.Line(left, y, left+innerW, y)
	y += 2

	// Where it goes: the address the carrier reads, in the largest type after the number.
	y = p.caption(left, y, t.shipTo)
	y = p.lines(left, y, innerW, 12, 5.2, t.centerName, 2)
	y = p.lines(left, y, innerW, 11, 4.8, t.centerAddress, 3) + 2

	// Where it comes back to.
	y = p.caption(left, y, t.returnTo)
	y = p.lines(left, y, innerW, 9, 4, t.partner, 1)
	y = p.lines(left, y, innerW, 9, 4, t.returnAddress, 3) + 2

	if t.receiverPays {
		p.font(11)
		pdf.SetLineWidth(0.5)
		p.cell(left, y, innerW, 7, t.receiverPaysCap, "1", "C")
	}

	// What to do with it, at the foot of the label.
	pdf.SetTextColor(60, 60, 60)
	p.lines(left, y0+labelH-margin-8, innerW, 8.5, 3.8, t.stick, 2)
	pdf.SetTextColor(0, 0, 0)
	return pdf.Error()
}

// caption writes a small grey heading and returns the y below it.
func (p *pen) caption(x, y float64, text string) float64 {
	p.font(7)
	p.pdf.SetTextColor(90, 90, 90)
	p.cell(x, y, innerW, 3.2, text, "", "L")
	p.pdf.SetTextColor(0, 0, 0)
	return y + 3.4
}

// field writes a caption and its value (at most maxLines lines); an empty value writes nothing.
func (p *pen) field(x, y, w float64, name, value string, maxLines int) float64 {
	if value == "" {
		return y
	}
	y = p.caption(x, y, name)
	return p.lines(x, y, w, 9.5, 4, value, maxLines) + 0.8
}

// lines wraps text to width w in pt points, writes at most maxLines lines h high (the last one
// ends in "…" when text was cut) and returns the y below them.
func (p *pen) lines(x, y, w, pt, h float64, text string, maxLines int) float64 {
	if text == "" {
		return y
	}
	p.font(pt)
	ls := wrap(text, w, pt)
	if len(ls) > maxLines {
		ls = ls[:maxLines]
		last := []rune(strings.TrimSpace(ls[maxLines-1]))
		for len(last) > 0 && width(string(last)+"…", pt) > w {
			last = last[:len(last)-1]
		}
		ls[maxLines-1] = string(last) + "…"
	}
	for _, s := range ls {
		p.cell(x, y, w, h, strings.TrimSpace(s), "", "L")
		y += h
	}
	return y
}

// wrap breaks text into lines no wider than w (in pt points): at newlines, and at the last
// space that fits; a word wider than a line is broken where the line is full.
func wrap(text string, w, pt float64) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line, lineW := "", 0.0
		for _, word := range strings.Split(para, " ") {
			ww := width(word, pt)
			if line != "" && lineW+width(" ", pt)+ww <= w {
				line, lineW = line+" "+word, lineW+width(" ", pt)+ww
				continue
			}
			if line != "" {
				out = append(out, line)
			}
			line, lineW = "", 0
			for ww > w && word != "" {
				rs := []rune(word)
				n := 1
				for n < len(rs) && width(string(rs[:n+1]), pt) <= w {
					n++
				}
				out = append(out, string(rs[:n]))
				word = string(rs[n:])
				ww = width(word, pt)
			}
			line, lineW = word, ww
		}
		out = append(out, line)
	}
	return out
}

// clean makes text printable in the embedded font: control characters and runs of spaces become
// one space (newlines in addresses are kept), characters without a glyph become '?'.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == '\n':
			b.WriteRune('\n')
			space = false
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			if !space {
				b.WriteRune(' ')
			}
			space = true
			continue
		case !covered(r):
			r = '?'
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// code128Bars draws the Code 128 symbol of text as vector bars filling w (quiet zones of ten
// modules included), h high.
func code128Bars(pdf *fpdf.Fpdf, text string, x, y, w, h float64) error {
	bc, err := code128.Encode(text)
	if err != nil {
		return fmt.Errorf("code 128: %w", err)
	}
	const quiet = 10
	b := bc.Bounds()
	n := b.Dx()
	mod := w / float64(n+2*quiet)
	dark := func(col, _ int) bool {
		r, g, bl, _ := bc.At(b.Min.X+col, b.Min.Y).RGBA()
		return r+g+bl < 3*0x8000
	}
	drawModules(pdf, n, 1, dark, x+quiet*mod, y, mod, h)
	return nil
}

// qrMask is the mask pattern of every QR code. The standard lets an encoder use any of the
// eight (the format bits tell the reader which); choosing by the penalty rules means encoding
// all eight and scoring each, most of the cost of a code (boombuler/barcode, which always
// did, spent about 0.5 ms of a label's 2.7 ms of CPU on it). A fixed mask costs nothing, and
// zbarimg reads the labels of every number shape (label TestQRCodesReadWithTheFixedMask).
const qrMask = 0

// qrCode draws the QR code of text (qrOf) as vector modules in a side × side square.
func qrCode(pdf *fpdf.Fpdf, text string, x, y, side float64) error {
	code, err := qrOf(text)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	// The square includes a quiet zone of two modules on each side (the label's white margin
	// around it adds the rest).
	n := code.Size()
	mod := side / float64(n+4)
	drawModules(pdf, n, n, code.Module, x+2*mod, y+2*mod, mod, mod)
	return nil
}

// qrOf is the QR code of text: error correction level M, the smallest version that holds it.
func qrOf(text string) (*qrcode.QrCode, error) {
	segs, err := qrcode.MakeSegments(text)
	if err != nil {
		return nil, err
	}
	return qrcode.EncodeSegments(segs, qrcode.Medium, qrcode.MinVersion, qrcode.MaxVersion, qrMask, false)
}

// drawModules fills the dark modules of a cols × rows symbol, each module mod wide and h high
// (a 1D symbol is one row of bars h high), with its top left corner at (x, y). It writes the
// rectangles in a coordinate system of modules (PDF's cm operator): four small integers each
// instead of fpdf's Rect with four coordinates in points, which made the QR code and the
// barcode most of a label's content and of its number formatting. Each rectangle is still
// filled on its own, as with Rect: rasterisers (poppler, like Acrobat) snap the edges of a
// lone rectangle to pixels, so the bars print as before.
func drawModules(pdf *fpdf.Fpdf, cols, rows int, dark func(col, row int) bool, x, y, mod, h float64) {
	k := pdf.GetConversionRatio()
	_, pageH := pdf.GetPageSize()
	b := make([]byte, 0, 64+4*cols*rows) // a rectangle is about 12 bytes, for 3 modules or more
	b = append(b, "q 0 g "...)
	b = appendNum(b, mod*k)
	b = append(b, " 0 0 "...)
	b = appendNum(b, -h*k)
	b = append(b, ' ')
	b = appendNum(b, x*k)
	b = append(b, ' ')
	b = appendNum(b, (pageH-y)*k)
	b = append(b, " cm\n"...)
	b = appendModuleRects(b, cols, rows, dark)
	b = append(b, 'Q')
	pdf.RawWriteBuf(bytes.NewReader(b))
}

// appendModuleRects appends the rectangles ("col row width height re f", in modules) that cover
// the dark modules of a cols × rows symbol, each exactly once: a run of dark modules in a row
// and the same run in the rows below it.
func appendModuleRects(b []byte, cols, rows int, dark func(col, row int) bool) []byte {
	// open holds the runs of the row above, each with the row its rectangle started on; a run
	// that does not go on in this row ends its rectangle.
	var open, next []moduleRun
	for row := 0; row <= rows; row++ {
		next = next[:0]
		o, start := 0, -1
		for col := 0; row < rows && col <= cols; col++ {
			d := col < cols && dark(col, row)
			switch {
			case d && start < 0:
				start = col
			case !d && start >= 0:
				// Rectangles of the row above that begin left of this run end above it.
				for o < len(open) && open[o].start < start {
					b = open[o].appendRect(b, row)
					o++
				}
				top := row
				if o < len(open) && open[o].start == start && open[o].end == col {
					top = open[o].top
					o++
				}
				next = append(next, moduleRun{start, col, top})
				start = -1
			}
		}
		for ; o < len(open); o++ {
			b = open[o].appendRect(b, row)
		}
		open, next = next, open
	}
	return b
}

// moduleRun is a run of dark modules, start to end (exclusive), in rows from top on.
type moduleRun struct{ start, end, top int }

// appendRect appends the rectangle of r down to bottom (exclusive).
func (r moduleRun) appendRect(b []byte, bottom int) []byte {
	b = strconv.AppendInt(b, int64(r.start), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.top), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.end-r.start), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(bottom-r.top), 10)
	return append(b, " re f\n"...)
}

// appendNum appends v with at most four decimals (a ten-thousandth of a point is far below
// what a printer resolves), without trailing zeros.
func appendNum(b []byte, v float64) []byte {
	n := len(b)
	b = strconv.AppendFloat(b, v, 'f', 4, 64)
	for len(b) > n && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if s := string(b[n:]); s == "-0" {
		b = append(b[:n], '0')
	}
	return b
}
