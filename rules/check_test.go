package rules

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestCheckEAN(t *testing.T) {
	tests := []struct {
		in     string
		reason string // "" = valid
		params map[string]string
	}{
		{in: "5204001000013"},
		{in: "0810088000058"},
		{in: "4006381333931"},
		{in: "  6903466000031 "},
		{in: "", reason: EANReasonMissing},
		{in: "   ", reason: EANReasonMissing},
		{in: "5.90123E+12", reason: EANReasonScientific, params: map[string]string{"value": "5.90123E+12", "expanded": "5901230000000"}},
		{in: "5,90123E+12", reason: EANReasonScientific},
		{in: "5.90123e12", reason: EANReasonScientific},
		{in: "6E+12", reason: EANReasonScientific, params: map[string]string{"expanded": "6000000000000"}},
		{in: "5204001000016", reason: EANReasonCheckDigit, params: map[string]string{"expected_check": "3", "value": "5204001000016"}},
		{in: "4006381333932", reason: EANReasonCheckDigit, params: map[string]string{"expected_check": "1"}},
		{in: "520400100001", reason: EANReasonLength},
		{in: "52040010000133", reason: EANReasonLength},
		// A spreadsheet dropped the leading zero: the padded value is suggested.
		{in: "810088000058", reason: EANReasonLength, params: map[string]string{"suggestion": "0810088000058"}},
		{in: "5204-00100001", reason: EANReasonNotDigits},
		{in: "520400100001O", reason: EANReasonNotDigits},
		{in: "５２０４００１００００１３", reason: EANReasonNotDigits}, // full-width digits are not ASCII digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p := CheckEAN(tt.in)
			if tt.reason == "" {
				if p != nil {
					t.Fatalf("CheckEAN(%q) = %+v, want valid", tt.in, *p)
				}
				return
			}
			if p == nil {
				t.Fatalf("CheckEAN(%q) = valid, want reason %s", tt.in, tt.reason)
			}
			if p.Code != "ean_invalid" || p.Field != "ean" {
				t.Errorf("code/field = %s/%s, want ean_invalid/ean", p.Code, p.Field)
			}
			if got := p.Params["reason"]; got != tt.reason {
				t.Errorf("reason = %q, want %q", got, tt.reason)
			}
			for k, v := range tt.params {
				if p.Params[k] != v {
					t.Errorf("Params[%q] = %q, want %q", k, p.Params[k], v)
				}
			}
		})
	}
}

