package csvdelim

import (
	"slices"
	"strings"
	"testing"
)

var columns = []string{"ean", "serial", "purchase_date", "description", "brand", "model"}

func known(cell string) bool { return slices.Contains(columns, strings.ToLower(cell)) }

func TestDetect(t *testing.T) {
	tests := []struct {
		name, text string
		known      func(string) bool
		want       rune
	}{
		{"comma header", "ean,serial,description\n1,2,3\n", known, ','},
		{"semicolon header, commas in the text", "EAN;Serial;Description\n5204001000013;S1;does not boot, no LED\n", known, ';'},
		{"tab header", "ean\tserial\tdescription\n1\t2\tx;y\n", known, '\t'},
		{"pipe header", "ean|brand|model\n1|TP-Link|Archer\n", known, '|'},
		{"quoted header cells", "\"ean\";\"serial, if any\";\"description\"\n1;2;3\n", known, ';'},
		{"a '|' list inside cells does not win", "ean;brand;model\n1;DJI;no power | battery | gimbal\n", known, ';'},
		{"no header: the delimiter every row agrees on", "5204001000013;S1;a, b\n5204001000020;S2;c, d, e\n", known, ';'},
		{"no names known: rows decide", "a\tb\tc\n1\t2\t3\n", nil, '\t'},
		{"a quoted newline keeps one record", "ean;description\n1;\"line one,\nline two, three\"\n", known, ';'},
		{"empty", "", known, ','},
		{"one cell", "hello\n", known, ','},
	}
	for _, tt := range tests {
		if got := Detect(tt.text, tt.known); got != tt.want {
			t.Errorf("%s: Detect = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzDetect(f *testing.F) {
	f.Add("ean;serial\n1;2\n")
	f.Add("\"a,\"\"b\";c\n\"unterminated")
	f.Fuzz(func(t *testing.T, text string) {
		if d := Detect(text, known); !slices.Contains(csvDelimiters, d) {
			t.Fatalf("Detect = %q, not a candidate delimiter", d)
		}
	})
}
