package ingest

import (
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// stripMarks removes combining marks after canonical decomposition: é → e, ά → α, and both
// Romanian ş (cedilla, what Windows-1250 has) and ș (comma below, the correct letter) → s.
var stripMarks = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// fold reduces a label or keyword to a comparable key: lower case, no diacritics (Greek tonos
// too), final sigma as sigma, apostrophes and dots dropped ("d'achat" = "dachat", "Nr." =
// "nr", "S/N" = "sn"), every other non-letter/digit a single space, trimmed.
func fold(s string) string {
	if isPlainASCIIKey(s) {
		return foldASCII(s)
	}
	t := stripMarks.Get().(transform.Transformer)
	t.Reset()
	stripped, _, err := transform.String(t, s)
	stripMarks.Put(t)
	if err != nil {
		stripped = s
	}
	var b strings.Builder
	b.Grow(len(stripped))
	space := false
	for _, r := range stripped {
		switch {
		case r == '\'' || r == '’' || r == '`' || r == '´' || r == '.' || r == '/' || r == '\u0384':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			r = unicode.ToLower(r)
			if r == 'ς' {
				r = 'σ'
			}
			b.WriteRune(r)
		default:
			space = true
		}
	}
	return b.String()
}

// isPlainASCIIKey reports whether s is ASCII, so fold can skip Unicode normalisation (the CSV
// header and command hot paths are mostly ASCII).
func isPlainASCIIKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func foldASCII(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '`' || c == '.' || c == '/':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			fallthrough
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
			b = append(b, c)
		default:
			space = true
		}
	}
	return string(b)
}

// spaceReplacer turns the spaces mail clients and spreadsheets use for layout into plain ones,
// and drops invisible characters that would split a label ("EAN\u200b:").
var spaceReplacer = strings.NewReplacer(
	"\u00a0", " ", "\u202f", " ", "\u2007", " ", "\u2009", " ", "\u3000", " ",
	"\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "", "\u00ad", "",
)

// cleanValue trims a field value and normalises its spaces.
func cleanValue(s string) string {
	if needsSpaceReplace(s) {
		s = spaceReplacer.Replace(s)
	}
	return strings.TrimSpace(s)
}

// needsSpaceReplace is a cheap pre-check: every replaced character is UTF-8 led by one of
// these bytes, which Greek, Romanian and French letters never use.
func needsSpaceReplace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0xc2, 0xe2, 0xe3, 0xef:
			return true
		}
	}
	return false
}