// makeIBAN computes the check digits of an IBAN with math/big, independently of ibanMod97.
func makeIBAN(country, bban string) string {
	var digits strings.Builder
	for _, c := range bban + country + "00" {
		if c >= 'A' && c <= 'Z' {
			digits.WriteString(big.NewInt(int64(c-'A') + 10).String())
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return country + string(rune('0'+check/10)) + string(rune('0'+check%10)) + bban
}

func TestCheckIBAN(t *testing.T) {
	tests := []struct {
		name, in string
		reason   string // "" = valid
		params   map[string]string
	}{
		{name: "GR example", in: "GR16 0110 1250 0000 0001 2300 695"},
		{name: "RO example", in: "RO49 AAAA 1B31 0075 9384 0000"},
		{name: "FR example", in: "FR14 2004 1010 0505 0001 3M02 606"},
		{name: "CY example", in: "CY17 0020 0128 0000 0012 0052 7600"},
		{name: "DE example", in: "DE89370400440532013000"},
		{name: "GB example lower case", in: "gb82 west 1234 5698 7654 32"},
		{name: "GR computed", in: makeIBAN("GR", "01720110000000001234567")},
		{name: "RO computed", in: makeIBAN("RO", "BTRL01304205S12345XX")},
		{name: "FR computed", in: makeIBAN("FR", "30006000011234567890189")},
		{name: "CY computed", in: makeIBAN("CY", "002001280000001200527600")},
		{name: "empty", in: "", reason: IBANReasonCountry},
		{name: "unknown country", in: "XX82WEST12345698765432", reason: IBANReasonCountry, params: map[string]string{"country": "XX"}},
		{name: "digits first", in: "1682WEST12345698765432", reason: IBANReasonCountry},
		{name: "GR too short", in: "GR16 0110 1250 0000 0001 2300 69", reason: IBANReasonLength, params: map[string]string{"country": "GR", "expected_length": "27"}},
		{name: "RO too long", in: "RO49 AAAA 1B31 0075 9384 0000 1", reason: IBANReasonLength, params: map[string]string{"expected_length": "24"}},
		{name: "CY too short", in: "CY17002001280000001200527", reason: IBANReasonLength, params: map[string]string{"expected_length": "28"}},
		{name: "FR typo", in: "FR14 2004 1010 0505 0001 3M02 607", reason: IBANReasonChecksum},
		{name: "GR swapped digits", in: "GR16 0110 1250 0000 0001 2300 659", reason: IBANReasonChecksum},
		{name: "CY wrong check digits", in: "CY18 0020 0128 0000 0012 0052 7600", reason: IBANReasonChecksum},
		{name: "letters as check digits", in: "GRAB 0110 1250 0000 0001 2300 695", reason: IBANReasonChecksum},
		{name: "punctuation", in: "GR16-0110-1250-0000-0001-2300-695", reason: IBANReasonChars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := CheckIBAN(tt.in)
			if tt.reason == "" {
				if p != nil {
					t.Fatalf("CheckIBAN(%q) = %+v, want valid", tt.in, *p)
				}
				return
			}
			if p == nil {
				t.Fatalf("CheckIBAN(%q) = valid, want reason %s", tt.in, tt.reason)
			}
			if p.Code != "iban_invalid" || p.Field != "iban" || p.Params["reason"] != tt.reason {
				t.Errorf("got %+v, want iban_invalid/iban reason %s", *p, tt.reason)
			}
			for k, v := range tt.params {
				if p.Params[k] != v {
					t.Errorf("Params[%q] = %q, want %q", k, p.Params[k], v)
				}
			}
		})
	}
}

func TestIBANLengthsTable(t *testing.T) {
	// Sanity of the registry table: the countries partners come from, and no absurd lengths.
	for cc, want := range map[string]int{"GR": 27, "RO": 24, "FR": 27, "CY": 28, "BG": 22, "DE": 22, "IT": 27, "NO": 15, "RU": 33} {
		if got := ibanLengths[cc]; got != want {
			t.Errorf("ibanLengths[%s] = %d, want %d", cc, got, want)
		}
	}
	for cc, n := range ibanLengths {
		if !isCountryCode(cc) || n < 15 || n > 34 {
			t.Errorf("ibanLengths[%q] = %d: not a plausible entry", cc, n)
		}
	}
}

func TestParseDate(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in     string
		want   time.Time
		reason string
	}{
		{in: "2026-03-21", want: day(2026, 3, 21)},
		{in: "21.03.2026", want: day(2026, 3, 21)},
		{in: "21/03/2026", want: day(2026, 3, 21)},
		{in: "21-03-2026", want: day(2026, 3, 21)},
		{in: "4.5.2026", want: day(2026, 5, 4)},
		{in: "04/05/2026", want: day(2026, 5, 4)}, // day first: 4 May, not 5 April
		{in: " 2026-3-1 ", want: day(2026, 3, 1)},
		{in: "21.03.2026 00:00", want: day(2026, 3, 21)},
		{in: "2026-03-21 00:00:00", want: day(2026, 3, 21)},
		{in: "29.02.2028", want: day(2028, 2, 29)},
		{in: "", reason: DateReasonMissing},
		{in: "  ", reason: DateReasonMissing},
		{in: "31.02.2026", reason: DateReasonCalendar},
		{in: "29.02.2026", reason: DateReasonCalendar},
		{in: "2026-02-30", reason: DateReasonCalendar},
		{in: "31/04/2026", reason: DateReasonCalendar},
		{in: "00.01.2026", reason: DateReasonCalendar},
		{in: "12.13.2026", reason: DateReasonCalendar},
		{in: "2026-13-01", reason: DateReasonCalendar},
		{in: "21.03/2026", reason: DateReasonFormat}, // mixed separators
		{in: "21.03.26", want: day(2026, 3, 21)},     // two-digit year, day first
		{in: "02/05/26", want: day(2026, 5, 2)},
		{in: "2-5-99", want: day(1999, 5, 2)},
		{in: "21.03/26", reason: DateReasonFormat}, // mixed separators
		{in: "March 21, 2026", want: day(2026, 3, 21)},
		{in: "2 May 2026", want: day(2026, 5, 2)},
		{in: "2nd May 2026", want: day(2026, 5, 2)},
		{in: "02-May-26", want: day(2026, 5, 2)},
		{in: "2 Μαΐου 2026", want: day(2026, 5, 2)},
		{in: "15 Αυγούστου 2026", want: day(2026, 8, 15)},
		{in: "3 Φεβ 2026", want: day(2026, 2, 3)},
		{in: "2 mai 2026", want: day(2026, 5, 2)},
		{in: "12 noiembrie 2026", want: day(2026, 11, 12)},
		{in: "1er février 2026", want: day(2026, 2, 1)},
		{in: "14 juillet 2026", want: day(2026, 7, 14)},
		{in: "2026/03/21", want: day(2026, 3, 21)},
		{in: "2026.03.21", want: day(2026, 3, 21)},
		{in: "2026-03-21T10:30:00Z", want: day(2026, 3, 21)},
		{in: "2026-03-21T10:30:00.123+02:00", want: day(2026, 3, 21)},
		{in: "2026-03-21 10:30 -0500", want: day(2026, 3, 21)},
		{in: "2026-03-21 123:00", reason: DateReasonFormat},
		{in: "31 February 2026", reason: DateReasonCalendar},
		{in: "30 Φεβρουαρίου 2026", reason: DateReasonCalendar},
		{in: "31.04.26", reason: DateReasonCalendar},
		{in: "2 Smarch 2026", reason: DateReasonFormat},
		{in: "May 2026", reason: DateReasonFormat},
		{in: "2 May 3 2026", reason: DateReasonFormat},
		{in: "46102", reason: DateReasonFormat}, // a spreadsheet serial date
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if tt.reason == "" {
				if err != nil || !got.Equal(tt.want) {
					t.Fatalf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			var de *DateError
			if !errors.As(err, &de) || de.Reason != tt.reason {
				t.Fatalf("ParseDate(%q) error = %v, want reason %s", tt.in, err, tt.reason)
			}
		})
	}
}

