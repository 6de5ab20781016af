package rules

import (
	"fmt"
	"strings"
	"time"
)

// Date problem reasons (Params["reason"] of a date_invalid problem, and DateError.Reason).
const (
	DateReasonMissing  = "missing"
	DateReasonFormat   = "format"   // not one of the accepted shapes
	DateReasonCalendar = "calendar" // right shape, but no such day (31.02.2026)
)

// DateFormats lists the accepted shapes, for messages.
const DateFormats = "YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY, DD-MM-YYYY, DD.MM.YY, 2 May 2026 (month names in English, Greek, Romanian or French)"

// DateError says why ParseDate refused a value.
type DateError struct {
	Value  string
	Reason string // DateReasonMissing, DateReasonFormat or DateReasonCalendar
}

func (e *DateError) Error() string {
	switch e.Reason {
	case DateReasonMissing:
		return "date missing"
	case DateReasonCalendar:
		return fmt.Sprintf("date %q does not exist in the calendar", e.Value)
	}
	return fmt.Sprintf("date %q: want one of %s", e.Value, DateFormats)
}

// ParseDate reads a calendar date as partners and spreadsheets write it: 2026-03-21,
// 21.03.2026, 21/03/2026 or 21-03-2026 (day first), optionally followed by a time of day, which
// is ignored; also (see parseLooseDate) two-digit years (02/05/26, day first, 20xx), ISO dates
// with any time and zone (2026-03-21T10:30:00+02:00), year first with dots or slashes, and
// month names in English, Greek, Romanian and French (2 May 2026, 2 Μαΐου 2026, 2 mai 2026,
// May 2, 2026). The day must exist (31.02.2026 is refused). The result is midnight UTC of that
// day. Errors are *DateError.
func ParseDate(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, &DateError{Value: s, Reason: DateReasonMissing}
	}
	y, mo, d, ok := scanDate(strings.TrimSpace(trimTimeOfDay(v)))
	if !ok {
		// The shapes most files use are scanned above; the rest only when those fail.
		if y, mo, d, ok = parseLooseDate(v); !ok {
			return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonFormat}
		}
	}
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	// time.Date normalises 31.02 into March: a changed day or month means no such date.
	if t.Year() != y || t.Month() != time.Month(mo) || t.Day() != d {
		return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonCalendar}
	}
	return t, nil
}

// The scanners below replace regular expressions: ParseDate runs for every item of a
// submission, and a CSV may have thousands of rows. They accept exactly what these did:
//
//	time of day:  [ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$
//	ISO:          ^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$
//	day first:    ^([0-9]{1,2})([./-])([0-9]{1,2})([./-])([0-9]{4})$, both separators alike
//
// rules/scan_test.go keeps the expressions and checks the scanners against them.

// trimTimeOfDay removes a time of day (" 00:00", "T00:00:00") that spreadsheets sometimes
// append to a date cell; v is returned unchanged when it ends in none.
func trimTimeOfDay(v string) string {
	if n := len(v); n >= 3 && v[n-3] == ':' && trailingDigits(v, 2) == 2 {
		if date, ok := cutHourMinute(v[:n-3]); ok { // with seconds
			return date
		}
	}
	if date, ok := cutHourMinute(v); ok {
		return date
	}
	return v
}

// cutHourMinute removes "[ T]H:MM" or "[ T]HH:MM" from the end of v.
func cutHourMinute(v string) (string, bool) {
	n := len(v)
	if n < 5 || v[n-3] != ':' || trailingDigits(v, 2) != 2 {
		return v, false
	}
	h := trailingDigits(v[:n-3], 2)
	if h == 0 || n-3-h < 1 {
		return v, false
	}
	if c := v[n-4-h]; c != ' ' && c != 'T' {
		return v, false
	}
	return v[:n-4-h], true
}

// trailingDigits counts the ASCII digits at the end of s, up to max.
func trailingDigits(s string, max int) int {
	n := 0
	for n < max && n < len(s) && isDigit(s[len(s)-1-n]) {
		n++
	}
	return n
}

// scanDate reads the ISO (year first) or the day-first shape; ok is false for anything else.
func scanDate(v string) (y, m, d int, ok bool) {
	if y, m, d, ok := scanISODate(v); ok {
		return y, m, d, true
	}
	d, rest, ok := digits(v, 1, 2)
	if !ok || rest == "" || !isDateSep(rest[0]) {
		return 0, 0, 0, false
	}
	sep := rest[0]
	m, rest, ok = digits(rest[1:], 1, 2)
	if !ok || rest == "" || rest[0] != sep {
		return 0, 0, 0, false
	}
	y, rest, ok = digits(rest[1:], 4, 4)
	if !ok || rest != "" {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// scanISODate reads YYYY-M-D (one or two digits for month and day).
func scanISODate(v string) (y, m, d int, ok bool) {
	y, rest, ok := digits(v, 4, 4)
	if !ok || rest == "" || rest[0] != '-' {
		return 0, 0, 0, false
	}
	m, rest, ok = digits(rest[1:], 1, 2)
	if !ok || rest == "" || rest[0] != '-' {
		return 0, 0, 0, false
	}
	d, rest, ok = digits(rest[1:], 1, 2)
	if !ok || rest != "" {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// digits reads min to max leading ASCII digits of s as a number and returns what follows
// them. Like the expressions' greedy [0-9]{1,2}, it takes every digit there is, up to max.
func digits(s string, min, max int) (n int, rest string, ok bool) {
	i := 0
	for i < max && i < len(s) && isDigit(s[i]) {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, s[i:], i >= min
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDateSep(c byte) bool { return c == '.' || c == '/' || c == '-' }

// civilDate is the calendar day of t in its own location, as midnight UTC, so that it compares
// with dates from ParseDate.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// AddMonths adds calendar months to a date, keeping the day of month where it exists and
// otherwise taking the month's last day (2024-01-31 + 1 month = 2024-02-29, not March 2).
// The month arithmetic is done on numbers, so that it costs one time.Date per item.
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	mi := int(m) - 1 + months // months since January of year y
	y += mi / 12
	if mi %= 12; mi < 0 {
		y, mi = y-1, mi+12
	}
	month := time.Month(mi + 1)
	hh, mm, ss := t.Clock()
	return time.Date(y, month, min(d, daysIn(y, month)), hh, mm, ss, t.Nanosecond(), t.Location())
}

// daysIn is the number of days of a month of the (proleptic Gregorian) calendar.
func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
