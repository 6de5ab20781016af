package label

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/image/font/sfnt"
)

// How the embedded font gets into a PDF cheaply. fpdf's UTF-8 fonts cost about 5 ms of CPU per
// PDF (it parses the font file, JSON-encodes a 65,536-entry width table to hash an ID, writes and
// compresses a 128 KB CID map and a subset on every document) and offer no way to reuse that
// work. So a PDF uses the font as a simple TrueType font instead: the font file is a cut of the
// committed subset to the characters of the encoding (see cuts), made once per character set;
// ASCII keeps its own codes and the other characters the labels print get codes 127–255 of an
// encoding made for that PDF (a /Differences array naming each glyph uniXXXX, which is how
// viewers and pdftotext map the codes back to Unicode). When the labels of one PDF need more
// than 129 such characters, the labels are spread over several encodings, each with its cut; a
// single label that alone needs more uses fpdf's UTF-8 font.

const (
	firstCode = 127 // the first code of the characters beyond ASCII
	freeCodes = 256 - firstCode
)

// metrics is what the PDFs need of the embedded font, worked out once.
type metrics struct {
	widths map[rune]int // advance of every covered character, in 1/1000 em
	desc   fpdf.FontDescType
}

var font, fontErr = loadMetrics(fontTTF)

func loadMetrics(ttf []byte) (*metrics, error) {
	f, err := sfnt.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("label: embedded font: %w", err)
	}
	// fpdf's own reading of the font gives the widths and the descriptor, so that both ways of
	// embedding it measure text alike.
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddUTF8FontFromBytes(fontFamily, "", ttf)
	pdf.SetFont(fontFamily, "", 10)
	var buf sfnt.Buffer
	m := &metrics{widths: map[rune]int{}, desc: pdf.GetFontDesc(fontFamily, "")}
	for _, table := range unicode.GraphicRanges {
		for _, r16 := range table.R16 {
			for r := rune(r16.Lo); r <= rune(r16.Hi); r += rune(r16.Stride) {
				if g, err := f.GlyphIndex(&buf, r); err == nil && g != 0 {
					m.widths[r] = pdf.GetStringSymbolWidth(string(r))
				}
			}
		}
	}
	if err := pdf.Error(); err != nil {
		return nil, fmt.Errorf("label: embedded font: %w", err)
	}
	if len(m.widths) == 0 {
		return nil, errors.New("label: embedded font covers no characters")
	}
	// Nonsymbolic: viewers map codes to glyphs through the glyph names of the encoding.
	m.desc.Flags = 32
	return m, nil
}

// covered reports whether the font has a glyph for r.
func covered(r rune) bool {
	_, ok := font.widths[r]
	return ok
}

// width is the width in millimetres of s set in pt points.
func width(s string, pt float64) float64 {
	w := 0
	for _, r := range s {
		w += font.widths[r]
	}
	return float64(w) * pt / 1000 * 25.4 / 72
}

// face is the font as a group of labels uses it: an fpdf family and, for a simple font, the
// codes of its characters beyond ASCII (nil: the UTF-8 font, text as it is).
type face struct {
	family string
	codes  map[rune]byte
}

// enc turns text into the codes of the face.
func (f face) enc(s string) string {
	if f.codes == nil {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < firstCode:
			b = append(b, byte(r))
		case f.codes[r] != 0:
			b = append(b, f.codes[r])
		default: // not collected by runes: a bug, but print something rather than nothing
			b = append(b, '?')
		}
	}
	return string(b)
}

