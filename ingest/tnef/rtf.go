package tnef

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Bounds of the body in RTF: Outlook's compressed RTF (PR_RTF_COMPRESSED) unpacks to at most
// MaxRTFBytes, and the text taken from it is at most MaxRTFText bytes. A body is a few KB; what
// goes past the bounds is cut, never held.
const (
	MaxRTFBytes = 4 << 20
	MaxRTFText  = 1 << 20
	maxRTFDepth = 256
)

// Compressed RTF (MS-OXRTFCP): a 16-byte header, then LZ77 runs against a 4096-byte
// dictionary that starts filled with this text.
const (
	rtfCompressed   = 0x75465a4c // "LZFu"
	rtfUncompressed = 0x414c454d // "MELA"
	rtfPrebuf       = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)

// DecompressRTF unpacks Outlook's compressed RTF. The output is at most MaxRTFBytes (and at most
// the size the header states); a stream cut short gives what was unpacked and an error.
func DecompressRTF(data []byte) ([]byte, error) {
	if len(data) < 16 {
		return nil, errors.New("tnef: compressed RTF header cut short")
	}
	compSize := binary.LittleEndian.Uint32(data[0:])
	rawSize := binary.LittleEndian.Uint32(data[4:])
	kind := binary.LittleEndian.Uint32(data[8:])
	in := data[16:]
	if uint64(compSize) >= 12 && uint64(compSize)-12 < uint64(len(in)) {
		in = in[:compSize-12]
	}
	limit := min(int(min(rawSize, MaxRTFBytes)), MaxRTFBytes)
	switch kind {
	case rtfUncompressed:
		return in[:min(len(in), limit)], nil
	case rtfCompressed:
	default:
		return nil, fmt.Errorf("tnef: compressed RTF of unknown kind %#08x", kind)
	}
	var dict [4096]byte
	copy(dict[:], rtfPrebuf)
	w := len(rtfPrebuf)
	out := make([]byte, 0, min(limit, 64<<10))
	for i := 0; i < len(in); {
		ctrl := in[i]
		i++
		for bit := 0; bit < 8; bit++ {
			if len(out) >= limit {
				return out, nil
			}
			if i >= len(in) {
				return out, errors.New("tnef: compressed RTF cut short")
			}
			if ctrl&(1<<bit) == 0 {
				out = append(out, in[i])
				dict[w] = in[i]
				w = (w + 1) % len(dict)
				i++
				continue
			}
			if i+1 >= len(in) {
				return out, errors.New("tnef: compressed RTF cut short")
			}
			ref := int(in[i])<<8 | int(in[i+1])
			i += 2
			off, n := ref>>4, ref&0xf+2
			if off == w {
				return out, nil // the reference to the write position ends the stream
			}
			for k := 0; k < n && len(out) < limit; k++ {
				b := dict[(off+k)%len(dict)]
				out = append(out, b)
				dict[w] = b
				w = (w + 1) % len(dict)
			}
		}
	}
	return out, nil
}

// rtfSkipped are the destinations whose content is no text of the body.
var rtfSkipped = map[string]bool{
	"fonttbl": true, "colortbl": true, "stylesheet": true, "info": true, "pict": true, "object": true,
	"header": true, "footer": true, "headerl": true, "headerr": true, "footerl": true, "footerr": true,
	"fldinst": true, "listtable": true, "listoverridetable": true, "rsidtbl": true, "generator": true,
	"xmlnstbl": true, "themedata": true, "colorschememapping": true, "datastore": true,
	"latentstyles": true, "filetbl": true, "revtbl": true, "mmathPr": true, "bkmkstart": true, "bkmkend": true,
}

// rtfBreaks are the HTML tags whose end or start is a line break, in RTF that Outlook made from
// HTML (\fromhtml: the tags are kept in \*\htmltag groups, the text outside \htmlrtf).
var rtfBreaks = []string{"<br", "<p", "</p", "<div", "</div", "</tr", "<li", "</li", "</h", "<hr", "</table"}

type rtfGroup struct {
	skip    bool // an ignored destination: nothing inside is text
	htmltag bool // a \*\htmltag group: its text is an HTML tag
	htmlrtf bool // \htmlrtf on: RTF only for display, no part of the HTML's text
	uc      int  // characters to skip after a \u
}