func TestAddMonths(t *testing.T) {
	day := func(s string) time.Time { d, _ := ParseDate(s); return d }
	tests := []struct {
		from   string
		months int
		want   string
	}{
		{"2026-06-15", 24, "2028-06-15"}, // fixture 20
		{"2026-02-10", 36, "2029-02-10"},
		{"2024-01-31", 1, "2024-02-29"},
		{"2025-01-31", 1, "2025-02-28"},
		{"2024-02-29", 12, "2025-02-28"},
		{"2026-11-30", 3, "2027-02-28"},
		{"2026-05-04", 0, "2026-05-04"},
	}
	for _, tt := range tests {
		if got := AddMonths(day(tt.from), tt.months).Format(isoDate); got != tt.want {
			t.Errorf("AddMonths(%s, %d) = %s, want %s", tt.from, tt.months, got, tt.want)
		}
	}
}

func TestNormalizeEAN(t *testing.T) {
	for in, want := range map[string]string{
		"5 204001 000013":           "5204001000013",
		"5-204001-000013":           "5204001000013",
		"5.204001.000013":           "5204001000013",
		" 5204001000013 ":           "5204001000013",
		"5\u00a0204001\u00a0000013": "5204001000013",
		"5 204001 00001":            "5 204001 00001",   // 12 digits: left for CheckEAN's length problem
		"5 204001 0000133":          "5 204001 0000133", // 14 digits
		"5.90123E+12":               "5.90123E+12",      // scientific notation is no barcode print
		"EAN 5204001000013":         "EAN 5204001000013",
	} {
		if got := NormalizeEAN(in); got != want {
			t.Errorf("NormalizeEAN(%q) = %q, want %q", in, got, want)
		}
	}
	if p := CheckEAN(NormalizeEAN("5 204001 000013")); p != nil {
		t.Errorf("printed EAN: %+v", p)
	}
}
