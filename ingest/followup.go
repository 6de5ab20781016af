package ingest

import (
	"regexp"
	"slices"
	"strings"

	"github.com/rmad/rmad/rma"
)

// subjectNumberRe finds RMA numbers in a subject, bracketed ("[RMA/12/SR/2026]") or bare.
var subjectNumberRe = regexp.MustCompile(`(?i)\bRMA/[1-9][0-9]{0,9}/SR/[0-9]{4}\b`)

// maxFollowUpText bounds the typed text kept for a follow-up's note.
const maxFollowUpText = 4000

// SubjectNumbers returns the RMA numbers a subject names, canonical and each once.
func SubjectNumbers(subject string) []string {
	var out []string
	for _, m := range subjectNumberRe.FindAllString(subject, 20) {
		if n, err := rma.ParseNumber(m); err == nil && !slices.Contains(out, n.String()) {
			out = append(out, n.String())
		}
	}
	return out
}

// followUp reads what a possible reply in an RMA thread says: the numbers of its subject, the
// text the partner typed above the quote, and the item fields labelled in that text. It returns
// nil for mail that is no reply and names no number.
func followUp(sub *rma.Submission, c *content) *rma.FollowUp {
	nums := SubjectNumbers(sub.Subject)
	if sub.InReplyTo == "" && len(sub.References) == 0 && len(nums) == 0 {
		return nil
	}
	text := strings.Join(c.plain, "\n\n")
	if strings.TrimSpace(text) == "" && len(c.html) > 0 {
		var b strings.Builder
		for _, h := range c.html {
			b.WriteString(HTMLToText(h))
			b.WriteString("\n\n")
		}
		text = b.String()
	}
	f := &rma.FollowUp{Numbers: nums}
	var kept []string
	for _, line := range typedLines(splitLines(text)) {
		t := cleanValue(line)
		if label, value, ok := splitLabel(t); ok && value != "" {
			if field, known := fieldForLabel(label); known {
				if f.Fields == nil {
					f.Fields = map[string]string{}
				}
				if _, seen := f.Fields[field]; !seen {
					f.Fields[field] = value
				}
			}
		}
		kept = append(kept, strings.TrimRight(line, " \t"))
	}
	f.Text = strings.TrimSpace(strings.Join(kept, "\n"))
	if r := []rune(f.Text); len(r) > maxFollowUpText {
		f.Text = string(r[:maxFollowUpText]) + "…"
	}
	return f
}
