package rules

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// monthNames maps month names and their usual abbreviations, folded (lower case, no accents),
// to the month: English, Greek (nominative and genitive), Romanian, French.
var monthNames = buildMonthNames([12][]string{
	{"january", "jan", "ιανουαριος", "ιανουαριου", "ιαν", "ianuarie", "ian", "janvier", "janv"},
	{"february", "feb", "φεβρουαριος", "φεβρουαριου", "φεβ", "februarie", "fevrier", "fevr", "fev"},
	{"march", "mar", "μαρτιος", "μαρτιου", "μαρ", "martie", "mars"},
	{"april", "apr", "απριλιος", "απριλιου", "απρ", "aprilie", "avril", "avr"},
	{"may", "μαιος", "μαιου", "μαι", "mai"},
	{"june", "jun", "ιουνιος", "ιουνιου", "ιουν", "iunie", "iun", "juin"},
	{"july", "jul", "ιουλιος", "ιουλιου", "ιουλ", "iulie", "iul", "juillet", "juil"},
	{"august", "aug", "αυγουστος", "αυγουστου", "αυγ", "aout"},
	{"september", "sep", "sept", "σεπτεμβριος", "σεπτεμβριου", "σεπ", "σεπτ", "septembrie", "septembre"},
	{"october", "oct", "οκτωβριος", "οκτωβριου", "οκτ", "octombrie", "octobre"},
	{"november", "nov", "νοεμβριος", "νοεμβριου", "νοε", "noiembrie", "noi", "novembre"},
	{"december", "dec", "δεκεμβριος", "δεκεμβριου", "δεκ", "decembrie", "decembre"},
})

func buildMonthNames(names [12][]string) map[string]int {
	m := map[string]int{}
	for i, list := range names {
		for _, n := range list {
			m[n] = i + 1
		}
	}
	return m
}

// maxLooseDate bounds what parseLooseDate looks at: a date is short.
const maxLooseDate = 64

// parseLooseDate reads the date shapes ParseDate's scanners do not: two-digit years (day
// first), ISO with a time and zone, year first with "/" or ".", and dates with a month name
// ("2 May 2026", "May 2, 2026", "1er mai 2026", "02-Μαΐου-2026").
func parseLooseDate(v string) (y, m, d int, ok bool) {
	if len(v) > maxLooseDate {
		return 0, 0, 0, false
	}
	// ISO with a time: 2026-03-21T10:30:00Z, 2026-03-21 10:30:00.000+02:00.
	if len(v) > 10 && (v[10] == 'T' || v[10] == ' ') {
		if y, m, d, ok := scanISODate(v[:10]); ok && looksLikeTime(v[11:]) {
			return y, m, d, true
		}
	}
	tokens := strings.FieldsFunc(foldDate(v), func(r rune) bool {
		return r == ' ' || r == '.' || r == ',' || r == '-' || r == '/' || r == '\u00a0'
	})
	if len(tokens) != 3 {
		return 0, 0, 0, false
	}
	var nums []string
	month, monthAt := 0, -1
	for i, t := range tokens {
		if n, ok := monthNames[t]; ok && month == 0 {
			month, monthAt = n, i
			continue
		}
		t = strings.TrimRight(t, "abcdefghijklmnopqrstuvwxyz") // 1er, 2nd, 3rd, 21st
		if !allDigits(t) || len(t) > 4 {
			return 0, 0, 0, false
		}
		nums = append(nums, t)
	}
	if monthAt < 0 {
		// All numbers: day first with a two-digit year, or year first.
		switch {
		case !sameSeparators(v) || !isDigit(v[0]):
			return 0, 0, 0, false
		case len(nums[0]) == 4 && len(nums[1]) <= 2 && len(nums[2]) <= 2:
			return atoi(nums[0]), atoi(nums[1]), atoi(nums[2]), true
		case len(nums[0]) <= 2 && len(nums[1]) <= 2 && len(nums[2]) == 2:
			return twoDigitYear(atoi(nums[2])), atoi(nums[1]), atoi(nums[0]), true
		}
		return 0, 0, 0, false
	}
	// With a month name: the 4-digit (or 2-digit last) number is the year, the other the day.
	day, year := nums[0], nums[1]
	if len(day) == 4 {
		day, year = year, day
	}
	if len(day) > 2 || (len(year) != 4 && len(year) != 2) {
		return 0, 0, 0, false
	}
	y = atoi(year)
	if len(year) == 2 {
		y = twoDigitYear(y)
	}
	return y, month, atoi(day), true
}

// sameSeparators reports that a numeric date uses one separator throughout (21.03.26, not
// 21.03/26).
func sameSeparators(v string) bool {
	var sep rune
	for _, r := range v {
		if r >= '0' && r <= '9' {
			continue
		}
		if sep == 0 {
			sep = r
		} else if r != sep {
			return false
		}
	}
	return sep == '.' || sep == '/' || sep == '-'
}

// twoDigitYear reads 26 as 2026 and 99 as 1999 (as strptime's %y does: 69–99 are the 1900s).
func twoDigitYear(y int) int {
	if y < 69 {
		return 2000 + y
	}
	return 1900 + y
}

func atoi(s string) int {
	n, _ := atoiStrict(s)
	return n
}

// looksLikeTime accepts what follows an ISO date's T or space: H:MM or HH:MM, optional :SS
// and fraction, then optionally Z or an offset (+02:00, -0500).
func looksLikeTime(s string) bool {
	h, rest, ok := digits(s, 1, 2)
	if !ok || h > 23 || rest == "" || rest[0] != ':' {
		return false
	}
	mi, rest, ok := digits(rest[1:], 2, 2)
	if !ok || mi > 59 {
		return false
	}
	if rest != "" && rest[0] == ':' {
		if _, rest, ok = digits(rest[1:], 2, 2); !ok {
			return false
		}
		if rest != "" && (rest[0] == '.' || rest[0] == ',') {
			if _, rest, ok = digits(rest[1:], 1, 9); !ok {
				return false
			}
		}
	}
	rest = strings.TrimPrefix(rest, " ")
	switch {
	case rest == "" || rest == "Z":
		return true
	case rest[0] == '+' || rest[0] == '-':
		_, r, ok := digits(rest[1:], 2, 2)
		if ok && r != "" && r[0] == ':' {
			r = r[1:]
		}
		if ok && r != "" {
			_, r, ok = digits(r, 2, 2)
		}
		return ok && r == ""
	}
	return false
}

// foldDate lower-cases a date and strips its accents (Μαΐου → μαιου, février → fevrier).
func foldDate(s string) string {
	out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		out = s
	}
	out = strings.ToLower(out)
	return strings.ReplaceAll(out, "ς", "σ")
}
