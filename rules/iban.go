package rules

import (
	"strconv"
	"strings"

	"github.com/rmad/rmad/rma"
)

// IBAN problem reasons (Params["reason"] of an iban_invalid problem).
const (
	IBANReasonCountry  = "country" // unknown country code
	IBANReasonLength   = "length"  // wrong length for the country (Params "expected_length")
	IBANReasonChars    = "characters"
	IBANReasonChecksum = "checksum" // mod-97 check failed: a typo
)

// ibanLengths is the length of an IBAN per country, from the SWIFT IBAN registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
	"BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
	"LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
	"MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
	"PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

// NormalizeIBAN removes spaces and upper-cases: the electronic form of an IBAN.
func NormalizeIBAN(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return strings.ToUpper(strings.Join(strings.Fields(s), ""))
		}
	}
	return s // already electronic: no need to build a copy
}

// CheckIBAN checks an IBAN (spaces allowed, any case): known country, the country's length,
// letters and digits only, and the ISO 7064 mod-97 check. It returns nil when valid, else an
// iban_invalid problem with Params "value", "reason" (country, length, characters, checksum)
// and, for length, "country" and "expected_length".
func CheckIBAN(s string) *rma.Problem {
	v := NormalizeIBAN(s)
	bad := func(reason string, kv ...string) *rma.Problem {
		p := rma.NewProblem(rma.CodeIBANInvalid, "iban", append([]string{"value", strings.TrimSpace(s), "reason", reason}, kv...)...)
		return &p
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return bad(IBANReasonChars)
		}
	}
	if len(v) < 2 || !isUpperLetter(v[0]) || !isUpperLetter(v[1]) {
		return bad(IBANReasonCountry)
	}
	want, ok := ibanLengths[v[:2]]
	if !ok {
		return bad(IBANReasonCountry, "country", v[:2])
	}
	if len(v) != want {
		return bad(IBANReasonLength, "country", v[:2], "expected_length", strconv.Itoa(want))
	}
	if !allDigits(v[2:4]) {
		return bad(IBANReasonChecksum)
	}
	if ibanMod97(v) != 1 {
		return bad(IBANReasonChecksum)
	}
	return nil
}

// ibanMod97 moves the first four characters to the end, turns letters into 10..35 and returns
// the remainder mod 97, digit by digit so no big numbers are needed.
func ibanMod97(v string) int {
	r := 0
	for _, part := range [2]string{v[4:], v[:4]} { // v[4:] + v[:4] without building it
		for _, c := range part {
			if c >= 'A' && c <= 'Z' {
				n := int(c-'A') + 10
				r = (r*100 + n) % 97
			} else {
				r = (r*10 + int(c-'0')) % 97
			}
		}
	}
	return r
}

func isUpperLetter(c byte) bool { return c >= 'A' && c <= 'Z' }
