package ingest

import "strings"

// Replies quote the message they answer and mail clients append signatures: the form a
// partner typed is above them. These helpers find where the typed text ends.

// attributionEnds are the folded endings of a reply's "On <date>, <name> wrote:" line in the
// four languages (and German, which Outlook installs in the region often use).
var attributionEnds = []string{"wrote", "a ecrit", "εγραψε", "a scris", "schrieb", "escribio"}

// originalMessageMarks are the folded texts of the separator lines Outlook and webmail put
// above a quoted or forwarded message.
var originalMessageMarks = []string{
	"original message", "forwarded message", "message dorigine", "message transfere",
	"mesaj original", "mesaj redirectionat", "mesaj transmis", "αρχικο μηνυμα", "προωθημενο μηνυμα",
}

// headerBlockFrom are the folded labels of the first line of Outlook's quoted header block
// ("From: X / Sent: Y / To: Z / Subject: W") in the four languages; headerBlockNext are the
// labels that follow it.
var (
	headerBlockFrom = map[string]bool{"from": true, "de": true, "de la": true, "απο": true, "expediteur": true, "von": true}
	headerBlockNext = map[string]bool{
		"sent": true, "date": true, "to": true, "subject": true, "cc": true,
		"envoye": true, "a": true, "objet": true, "envoye le": true,
		"trimis": true, "catre": true, "subiect": true, "data": true,
		"σταλθηκε": true, "προσ": true, "θεμα": true, "ημερομηνια": true, "κοιν": true,
		"gesendet": true, "an": true, "betreff": true,
	}
)

// isSignatureMark reports the "-- " line that starts a signature (RFC 3676 §4.3); many clients
// trim its space.
func isSignatureMark(line string) bool { return strings.TrimSpace(line) == "--" }

// isQuoted reports a line quoted with ">".
func isQuoted(line string) bool {
	return strings.HasPrefix(strings.TrimLeft(line, " \t"), ">")
}

// isAttribution reports a "... wrote:" line.
func isAttribution(line string) bool {
	t := strings.TrimSpace(line)
	if len(t) < 6 || len(t) > 400 || !(strings.HasSuffix(t, ":") || strings.HasSuffix(t, "：")) {
		return false
	}
	f := fold(t)
	for _, end := range attributionEnds {
		if strings.HasSuffix(f, end) && (len(f) == len(end) || f[len(f)-len(end)-1] == ' ') {
			return true
		}
	}
	return false
}

// isOriginalMessage reports "-----Original Message-----" and its translations.
func isOriginalMessage(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "--") && !strings.HasPrefix(t, "__") {
		return false
	}
	f := fold(t)
	for _, m := range originalMessageMarks {
		if strings.Contains(f, m) {
			return true
		}
	}
	return false
}

// isHeaderBlock reports whether lines[i] starts a quoted "From: / Sent:" header block: a
// From-like label followed within three lines by another header label.
func isHeaderBlock(lines []string, i int) bool {
	label, _, ok := splitLabel(lines[i])
	if !ok || !headerBlockFrom[fold(label)] {
		return false
	}
	for j, seen := i+1, 0; j < len(lines) && seen < 3; j++ {
		if strings.TrimSpace(lines[j]) == "" {
			continue
		}
		seen++
		if l, _, ok := splitLabel(lines[j]); ok && headerBlockNext[fold(l)] {
			return true
		}
	}
	return false
}

// nextTextIsQuoted reports whether the first non-blank line from i on is quoted: a bottom-posted
// reply continues with its own text after the quote, a top-posted one does not.
func nextTextIsQuoted(lines []string, i int) bool {
	for ; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			return isQuoted(lines[i])
		}
	}
	return false
}

// typedLines returns the lines the partner typed: quoted lines are dropped, and the text ends
// at a signature, at an unquoted reply attribution, an "Original Message" separator or a
// quoted header block.
func typedLines(lines []string) []string {
	out := make([]string, 0, len(lines))
	for i, line := range lines {
		switch {
		case isSignatureMark(line):
			return out
		case isQuoted(line):
			continue
		case isAttribution(line):
			if nextTextIsQuoted(lines, i+1) {
				continue
			}
			return out
		case isOriginalMessage(line), isHeaderBlock(lines, i):
			return out
		}
		out = append(out, line)
	}
	return out
}
