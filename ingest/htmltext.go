package ingest

import (
	"strings"
	"unicode/utf8"
)

// textWriter collects the text of an HTML document (or of one table cell) the way a browser
// lays it out: runs of white space collapse to one space, lines end only where the markup
// says so, and lines inside a quote start with "> ".
type textWriter struct {
	b       strings.Builder
	quote   int  // quote depth of new lines
	space   bool // a collapsed space is pending
	newline int  // newlines at the end of b (0: inside a line)
	started bool // b holds something
}

// text appends s; with raw (inside <pre>, or our own markers) white space is kept.
func (w *textWriter) text(s string, raw bool) {
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if r == '\n' && raw {
			w.br()
			continue
		}
		if !raw && (r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f') {
			w.space = true
			continue
		}
		if w.newline > 0 || !w.started {
			w.startLine()
		} else if w.space {
			w.b.WriteByte(' ')
		}
		w.space = false
		w.b.WriteRune(r)
	}
}

func (w *textWriter) startLine() {
	for range w.quote {
		w.b.WriteString("> ")
	}
	w.newline = 0
	w.started = true
	w.space = false
}

// sep separates inline cells (a <td> outside any table).
func (w *textWriter) sep() { w.space = true }

// endLine ends the current line, if one is open.
func (w *textWriter) endLine() {
	if w.started && w.newline == 0 {
		w.b.WriteByte('\n')
		w.newline = 1
	}
	w.space = false
}

// br ends the line even when it is empty, so that <br><br> gives a blank line; more than one
// blank line in a row says nothing more.
func (w *textWriter) br() {
	if !w.started {
		w.started = true
		w.newline = 1
		return
	}
	if w.newline < 2 {
		if w.newline == 0 || w.quote == 0 {
			w.b.WriteByte('\n')
		} else {
			// an empty quoted line keeps its marker so the quote stays one block
			w.b.WriteString(strings.TrimSpace(strings.Repeat("> ", w.quote)) + "\n")
		}
		w.newline++
	}
	w.space = false
}

// line writes s as whole lines (rendered table rows).
func (w *textWriter) line(s string) {
	w.endLine()
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			w.br()
			continue
		}
		w.text(l, true)
		w.endLine()
	}
}

func (w *textWriter) String() string { return strings.TrimRight(w.b.String(), "\n ") + "\n" }

// htmlTable collects the rows of one table; it is written out when it ends.
type htmlTable struct {
	rows  [][]string
	row   []string
	cell  *textWriter
	inRow bool
	quote int
}

// cellWriter is where text inside the table goes; text outside any cell starts one.
func (t *htmlTable) cellWriter() *textWriter {
	if t.cell == nil {
		t.cell = &textWriter{}
		t.inRow = true
	}
	return t.cell
}

func (t *htmlTable) endCell() {
	if t.cell == nil {
		return
	}
	t.row = append(t.row, strings.TrimSpace(t.cell.b.String()))
	t.cell = nil
}

func (t *htmlTable) endRow() {
	t.endCell()
	if t.inRow && len(t.row) > 0 {
		t.rows = append(t.rows, t.row)
	}
	t.row, t.inRow = nil, false
}

// maxTableRowsAsItems bounds how many rows of an item table are turned into form lines.
const maxTableRowsAsItems = 100000

// render writes the table to w: an item table (first row names at least two fields) as one
// block of "label: value" lines per row between "---" separators, other rows as label/value
// pairs where the cells look like that, else the cells in order.
func (t *htmlTable) render(w *textWriter) {
	t.endRow()
	if len(t.rows) == 0 {
		return
	}
	if fields := headerFields(t.rows[0]); fields != nil && len(t.rows) > 1 {
		w.line("---")
		for _, r := range t.rows[1:min(len(t.rows), maxTableRowsAsItems)] {
			var b strings.Builder
			for i, v := range r {
				if i < len(fields) && fields[i] != "" && v != "" && !strings.Contains(v, "\n") {
					b.WriteString(fields[i] + ": " + v + "\n")
				}
			}
			w.line(b.String())
			w.line("---")
		}
		return
	}
	for _, r := range t.rows {
		w.line(renderRow(r))
	}
}

// headerFields returns the field each cell of a header row names ("" for others), or nil when
// fewer than two cells name a field.
func headerFields(row []string) []string {
	fields := make([]string, len(row))
	n := 0
	for i, c := range row {
		if f, ok := fieldForLabel(strings.TrimRight(c, ":： ")); ok {
			fields[i] = f
			n++
		}
	}
	if n < 2 {
		return nil
	}
	return fields
}

// renderRow lays out one table row: "a: b" for a two-cell row, "a: b" per pair when cells end
// with ":" and are followed by a value, else the non-empty cells each on a line.
func renderRow(row []string) string {
	cells := row[:0:0]
	for _, c := range row {
		if c != "" {
			cells = append(cells, c)
		}
	}
	multiline := false
	for _, c := range cells {
		multiline = multiline || strings.Contains(c, "\n")
	}
	switch {
	case len(cells) == 0:
		return ""
	case multiline:
		return strings.Join(cells, "\n")
	case len(cells) == 2:
		return pairLine(cells[0], cells[1])
	}
	var lines []string
	for i := 0; i < len(cells); i++ {
		if endsWithColon(cells[i]) && i+1 < len(cells) && !endsWithColon(cells[i+1]) {
			lines = append(lines, cells[i]+" "+cells[i+1])
			i++
			continue
		}
		lines = append(lines, cells[i])
	}
	return strings.Join(lines, "\n")
}

func pairLine(label, value string) string {
	if endsWithColon(label) {
		return label + " " + value
	}
	return label + ": " + value
}

func endsWithColon(s string) bool {
	return strings.HasSuffix(s, ":") || strings.HasSuffix(s, "：")
}
