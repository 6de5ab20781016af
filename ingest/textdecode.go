package ingest

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings decodeText may report.
const (
	EncUTF8        = "utf-8"
	EncUTF8BOM     = "utf-8-bom"
	EncUTF16       = "utf-16"   // with BOM
	EncUTF16LE     = "utf-16le" // without BOM
	EncUTF16BE     = "utf-16be" // without BOM
	EncWindows1253 = "windows-1253"
	EncISO8859_7   = "iso-8859-7"
	EncWindows1250 = "windows-1250"
	EncISO8859_2   = "iso-8859-2"
	EncWindows1252 = "windows-1252"
)

// legacyCandidate is a single-byte code page a partner's spreadsheet may have used, with the
// letters that are plausible in its languages.
type legacyCandidate struct {
	name    string
	enc     encoding.Encoding
	greek   bool
	letters func(rune) bool
}

// legacyCandidates in order of preference when they score alike: Greek and Romanian partners
// are the ones whose spreadsheets use legacy code pages; Windows-1252 covers French.
var legacyCandidates = []legacyCandidate{
	{EncWindows1253, charmap.Windows1253, true, isGreekLetter},
	{EncISO8859_7, charmap.ISO8859_7, true, isGreekLetter},
	{EncWindows1250, charmap.Windows1250, false, isRomanianLetter},
	{EncISO8859_2, charmap.ISO8859_2, false, isRomanianLetter},
	{EncWindows1252, charmap.Windows1252, false, isWesternLetter},
}

// sniffBytes is how much of a file the legacy code page guess looks at.
const sniffBytes = 64 << 10

// decodeText turns the bytes of a text attachment whose charset nobody declared into UTF-8:
// a BOM decides (UTF-8, UTF-16); else valid UTF-8 is taken as is; else UTF-16 without BOM is
// recognised by its zero bytes; else the Greek, Central European and Western code pages are
// tried and the one that gives the most plausible letters wins. It reports the encoding.
func decodeText(data []byte) (string, string) {
	b, enc := decodeBytes(data)
	return string(b), enc
}

// decodeBytes is decodeText without the copy into a string: UTF-8 input comes back as is.
func decodeBytes(data []byte) ([]byte, string) {
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		return data[3:], EncUTF8BOM
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}), bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return transformBytes(xunicode.BOMOverride(encoding.Nop.NewDecoder()), data), EncUTF16
	case looksUTF16(data, 1):
		return transformBytes(xunicode.UTF16(xunicode.LittleEndian, xunicode.IgnoreBOM).NewDecoder(), data), EncUTF16LE
	case looksUTF16(data, 0):
		return transformBytes(xunicode.UTF16(xunicode.BigEndian, xunicode.IgnoreBOM).NewDecoder(), data), EncUTF16BE
	case utf8.Valid(data):
		return data, EncUTF8
	}
	c := guessLegacy(data[:min(len(data), sniffBytes)])
	return transformBytes(c.enc.NewDecoder(), data), c.name
}

func transformBytes(t transform.Transformer, data []byte) []byte {
	out, _, err := transform.Bytes(t, data)
	if err != nil {
		// The decoders used here replace bad input rather than fail; keep the bytes if one does.
		return data
	}
	return out
}

// looksUTF16 recognises UTF-16 without a BOM: digits, delimiters and Latin letters put a zero
// high byte (at odd offsets for little endian, high = 1; even ones for big endian, high = 0)
// in a good part of the characters, and the low bytes are almost never zero. Text in UTF-8
// or a code page has no zero bytes at all.
func looksUTF16(data []byte, high int) bool {
	n := min(len(data), 4096) &^ 1
	if n < 4 {
		return false
	}
	highZero, lowZero := 0, 0
	for i := 0; i < n; i += 2 {
		if data[i+high] == 0 {
			highZero++
		}
		if data[i+1-high] == 0 {
			lowZero++
		}
	}
	pairs := n / 2
	return highZero*10 >= pairs*3 && lowZero*20 < pairs
}

// guessLegacy picks the code page under which sample reads most like real text.
func guessLegacy(sample []byte) legacyCandidate {
	best, bestScore := legacyCandidates[0], 0
	for i, c := range legacyCandidates {
		text, err := c.enc.NewDecoder().Bytes(sample)
		if err != nil {
			continue
		}
		if s := plausibility(string(text), c); i == 0 || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// plausibility scores decoded text: a non-ASCII letter of the code page's languages earns
// points when it sits where such letters sit (Greek letters among Greek letters, Romanian or
// French ones inside mostly-ASCII words); foreign letters, control characters and odd symbols
// cost points. Mis-decoded text is full of the latter.
func plausibility(text string, c legacyCandidate) int {
	score := 0
	var prev rune
	rs := []rune(text)
	for i, r := range rs {
		if r < 0x80 {
			prev = r
			continue
		}
		var next rune
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		asciiNeighbour := isASCIILetter(prev) || isASCIILetter(next)
		switch {
		case r == utf8.RuneError || r < 0xa0:
			score -= 4
		case unicode.IsLetter(r):
			switch {
			case !c.letters(r):
				score -= 2
			case c.greek && asciiNeighbour:
				score -= 2
			case c.greek || asciiNeighbour:
				score += 2
			}
		case !isCommonPunct(r):
			score--
		}
		prev = r
	}
	return score
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isGreekLetter(r rune) bool { return r >= 0x0386 && r <= 0x03ce }

func isRomanianLetter(r rune) bool {
	switch r {
	case 'ă', 'â', 'î', 'ş', 'ţ', 'ș', 'ț', 'Ă', 'Â', 'Î', 'Ş', 'Ţ', 'Ș', 'Ț':
		return true
	}
	return false
}

func isWesternLetter(r rune) bool {
	switch unicode.ToLower(r) {
	case 'à', 'â', 'æ', 'ç', 'é', 'è', 'ê', 'ë', 'î', 'ï', 'ô', 'œ', 'ù', 'û', 'ü', 'ÿ',
		'ä', 'ö', 'ß', 'ñ', 'á', 'í', 'ó', 'ú':
		return true
	}
	return false
}

// isCommonPunct lists the non-ASCII symbols ordinary business text uses.
func isCommonPunct(r rune) bool {
	switch r {
	case '\u00a0', '€', '«', '»', '‘', '’', '“', '”', '„', '–', '—', '…', '°', '·', '§', '©', '®', '±', '×', '²', '³', '½':
		return true
	}
	return false
}
