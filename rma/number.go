package rma

import (
	"fmt"
	"strconv"
	"strings"
)

// Number is an RMA number, RMA/<n>/SR/<yyyy>: n counts up from 1 within the year.
type Number struct {
	N    int
	Year int
}

func (n Number) String() string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(append(b, "RMA/"...), int64(n.N), 10)
	b = strconv.AppendInt(append(b, "/SR/"...), int64(n.Year), 10)
	return string(b)
}

// ParseNumber reads an RMA number; case and surrounding space are forgiven.
func ParseNumber(s string) (Number, error) {
	parts := strings.Split(strings.ToUpper(strings.TrimSpace(s)), "/")
	if len(parts) != 4 || parts[0] != "RMA" || parts[2] != "SR" {
		return Number{}, fmt.Errorf("rma number %q: want RMA/<n>/SR/<yyyy>", s)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 1 || parts[1][0] == '0' {
		return Number{}, fmt.Errorf("rma number %q: %q is not a positive number", s, parts[1])
	}
	y, err := strconv.Atoi(parts[3])
	if err != nil || len(parts[3]) != 4 {
		return Number{}, fmt.Errorf("rma number %q: %q is not a four-digit year", s, parts[3])
	}
	return Number{N: n, Year: y}, nil
}

// LooksLikeNumber reports whether s has the shape of an RMA number (for routing a look-up query).
func LooksLikeNumber(s string) bool {
	_, err := ParseNumber(s)
	return err == nil
}
