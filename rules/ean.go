package rules

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/rmad/rmad/rma"
)

// EAN problem reasons (Params["reason"] of an ean_invalid problem).
const (
	EANReasonMissing    = "missing"
	EANReasonScientific = "scientific_notation"
	EANReasonLength     = "length"
	EANReasonNotDigits  = "not_digits"
	EANReasonCheckDigit = "check_digit"
)

const (
	eanLength = 13
	// expandScientific gives up beyond this many digits: no EAN is that long.
	eanScientificExpandedMaxLen = 20
)

// CheckEAN checks an EAN/GTIN-13 (docs/contract.md §1): 13 digits with a valid GS1 check digit. It returns
// nil when s is valid, else an ean_invalid problem whose Params say why: "value", "reason"
// (missing, scientific_notation, length, not_digits, check_digit) and, where it helps the
// partner, "expected_check" (the right last digit), "expanded" (what a spreadsheet's 5.9E+12
// stands for, digits lost) or "suggestion" (the value with the leading zero a spreadsheet drops).
func CheckEAN(s string) *rma.Problem {
	s = strings.TrimSpace(s)
	bad := func(reason string, kv ...string) *rma.Problem {
		p := rma.NewProblem(rma.CodeEANInvalid, "ean", append([]string{"value", s, "reason", reason}, kv...)...)
		return &p
	}
	switch {
	case len(s) == eanLength && allDigits(s):
		// The usual case; it skips the other shapes' checks.
	case s == "":
		return bad(EANReasonMissing)
	case isScientific(s):
		// The spreadsheet kept only a few significant digits: the real EAN cannot be recovered.
		if x := expandScientific(s); x != "" {
			return bad(EANReasonScientific, "expanded", x)
		}
		return bad(EANReasonScientific)
	case !allDigits(s):
		return bad(EANReasonNotDigits)
	case len(s) != eanLength:
		// Spreadsheets also drop leading zeros (0810088000058 → 810088000058): say so when the
		// padded value is a valid EAN.
		if len(s) < eanLength {
			padded := strings.Repeat("0", eanLength-len(s)) + s
			if gs1CheckDigit(padded[:eanLength-1]) == padded[eanLength-1] {
				return bad(EANReasonLength, "suggestion", padded)
			}
		}
		return bad(EANReasonLength)
	}
	if want := gs1CheckDigit(s[:eanLength-1]); want != s[eanLength-1] {
		return bad(EANReasonCheckDigit, "expected_check", string(want))
	}
	return nil
}

// NormalizeEAN trims an EAN and, when it is written as printed under the barcode
// ("5 204001 000013", with hyphens, dots or non-breaking spaces between the groups) and exactly
// 13 digits remain, returns those digits; anything else is returned trimmed, for CheckEAN to
// say what is wrong with it.
func NormalizeEAN(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == eanLength && allDigits(s) {
		return s // the usual case
	}
	var b [eanLength]byte
	n, seps := 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == eanLength {
				return s
			}
			b[n] = byte(r)
			n++
		case r == ' ' || r == '-' || r == '.' || r == '\u00a0' || r == '\u202f' || r == '\t':
			seps++
		default:
			return s
		}
	}
	if n != eanLength || seps == 0 {
		return s
	}
	return string(b[:])
}

// isScientific recognises what a spreadsheet shows for a long number in a "General" column:
// 5.90123E+12, or 5,90123E+12 in locales with a decimal comma. It accepts what the expression
// ^[0-9]+([.,][0-9]+)?[eE]\+?[0-9]+$ did (a scanner, because CheckEAN runs for every item).
func isScientific(s string) bool {
	e := strings.IndexAny(s, "eE")
	if e < 0 {
		return false
	}
	mant, exp := s[:e], s[e+1:]
	whole, frac, hasFrac := strings.Cut(mant, ".")
	if !hasFrac {
		whole, frac, hasFrac = strings.Cut(mant, ",")
	}
	return allDigits(whole) && (!hasFrac || allDigits(frac)) && allDigits(strings.TrimPrefix(exp, "+"))
}

// ValidEAN reports whether s (trimmed) is a valid EAN-13.
func ValidEAN(s string) bool { return CheckEAN(s) == nil }

// gs1CheckDigit computes the GS1 mod-10 check digit of the digits before it: from the right,
// weights 3, 1, 3, ...
func gs1CheckDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// expandScientific writes 5.90123E+12 out as 5901230000000, or "" when that is not a whole
// number of reasonable size.
func expandScientific(s string) string {
	r, ok := new(big.Rat).SetString(strings.Replace(strings.ToLower(s), ",", ".", 1))
	if !ok || !r.IsInt() {
		return ""
	}
	x := r.Num().String()
	if len(x) > eanScientificExpandedMaxLen {
		return ""
	}
	return x
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoiStrict parses a non-negative decimal integer made of ASCII digits only (no sign, no
// spaces), refusing values that overflow.
func atoiStrict(s string) (int, bool) {
	if !allDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
