// Package csvdelim finds the delimiter of a CSV text, for the partners' attachments (ingest)
// and the distributor's catalog and sales exports (rules) alike: spreadsheets in Greece, Romania
// and France write ';' or tabs as often as ','.
package csvdelim

import "strings"

// csvDelimiters are the delimiters spreadsheets write, in order of preference on a tie: text
// often contains commas, rarely semicolons or tabs.
var csvDelimiters = []rune{'\t', ';', ',', '|'}

// sniffLines is how many records detection looks at.
const sniffLines = 50

// Detect finds the delimiter of a CSV text (its first kilobytes are enough): the one that
// splits the header row into the most cells known reports as column names (at least two),
// else the one that splits the first records into the same, largest number of fields; ',' when
// nothing tells. Quoted fields are skipped, so "a, b" inside quotes does not count. known gets
// each cell with surrounding quotes and spaces trimmed; nil knows no names.
func Detect(text string, known func(cell string) bool) rune {
	records := sniffRecords(text, sniffLines)
	if len(records) == 0 {
		return ','
	}
	// A header row decides: the delimiter under which most cells are known column names.
	bestHeader, bestNames := rune(0), 1
	for _, d := range csvDelimiters {
		n := 0
		for _, cell := range splitOutsideQuotes(records[0], d) {
			if known != nil && known(strings.Trim(cell, "\" ")) {
				n++
			}
		}
		if n > bestNames {
			bestHeader, bestNames = d, n
		}
	}
	if bestHeader != 0 {
		return bestHeader
	}
	best, bestScore := ',', 0
	for _, d := range csvDelimiters {
		if s := delimiterScore(records, d); s > bestScore {
			best, bestScore = d, s
		}
	}
	return best
}

// delimiterScore rates how well d splits the records: records that share the most common
// field count, weighted by that count; 0 when d splits nothing.
func delimiterScore(records []string, d rune) int {
	counts := make(map[int]int)
	for _, r := range records {
		counts[countOutsideQuotes(r, d)]++
	}
	mode, agree := 0, 0
	for n, c := range counts {
		if c > agree || (c == agree && n > mode) {
			mode, agree = n, c
		}
	}
	if mode == 0 {
		return 0
	}
	return agree*100 + min(mode, 99)
}

// sniffRecords returns up to n non-empty records (physical lines joined while a quote is open).
func sniffRecords(text string, n int) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(text) && len(out) < n; i++ {
		switch text[i] {
		case '"':
			inQuote = !inQuote
		case '\n':
			if !inQuote {
				if r := strings.TrimRight(text[start:i], "\r"); strings.TrimSpace(r) != "" {
					out = append(out, r)
				}
				start = i + 1
			}
		}
	}
	if len(out) < n && start < len(text) && strings.TrimSpace(text[start:]) != "" {
		out = append(out, text[start:])
	}
	return out
}

func countOutsideQuotes(record string, d rune) int {
	n, inQuote := 0, false
	for _, r := range record {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == d && !inQuote:
			n++
		}
	}
	return n
}

func splitOutsideQuotes(record string, d rune) []string {
	var out []string
	start, inQuote := 0, false
	for i, r := range record {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == d && !inQuote:
			out = append(out, record[start:i])
			start = i + len(string(d))
		}
	}
	return append(out, record[start:])
}
