package rules

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rmad/rmad/internal/testenv"
)

// The hand-written scanners of ParseDate, CheckEAN, claimKey, faultKey, descriptionShorter and
// NormalizeIBAN replaced regular expressions and allocating one-liners (they run for every
// item of a submission). These tests hold them to the originals, kept here as references.

var (
	refISODateRe    = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$`)
	refDMYDateRe    = regexp.MustCompile(`^([0-9]{1,2})([./-])([0-9]{1,2})([./-])([0-9]{4})$`)
	refTimeSuffixRe = regexp.MustCompile(`[ T][0-9]{1,2}:[0-9]{2}(:[0-9]{2})?$`)
	refScientificRe = regexp.MustCompile(`^[0-9]+(?:[.,][0-9]+)?[eE]\+?[0-9]+$`)
)

// refParseDate is ParseDate as it was written with regular expressions.
func refParseDate(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, &DateError{Value: s, Reason: DateReasonMissing}
	}
	v = strings.TrimSpace(refTimeSuffixRe.ReplaceAllString(v, ""))
	var ys, ms, ds string
	if m := refISODateRe.FindStringSubmatch(v); m != nil {
		ys, ms, ds = m[1], m[2], m[3]
	} else if m := refDMYDateRe.FindStringSubmatch(v); m != nil && m[2] == m[4] {
		ds, ms, ys = m[1], m[3], m[5]
	} else {
		return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonFormat}
	}
	y, _ := strconv.Atoi(ys)
	mo, _ := strconv.Atoi(ms)
	d, _ := strconv.Atoi(ds)
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || t.Month() != time.Month(mo) || t.Day() != d {
		return time.Time{}, &DateError{Value: strings.TrimSpace(s), Reason: DateReasonCalendar}
	}
	return t, nil
}

func refClaimKey(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Join(strings.FieldsFunc(s, isKeySeparator), "_")
}

func refFaultKey(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), isKeySeparator), " ")
}

func refDescriptionLen(s string) int {
	return utf8.RuneCountInString(strings.Join(strings.Fields(s), " "))
}

func refNormalizeIBAN(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// checkScanners compares every scanner with its reference on s.
func checkScanners(t *testing.T, s string) {
	t.Helper()
	got, gotErr := ParseDate(s)
	want, wantErr := refParseDate(s)
	if _, _, _, loose := parseLooseDate(strings.TrimSpace(s)); wantErr != nil && loose {
		// A shape the references never read (two-digit year, month name, ISO with a zone):
		// parseLooseDate's own tests cover it.
		wantErr, want = gotErr, got
	}
	if !got.Equal(want) || (gotErr == nil) != (wantErr == nil) || gotErr != nil && *gotErr.(*DateError) != *wantErr.(*DateError) {
		t.Errorf("ParseDate(%q) = %v, %v; reference %v, %v", s, got, gotErr, want, wantErr)
	}
	if v := strings.TrimSpace(s); isScientific(v) != refScientificRe.MatchString(v) {
		t.Errorf("isScientific(%q) = %v; reference %v", v, isScientific(v), refScientificRe.MatchString(v))
	}
	if got, want := claimKey(s), refClaimKey(s); got != want {
		t.Errorf("claimKey(%q) = %q; reference %q", s, got, want)
	}
	if got, want := faultKey(s), refFaultKey(s); got != want {
		t.Errorf("faultKey(%q) = %q; reference %q", s, got, want)
	}
	n := refDescriptionLen(s)
	for min := range 20 {
		if got, want := descriptionShorter(s, min), n < min; got != want {
			t.Errorf("descriptionShorter(%q, %d) = %v; reference %v", s, min, got, want)
		}
	}
	if got, want := NormalizeIBAN(s), refNormalizeIBAN(s); got != want {
		t.Errorf("NormalizeIBAN(%q) = %q; reference %q", s, got, want)
	}
}

var scannerSeeds = []string{
	"", " ", "2026-03-21", "21.03.2026", "21/03/2026", "21-03-2026", "1-12-2026", "4.5.2026",
	" 2026-3-1 ", "21.03.2026 00:00", "2026-03-21 00:00:00", "2026-03-21T10:00", "2026-03-21T1:00:00",
	"2026-03-21 10:00 1:00", "2026-03-21 123:00", "2026-03-21 :00", "21.03.2026  0:00", "21.03.2026 00:00:0",
	"21.03/2026", "21.03.26", "2026/03/21", "46102", "31.02.2026", "0000-00-00", "99.99.9999", "2026-003-01",
	"5.90123E+12", "5,90123E+12", "5.90123e12", "6E+12", "5.E+12", ".5E12", "5e", "e5", "5E++12", "5.9,1E2",
	"5E+1E2", "Fast refund", "fast-refund", "FAST_REFUND", "fast__refund", "_fast", "fast_", "dji care",
	"gimbal error", "Gimbal_Error", " gimbal  error ", "gimbal\terror", "GR16 0110 1250 0000 0001 2300 695",
	"GR1601101250000000012300695", "gr16", "Nu pornește,\u00a0LED-ul  clipește\n", "\xff\xfe a", "a\xe2\x82 b",
}

func TestScannersMatchReferences(t *testing.T) {
	for _, s := range scannerSeeds {
		checkScanners(t, s)
	}
	// Random strings over the characters the shapes are made of.
	const alphabet = "0123456789012345.-/: T:-.0123_ eE+,aZ\t"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 30000 {
		b := make([]byte, rng.IntN(22))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkScanners(t, string(b))
		checkScanners(t, dateLike(rng))
		if t.Failed() {
			return
		}
	}
}

// dateLike makes strings near the date shapes: groups of digits, separators, a time of day.
func dateLike(rng *rand.Rand) string {
	var b strings.Builder
	digits := func(max int) {
		for range rng.IntN(max + 1) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
	}
	seps := ".-/: T"
	for i := range 1 + rng.IntN(4) {
		if i > 0 {
			b.WriteByte(seps[rng.IntN(len(seps))])
		}
		digits(5)
	}
	if rng.IntN(2) == 0 {
		b.WriteByte(" T"[rng.IntN(2)])
		digits(3)
		b.WriteByte(':')
		digits(3)
		if rng.IntN(2) == 0 {
			b.WriteByte(':')
			digits(3)
		}
	}
	return b.String()
}

func FuzzScannersMatchReferences(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkScanners(t, s) })
}

// refAddMonths is AddMonths as it was written with time.Time's own arithmetic.
func refAddMonths(t time.Time, months int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

func TestAddMonthsMatchesReference(t *testing.T) {
	athens := testenv.Athens
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		loc := []*time.Location{time.UTC, athens}[rng.IntN(2)]
		from := time.Date(rng.IntN(2400)-200, time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1e9), loc)
		months := rng.IntN(400) - 100
		if got, want := AddMonths(from, months), refAddMonths(from, months); !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("AddMonths(%v, %d) = %v; reference %v", from, months, got, want)
		}
	}
}
