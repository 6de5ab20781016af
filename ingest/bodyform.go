package ingest

import (
	"strings"

	"github.com/rmad/rmad/rma"
)

// ParseBodyForm reads the items a partner wrote in a mail body as "label: value" lines
// (docs/contract.md §1.1). Labels are matched case- and accent-insensitively in the four languages; ":" may have
// spaces around it and spaces may be non-breaking. Items are separated by a line of "---" (or
// "___", "==="), or start anew at an EAN line when the current item already has an EAN (the
// contract's "blank line followed by a new ean line"). Lines that are not labels (greetings,
// notes) are ignored, as are quoted replies and anything below a signature.
//
// A value may continue on the following lines when its label line had none ("Description:"
// then the text), and a description may wrap over several lines. Values are kept as sent,
// trimmed; Line is left 0 for the caller to number.
func ParseBodyForm(text string) []rma.Item { return parseBodyForm(text, 0) }

// parseBodyForm stops after limit items (0: no limit), so a hostile body cannot make millions.
func parseBodyForm(text string, limit int) []rma.Item {
	lines := typedLines(splitLines(text))
	var (
		items  []rma.Item
		cur    rma.Item
		fields int    // fields set in cur
		open   string // field whose value may continue on the next line
	)
	flush := func() {
		// A lone "Date: ..." or "Type: ..." in a greeting is not an item; a form has an EAN or
		// at least two fields.
		if cur.EAN != "" || fields >= 2 {
			items = append(items, cur)
		}
		cur, fields, open = rma.Item{}, 0, ""
	}
	for _, line := range lines {
		if limit > 0 && len(items) >= limit {
			return items
		}
		t := cleanValue(line)
		switch {
		case t == "":
			open = ""
			continue
		case isSeparatorLine(t):
			flush()
			continue
		}
		if label, value, ok := splitLabel(t); ok {
			if field, known := fieldForLabel(label); known {
				if field == "ean" && cur.EAN != "" {
					flush()
				}
				open = ""
				if cur.Get(field) == "" {
					if value != "" {
						cur.Set(field, value)
						fields++
					}
					if value == "" || continuesOnNextLines(field) {
						open = field
					}
				}
				continue
			}
		}
		if open != "" && !isClosingLine(t) {
			if prev := cur.Get(open); prev != "" {
				cur.Set(open, prev+" "+t)
			} else {
				cur.Set(open, t)
				fields++
			}
			continue
		}
		open = ""
	}
	flush()
	return items
}

// continuesOnNextLines lists the free-text fields that mail clients wrap at 72 columns.
func continuesOnNextLines(field string) bool {
	return field == "description" || field == "contents" || field == "expectation"
}

// splitLabel splits "label: value" (also "label ： value" and "label<TAB>value" as pasted from
// a spreadsheet). The label must be short: a sentence with a colon is not a label line.
func splitLabel(line string) (label, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	w := 1
	if j := strings.Index(line, "："); j >= 0 && (i < 0 || j < i) {
		i, w = j, len("：")
	}
	if i < 0 {
		if i = strings.IndexByte(line, '\t'); i < 0 {
			return "", "", false
		}
	}
	label = strings.TrimSpace(line[:i])
	if label == "" || len(label) > maxLabelBytes {
		return "", "", false
	}
	return label, strings.TrimSpace(line[i+w:]), true
}

// isSeparatorLine reports a line of three or more "-", "_" or "=" (an item separator; an HTML
// <hr> becomes one too).
func isSeparatorLine(t string) bool {
	if len(t) < 3 {
		return false
	}
	c := t[0]
	if c != '-' && c != '_' && c != '=' {
		return false
	}
	for i := 1; i < len(t); i++ {
		if t[i] != c && t[i] != ' ' {
			return false
		}
	}
	return true
}

// closingStems and closingWords start the folded closing lines of a mail ("Thanks,", "Cu
// stimă,"); such a line ends a wrapped description. Stems match any word they begin, words
// only whole.
var (
	closingStems = []string{"thank", "ευχαριστ", "χαιρετ", "multum", "cordialement", "salutation"}
	closingWords = []string{
		"regards", "best regards", "kind regards", "best", "cheers", "br", "sent from",
		"φιλικα", "με εκτιμηση", "με τιμη", "σταλθηκε απο",
		"cu stima", "o zi buna", "toate cele bune", "trimis de pe",
		"merci", "bien a vous", "bonne journee", "envoye de",
	}
)

func isClosingLine(t string) bool {
	if len(t) > 60 {
		return false
	}
	f := fold(t)
	for _, w := range closingStems {
		if strings.HasPrefix(f, w) {
			return true
		}
	}
	for _, w := range closingWords {
		if strings.HasPrefix(f, w) && (len(f) == len(w) || f[len(w)] == ' ') {
			return true
		}
	}
	return false
}

// splitLines splits text into lines on LF, CRLF or CR.
func splitLines(text string) []string {
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(text, "\r\n", "\n")
		text = strings.ReplaceAll(text, "\r", "\n")
	}
	return strings.Split(text, "\n")
}