// addFaces gives every label a face, adding the fonts they need to pdf: labels share a simple
// font while its codes last; a label needing more than all of them gets the UTF-8 font.
func addFaces(pdf *fpdf.Fpdf, texts []labelText) ([]face, error) {
	faces := make([]face, len(texts))
	var cur face
	var utf8 *face
	n := 0
	for i, t := range texts {
		need := t.runes()
		if len(need) > freeCodes {
			if utf8 == nil {
				utf8 = &face{family: fontFamily + "U"}
				pdf.AddUTF8FontFromBytes(utf8.family, "", fontTTF)
			}
			faces[i] = *utf8
			continue
		}
		fresh := 0
		for _, r := range need {
			if cur.codes == nil || cur.codes[r] == 0 {
				fresh++
			}
		}
		if cur.codes == nil || len(cur.codes)+fresh > freeCodes {
			if cur.codes != nil {
				if err := addSimple(pdf, cur); err != nil {
					return nil, err
				}
			}
			n++
			cur = face{family: fmt.Sprintf("%s%d", fontFamily, n), codes: map[rune]byte{}}
		}
		for _, r := range need {
			if cur.codes[r] == 0 {
				cur.codes[r] = byte(firstCode + len(cur.codes))
			}
		}
		faces[i] = cur
	}
	if cur.codes != nil {
		if err := addSimple(pdf, cur); err != nil {
			return nil, err
		}
	}
	return faces, pdf.Error()
}

// addSimple adds f to pdf as a simple TrueType font of the embedded file with f's encoding.
func addSimple(pdf *fpdf.Fpdf, f face) error {
	byCode := make([]rune, 0, len(f.codes))
	for r := range f.codes {
		byCode = append(byCode, r)
	}
	slices.SortFunc(byCode, func(a, b rune) int { return int(f.codes[a]) - int(f.codes[b]) })
	file, err := cuts.get(byCode)
	if err != nil {
		return err
	}
	pdf.AddFontFromBytes(f.family, "", file.def, file.z)
	return nil
}

// fontDef is the definition of the simple font with the characters extra at codes 127 on,
// cut into file, as fpdf's own font files (makefont) write it.
func fontDef(extra []rune, file cutFile) ([]byte, error) {
	cw := make([]int, 256)
	for r := rune(32); r < firstCode; r++ {
		cw[r] = font.widths[r]
	}
	var diff strings.Builder
	fmt.Fprintf(&diff, "%d", firstCode)
	for i, r := range extra {
		cw[firstCode+i] = font.widths[r]
		fmt.Fprintf(&diff, " /uni%04X", r)
	}
	return json.Marshal(struct {
		Tp, Name     string
		Desc         fpdf.FontDescType
		Cw           []int
		Diff, File   string
		OriginalSize int
	}{"TrueType", fontFamily, font.desc, cw, diff.String(), file.name, file.size})
}

// A PDF embeds only the glyphs its labels can print: ASCII and the face's other characters,
// cut from the committed subset by fpdf's UTF8CutFont (about 10 KB compressed instead of the
// whole subset's 36 KB, which was most of a one-label PDF). Cutting takes about 2 ms, so the
// cuts are kept by the characters beyond ASCII: the labels of one partner and language print
// the same ones, so nearly every PDF finds its cut made.
var cuts = cutCache{m: map[string]cutFile{}}

var cutFont = fpdf.UTF8CutFont // a test draws with the whole font file to compare

type cutFile struct {
	name string // fpdf's key of the file: one per character set
	size int    // uncompressed
	z    []byte // zlib-compressed
	def  []byte // the font's definition (fontDef), made with the cut
}

type cutCache struct {
	mu sync.Mutex
	m  map[string]cutFile
}

const cutCacheSize = 256 // a few hundred character sets: partners × languages, and then some

// get is the cut of the font for ASCII and extra (the runes beyond it, in code order).
func (c *cutCache) get(extra []rune) (cutFile, error) {
	key := string(extra)
	c.mu.Lock()
	f, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	var set strings.Builder
	for r := rune(32); r < firstCode; r++ {
		set.WriteRune(r)
	}
	set.WriteString(key)
	ttf := cutFont(fontTTF, set.String())
	sum := sha256.Sum256([]byte(key))
	f = cutFile{name: fmt.Sprintf("DejaVuSans-%x.z", sum[:8]), size: len(ttf), z: deflated(ttf)}
	def, err := fontDef(extra, f)
	if err != nil {
		return cutFile{}, err
	}
	f.def = def
	c.mu.Lock()
	if len(c.m) >= cutCacheSize {
		clear(c.m)
	}
	c.m[key] = f
	c.mu.Unlock()
	return f, nil
}

func deflated(b []byte) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	return z.Bytes()
}
