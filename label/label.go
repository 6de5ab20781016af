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
	"strings"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/qr"
	"golang.org/x/image/font/sfnt"

	"github.com/rmad/rmad/i18n"
)

// Filename is the attachment name of the labels in replies and staff copies.
const Filename = "rma-labels.pdf"

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

// covered is the set of characters the font has glyphs for; others print as '?' instead of an
// empty box, so a label never silently drops part of an address.
var covered, coveredErr = coverage(fontTTF)

func coverage(ttf []byte) (map[rune]bool, error) {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("label: embedded font: %w", err)
	}
	var buf sfnt.Buffer
	out := map[rune]bool{}
	for _, table := range unicode.GraphicRanges {
		for _, r16 := range table.R16 {
			for r := rune(r16.Lo); r <= rune(r16.Hi); r += rune(r16.Stride) {
				if g, err := f.GlyphIndex(&buf, r); err == nil && g != 0 {
					out[r] = true
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("label: embedded font covers no characters")
	}
	return out, nil
}

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
	if coveredErr != nil {
		return coveredErr
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
	pdf := fpdf.NewCustom(&fpdf.InitType{OrientationStr: "P", UnitStr: "mm", SizeStr: size})
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.SetCellMargin(0)
	pdf.SetCompression(true)
	pdf.SetCreator("rmad", false)
	pdf.SetTitle("RMA "+labels[0].Number, true)
	pdf.AddUTF8FontFromBytes(fontFamily, "", fontTTF)
	for i, l := range labels {
		if strings.TrimSpace(l.Number) == "" {
			return fmt.Errorf("label: label %d has no RMA number", i+1)
		}
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
		if err := draw(pdf, x, y, l); err != nil {
			return fmt.Errorf("label: %s: %w", l.Number, err)
		}
	}
	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("label: write PDF: %w", err)
	}
	return nil
}

// PDF renders the labels into a byte slice (see Render).
func PDF(format Format, labels ...Label) ([]byte, error) {
	var b bytes.Buffer
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

// draw puts one label with its top left corner at (x0, y0).
func draw(pdf *fpdf.Fpdf, x0, y0 float64, l Label) error {
	wd := i18n.For(l.Locale)
	left := x0 + margin
	y := y0 + margin

	// The number, as large as fits, in faux bold (fill and stroke: one font file is enough).
	number := clean(l.Number)
	size := 24.0
	pdf.SetFont(fontFamily, "", size)
	for size > 10 && pdf.GetStringWidth(number) > innerW {
		size--
		pdf.SetFontSize(size)
	}
	pdf.SetLineWidth(0.25)
	pdf.SetTextRenderingMode(2)
	pdf.SetXY(left, y)
	pdf.CellFormat(innerW, 10, number, "", 0, "C", false, 0, "")
	pdf.SetTextRenderingMode(0)
	y += 12

	if err := code128Bars(pdf, l.Number, left, y, innerW, 16); err != nil {
		return err
	}
	y += 19

	// Who sends what, beside the QR code.
	if err := qrCode(pdf, l.Number, left+innerW-qrSize, y, qrSize); err != nil {
		return err
	}
	textW := innerW - qrSize - 3
	top := y
	y = field(pdf, left, y, textW, wd.T("label.partner"), l.Partner, 2)
	y = field(pdf, left, y, textW, wd.T("label.own_number"), l.OwnNumber, 1)
	y = field(pdf, left, y, textW, wd.T("label.item"), strings.TrimSpace(l.Brand+" "+l.Model), 2)
	y = field(pdf, left, y, textW, wd.T("label.serial"), l.Serial, 1)
	y = max(y, top+qrSize) + 2

	pdf.SetDrawColor(0, 0, 0)
	pdf.SetLineWidth(0.3)
	pdf.Line(left, y, left+innerW, y)
	y += 2

	// Where it goes: the address the carrier reads, in the largest type after the number.
	y = caption(pdf, left, y, wd.T("label.ship_to"))
	pdf.SetFont(fontFamily, "", 12)
	y = lines(pdf, left, y, innerW, 5.2, clean(l.CenterName), 2)
	pdf.SetFont(fontFamily, "", 11)
	y = lines(pdf, left, y, innerW, 4.8, clean(l.CenterAddress), 3) + 2

	// Where it comes back to.
	y = caption(pdf, left, y, wd.T("label.return_to"))
	pdf.SetFont(fontFamily, "", 9)
	y = lines(pdf, left, y, innerW, 4, clean(l.Partner), 1)
	y = lines(pdf, left, y, innerW, 4, clean(l.ReturnAddress), 3) + 2

	if l.ReceiverPays {
		pdf.SetFont(fontFamily, "", 11)
		pdf.SetLineWidth(0.5)
		pdf.SetXY(left, y)
		pdf.CellFormat(innerW, 7, clean(wd.T("label.receiver_pays")), "1", 0, "C", false, 0, "")
	}

	// What to do with it, at the foot of the label.
	pdf.SetFont(fontFamily, "", 8.5)
	pdf.SetTextColor(60, 60, 60)
	lines(pdf, left, y0+labelH-margin-8, innerW, 3.8, clean(wd.T("label.stick")), 2)
	pdf.SetTextColor(0, 0, 0)
	return pdf.Error()
}

// caption writes a small grey heading and returns the y below it.
func caption(pdf *fpdf.Fpdf, x, y float64, text string) float64 {
	pdf.SetFont(fontFamily, "", 7)
	pdf.SetTextColor(90, 90, 90)
	pdf.SetXY(x, y)
	pdf.CellFormat(innerW, 3.2, clean(text), "", 0, "L", false, 0, "")
	pdf.SetTextColor(0, 0, 0)
	return y + 3.4
}

// field writes a caption and its value (at most maxLines lines); an empty value writes nothing.
func field(pdf *fpdf.Fpdf, x, y, w float64, name, value string, maxLines int) float64 {
	value = clean(value)
	if value == "" {
		return y
	}
	y = caption(pdf, x, y, name)
	pdf.SetFont(fontFamily, "", 9.5)
	return lines(pdf, x, y, w, 4, value, maxLines) + 0.8
}

// lines wraps text to width w, writes at most maxLines lines (the last one ends in "…" when
// text was cut) and returns the y below them.
func lines(pdf *fpdf.Fpdf, x, y, w, h float64, text string, maxLines int) float64 {
	if text == "" {
		return y
	}
	ls := pdf.SplitText(text, w)
	if len(ls) > maxLines {
		ls = ls[:maxLines]
		last := []rune(strings.TrimSpace(ls[maxLines-1]))
		for len(last) > 0 && pdf.GetStringWidth(string(last)+"…") > w {
			last = last[:len(last)-1]
		}
		ls[maxLines-1] = string(last) + "…"
	}
	for _, s := range ls {
		pdf.SetXY(x, y)
		pdf.CellFormat(w, h, strings.TrimSpace(s), "", 0, "L", false, 0, "")
		y += h
	}
	return y
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
		case !covered[r]:
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
	n := bc.Bounds().Dx()
	mod := w / float64(n+2*quiet)
	drawModules(pdf, bc, x+quiet*mod, y, mod, h, false)
	return nil
}

// qrCode draws the QR code of text as vector modules in a side × side square.
func qrCode(pdf *fpdf.Fpdf, text string, x, y, side float64) error {
	bc, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return fmt.Errorf("QR code: %w", err)
	}
	// The square includes a quiet zone of two modules on each side (the label's white margin
	// around it adds the rest).
	n := bc.Bounds().Dx()
	mod := side / float64(n+4)
	drawModules(pdf, bc, x+2*mod, y+2*mod, mod, mod, true)
	return nil
}

// drawModules fills the dark modules of a barcode, one rectangle per horizontal run; a 1D
// symbol (rows false) is one row of bars h high.
func drawModules(pdf *fpdf.Fpdf, bc barcode.Barcode, x, y, mod, h float64, rows bool) {
	b := bc.Bounds()
	pdf.SetFillColor(0, 0, 0)
	lastRow := b.Min.Y
	if rows {
		lastRow = b.Max.Y - 1
	}
	for row := b.Min.Y; row <= lastRow; row++ {
		run := -1
		for col := b.Min.X; col <= b.Max.X; col++ {
			dark := col < b.Max.X && isDark(bc, col, row)
			switch {
			case dark && run < 0:
				run = col
			case !dark && run >= 0:
				pdf.Rect(x+float64(run-b.Min.X)*mod, y+float64(row-b.Min.Y)*h, float64(col-run)*mod, h, "F")
				run = -1
			}
		}
	}
}

func isDark(bc barcode.Barcode, x, y int) bool {
	r, g, b, _ := bc.At(x, y).RGBA()
	return r+g+b < 3*0x8000
}