// RTFText is the plain text of an RTF document: paragraphs and line breaks as newlines, \'hh in
// the document's code page, \u as Unicode, font tables, pictures and other destinations left out;
// for RTF that Outlook encapsulated from HTML or text, the original text. At most MaxRTFText
// bytes; malformed RTF gives what could be read.
func RTFText(rtf []byte) string {
	var out strings.Builder
	cp := charmap.Windows1252
	stack := make([]rtfGroup, 1, 16)
	stack[0].uc = 1
	skipChars := 0 // after \u, the fallback characters still to drop
	tag := []byte(nil)
	emit := func(s string) {
		g := &stack[len(stack)-1]
		switch {
		case skipChars > 0:
			skipChars--
		case g.htmltag:
			if len(tag) < 256 {
				tag = append(tag, s...)
			}
		case g.skip || g.htmlrtf:
		default:
			out.WriteString(s[:min(len(s), MaxRTFText-out.Len())])
		}
	}
	for i := 0; i < len(rtf); {
		c := rtf[i]
		switch c {
		case '{':
			i++
			if len(stack) >= maxRTFDepth {
				continue // deeper groups are read as part of this one
			}
			g := stack[len(stack)-1]
			g.htmltag = false
			stack = append(stack, g)
			skipChars = 0
		case '}':
			i++
			if g := stack[len(stack)-1]; g.htmltag {
				t := strings.ToLower(string(tag))
				for _, b := range rtfBreaks {
					if strings.HasPrefix(t, b) {
						g.htmltag = false
						stack[len(stack)-1] = g
						emit("\n")
						break
					}
				}
				tag = tag[:0]
			}
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			skipChars = 0
		case '\r', '\n':
			i++
		case '\\':
			i++
			if i >= len(rtf) {
				break
			}
			c = rtf[i]
			if !isRTFLetter(c) { // a control symbol
				i++
				switch c {
				case '\\', '{', '}':
					emit(string(c))
				case '~':
					emit(" ")
				case '_':
					emit("-")
				case '*':
					stack[len(stack)-1].skip = true
				case '\'':
					if i+2 <= len(rtf) {
						if b, ok := hexByte(rtf[i], rtf[i+1]); ok {
							emit(string(cp.DecodeByte(b)))
						}
						i += 2
					}
				case '\r', '\n':
					emit("\n")
				}
				continue
			}
			start := i
			for i < len(rtf) && isRTFLetter(rtf[i]) && i-start < 32 {
				i++
			}
			word := string(rtf[start:i])
			param, hasParam := 0, false
			neg := i < len(rtf) && rtf[i] == '-'
			if neg {
				i++
			}
			for digits := 0; i < len(rtf) && rtf[i] >= '0' && rtf[i] <= '9'; digits++ {
				if digits < 9 {
					param = param*10 + int(rtf[i]-'0')
				}
				hasParam = true
				i++
			}
			if neg {
				param = -param
			}
			if i < len(rtf) && rtf[i] == ' ' {
				i++
			}
			g := &stack[len(stack)-1]
			switch word {
			case "par", "line", "sect", "row", "page":
				emit("\n")
			case "tab", "cell":
				emit("\t")
			case "emdash":
				emit("—")
			case "endash":
				emit("–")
			case "lquote", "rquote":
				emit("'")
			case "ldblquote", "rdblquote":
				emit("\"")
			case "bullet":
				emit("•")
			case "ansicpg":
				cp = rtfCodepage(param, cp)
			case "uc":
				g.uc = max(0, min(param, 8))
			case "u":
				if param < 0 {
					param += 65536
				}
				r := rune(param)
				if !utf8.ValidRune(r) {
					r = utf8.RuneError
				}
				emit(string(r))
				skipChars = g.uc
			case "htmlrtf":
				g.htmlrtf = !hasParam || param != 0
			case "htmltag":
				g.htmltag, g.skip = true, false
				tag = tag[:0]
			default:
				if rtfSkipped[word] {
					g.skip = true
				}
			}
		default:
			// Raw bytes: text in the document's code page (ASCII as is).
			j := i
			for j < len(rtf) && rtf[j] != '\\' && rtf[j] != '{' && rtf[j] != '}' && rtf[j] != '\r' && rtf[j] != '\n' {
				j++
			}
			chunk := rtf[i:j]
			i = j
			if c < ' ' && c != '\t' { // a control character (a NUL after the last brace, say) is no text
				i = i - len(chunk) + 1
				continue
			}
			for len(chunk) > 0 {
				if skipChars > 0 {
					skipChars--
					chunk = chunk[1:]
					continue
				}
				k := bytes.IndexFunc(chunk, func(r rune) bool { return r >= 0x80 })
				if k < 0 {
					k = len(chunk)
				}
				if k > 0 {
					emit(string(chunk[:k]))
					chunk = chunk[k:]
					continue
				}
				emit(string(cp.DecodeByte(chunk[0])))
				chunk = chunk[1:]
			}
		}
	}
	return tidyText(strings.ToValidUTF8(out.String(), "")) // the bound may cut a character
}

// tidyText drops spaces at line ends and keeps at most one blank line in a row.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\u00a0")
		if l == "" {
			if blank++; blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func isRTFLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func hexByte(a, b byte) (byte, bool) {
	h, ok1 := hexDigit(a)
	l, ok2 := hexDigit(b)
	return h<<4 | l, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// rtfCodepage is the charmap of \ansicpgN for the code pages partners' Outlooks use.
func rtfCodepage(n int, def *charmap.Charmap) *charmap.Charmap {
	switch n {
	case 1250:
		return charmap.Windows1250
	case 1251:
		return charmap.Windows1251
	case 1252:
		return charmap.Windows1252
	case 1253:
		return charmap.Windows1253
	case 1254:
		return charmap.Windows1254
	case 1257:
		return charmap.Windows1257
	case 28591:
		return charmap.ISO8859_1
	case 28592:
		return charmap.ISO8859_2
	case 28597:
		return charmap.ISO8859_7
	}
	return def
}
