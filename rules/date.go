package rules

import (
	"fmt"
	"regexp"
	"strconv"
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
const DateFormats = "YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY, DD-MM-YYYY"

var (
	isoDateRe = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$`)
	// Day first, as everywhere the partners are (SPEC §1.2); one separator kind per date.
	dmyDateRe = regexp.MustCompile(`^([0-9]{1,2})([./-])([0-9]{1,2})([./-])([0-9]{4})$`)
	// Spreadsheets sometimes append a midnight time to a date cell.
	timeSuffixRe = regexp.MustCompile(`[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$`)
)

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
// is ignored. The day must exist (31.02.2026 is refused). The result is midnight UTC of that day.
// Errors are *DateError.
func ParseDate(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, &DateError{Value: s, Reason: DateReasonMissing}
	}
	v = strings.TrimSpace(timeSuffixRe.ReplaceAllString(v, ""))
	var ys, ms, ds string
	if m := isoDateRe.FindStringSubmatch(v); m != nil {
		ys, ms, ds = m[1], m[2], m[3]
	} else if m := dmyDateRe.FindStringSubmatch(v); m != nil && m[2] == m[4] {
		ds, ms, ys = m[1], m[3], m[5]
	} else {
		return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonFormat}
	}
	y, _ := strconv.Atoi(ys)
	mo, _ := strconv.Atoi(ms)
	d, _ := strconv.Atoi(ds)
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	// time.Date normalises 31.02 into March: a changed day or month means no such date.
	if t.Year() != y || t.Month() != time.Month(mo) || t.Day() != d {
		return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonCalendar}
	}
	return t, nil
}

// civilDate is the calendar day of t in its own location, as midnight UTC, so that it compares
// with dates from ParseDate.
func civilDate(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// AddMonths adds calendar months to a date, keeping the day of month where it exists and
// otherwise taking the month's last day (2024-01-31 + 1 month = 2024-02-29, not March 2).
func AddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}
