package ingest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rmad/rmad/rma"
)

// subjectNumberRe finds RMA numbers in a subject, bracketed ("[RMA/12/SR/2026]") or bare.
var subjectNumberRe = regexp.MustCompile(`(?i)\bRMA/[1-9][0-9]{0,9}/SR/[0-9]{4}\b`)

// maxFollowUpText bounds the typed text kept for a follow-up's note.
const maxFollowUpText = 4000

// maxRefs bounds the reference tokens taken from one mail (a long quoted thread has one per
// mail of rmad's it quotes).
const maxRefs = 20

// lineWordRe matches the folded start of a line naming an item line of the answered mail:
// "Line 2", "Item 2", "Γραμμή 2", "Poziția 2", "Linia 2", "Ligne 2", with an optional "no"/"nr".
var lineWordRe = regexp.MustCompile(`^(?:line|item|row|position|pos|γραμμη|θεση|pozitia|pozitie|linia|linie|randul|rand|ligne|article)(?: (?:no|nr|n|αρ))? ?([1-9][0-9]{0,3})(?: (.+))?$`)

// SubjectNumbers returns the RMA numbers a subject names, canonical and each once.
func SubjectNumbers(subject string) []string {
	return findNumbers(subject)
}

func findNumbers(s string) []string {
	var out []string
	for _, m := range subjectNumberRe.FindAllString(s, 20) {
		if n, err := rma.ParseNumber(m); err == nil && !slices.Contains(out, n.String()) {
			out = append(out, n.String())
		}
	}
	return out
}

// followUp reads what a possible reply in an RMA thread says: the numbers of its subject, the
// reference tokens of rmad's mails it quotes, the text the partner typed above the quote, and
// the item fields labelled in that text (before any selector, or under a line naming an RMA
// number or an item line). It returns nil for mail that is no reply and names no number or token.
func followUp(sub *rma.Submission, c *content) *rma.FollowUp {
	nums := SubjectNumbers(sub.Subject)
	text := strings.Join(c.plain, "\n\n")
	if strings.TrimSpace(text) == "" && len(c.html) > 0 {
		var b strings.Builder
		for _, h := range c.html {
			b.WriteString(HTMLToText(h))
			b.WriteString("\n\n")
		}
		text = b.String()
	}
	refs := rma.FindRefTokens(text, maxRefs)
	if sub.InReplyTo == "" && len(sub.References) == 0 && len(nums) == 0 && len(refs) == 0 {
		return nil
	}
	f := &rma.FollowUp{Numbers: nums, Refs: refs}
	var kept []string
	cur := -1 // index into f.Scoped of the selector in force, -1 before any
	set := func(field, value string) {
		var m map[string]string
		if cur < 0 {
			if f.Fields == nil {
				f.Fields = map[string]string{}
			}
			m = f.Fields
		} else {
			m = f.Scoped[cur].Fields
		}
		if _, seen := m[field]; !seen {
			m[field] = value
		}
	}
	for _, line := range typedLines(splitLines(text)) {
		kept = append(kept, strings.TrimRight(line, " \t"))
		t := cleanValue(line)
		if t == "" || strings.HasPrefix(t, rma.RefPrefix) && rma.RefTokenRe.MatchString(t) {
			continue
		}
		label, value, labelled := splitLabel(t)
		if !labelled {
			label = t
		}
		if sel, field, ok := selector(label); ok && field == "" {
			// A line naming an RMA or a line alone: the fields after it are about that one.
			f.Scoped = append(f.Scoped, rma.FieldSet{Number: sel.Number, Line: sel.Line, Fields: map[string]string{}})
			cur = len(f.Scoped) - 1
			if label, value, labelled = splitLabel(value); !labelled {
				continue
			}
		} else if ok {
			// "RMA/12/SR/2026 / Serial: X", "Line 2 serial: X": one field for that one.
			if labelled && value != "" {
				sel.Fields = map[string]string{field: value}
				f.Scoped = append(f.Scoped, sel)
			}
			continue
		}
		if field, known := fieldForLabel(label); known && value != "" && labelled {
			set(field, value)
		}
	}
	f.Text = strings.TrimSpace(strings.Join(kept, "\n"))
	if r := []rune(f.Text); len(r) > maxFollowUpText {
		f.Text = string(r[:maxFollowUpText]) + "…"
	}
	return f
}

// selector reads a label that names what it or the fields after it are about: an RMA number
// (perhaps with a word before it, "For RMA/12/SR/2026") or an item line ("Line 2"), alone
// (field "") or followed by a field's label ("RMA/12/SR/2026 serial", "Line 2 / Serial").
func selector(label string) (sel rma.FieldSet, field string, ok bool) {
	if ns := findNumbers(label); len(ns) == 1 {
		rest := strings.TrimSpace(subjectNumberRe.ReplaceAllString(label, " "))
		if f, isField := fieldForLabel(rest); isField {
			return rma.FieldSet{Number: ns[0]}, f, true
		}
		if len(strings.Fields(fold(rest))) <= 2 {
			return rma.FieldSet{Number: ns[0]}, "", true
		}
		return rma.FieldSet{}, "", false
	}
	m := lineWordRe.FindStringSubmatch(fold(label))
	if m == nil {
		return rma.FieldSet{}, "", false
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "" {
		return rma.FieldSet{Line: n}, "", true
	}
	if f, isField := fieldForLabel(m[2]); isField {
		return rma.FieldSet{Line: n}, f, true
	}
	return rma.FieldSet{}, "", false
}
