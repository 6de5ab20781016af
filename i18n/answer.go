package i18n

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/rmad/rmad/rma"
)

// EstimateAnswer reads a partner's answer to a repair estimate from the first word of text (the
// reply's own text, quotes removed): the estimate.word.accept or estimate.word.decline of any
// locale, in any case, accents and trailing punctuation ignored ("Αποδοχή.", "accept!",
// "Refuz"). Any other first word is no answer.
func EstimateAnswer(text string) (rma.EstimateAnswer, bool) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return "", false
	}
	word := foldWord(strings.TrimFunc(fields[0], func(r rune) bool { return !unicode.IsLetter(r) }))
	if word == "" {
		return "", false
	}
	for _, loc := range Locales {
		l := Lang(loc)
		for _, a := range []rma.EstimateAnswer{rma.EstimateAccept, rma.EstimateDecline} {
			if foldWord(l.T("estimate.word."+string(a))) == word {
				return a, true
			}
		}
	}
	return "", false
}

// EstimateWords are the locale's answer words, for telling the partner what to write.
func (l Lang) EstimateWords() (accept, decline string) {
	return l.T("estimate.word.accept"), l.T("estimate.word.decline")
}

// foldWord upper-cases a word and drops its accents (ΑΠΟΔΟΧΉ → ΑΠΟΔΟΧΗ, ACCEPTÉ → ACCEPTE).
func foldWord(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ToUpper(out)
}
