package ingest

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText reduces an HTML mail body to the text a reader sees, line by line, so that the
// body form parser can read it: block elements and <br> end lines, <hr> becomes a "---"
// separator, quoted blocks (<blockquote type=cite>, Gmail's quotes) get "> " prefixes and a
// signature block gets a "-- " line above it. Tables keep their structure: a two-cell row
// becomes "label: value" (<td>EAN:</td><td>…</td>), and a table whose first row names item
// fields becomes one item per row.
func HTMLToText(src string) string {
	c := newHTMLConverter()
	z := html.NewTokenizer(strings.NewReader(src))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return c.finish()
		case html.TextToken:
			if c.skip == 0 {
				c.w().text(string(z.Text()), c.pre > 0)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			var attrs map[string]string
			if hasAttr {
				attrs = readAttrs(z)
			}
			c.start(atom.Lookup(name), attrs, tt == html.SelfClosingTagToken)
		case html.EndTagToken:
			name, _ := z.TagName()
			c.end(atom.Lookup(name))
		}
	}
}

// readAttrs keeps the few attributes the converter looks at, lower-cased.
func readAttrs(z *html.Tokenizer) map[string]string {
	var m map[string]string
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "type", "class", "id", "style":
			if m == nil {
				m = make(map[string]string, 2)
			}
			m[string(k)] = strings.ToLower(string(v))
		}
		if !more {
			return m
		}
	}
}

// maxHTMLDepth caps nested quotes and tables: deeper markup is read as plain text, so hostile
// nesting costs no memory.
const maxHTMLDepth = 64

type htmlConverter struct {
	out    *textWriter
	tables []*htmlTable
	skip   int // inside script/style/...: text is not shown
	pre    int
	// open elements whose end must undo something (quote depth, skip, pre), by atom
	stack []htmlFrame
}

type htmlFrame struct {
	a     atom.Atom
	quote bool
}

func newHTMLConverter() *htmlConverter { return &htmlConverter{out: &textWriter{}} }

// w is where text goes now: the open cell of the innermost table, or the output.
func (c *htmlConverter) w() *textWriter {
	if n := len(c.tables); n > 0 {
		return c.tables[n-1].cellWriter()
	}
	return c.out
}

func (c *htmlConverter) start(a atom.Atom, attrs map[string]string, selfClosing bool) {
	switch a {
	case atom.Script, atom.Style, atom.Title, atom.Noscript, atom.Template, atom.Head:
		if !selfClosing && a != atom.Head {
			c.skip++
			c.push(a, false)
		}
	case atom.Br:
		c.w().br()
	case atom.Hr:
		w := c.w()
		w.endLine()
		w.text("---", true)
		w.endLine()
	case atom.Pre:
		c.w().endLine()
		if !selfClosing {
			c.pre++
			c.push(a, false)
		}
	case atom.Blockquote:
		w := c.w()
		w.endLine()
		if isCitation(attrs) && !selfClosing && w.quote < maxHTMLDepth {
			w.quote++
			c.push(a, true)
		}
	case atom.Table:
		if selfClosing {
			return
		}
		if len(c.tables) < maxHTMLDepth {
			c.w().endLine()
			c.tables = append(c.tables, &htmlTable{quote: c.w().quote})
			c.push(a, false)
		}
	case atom.Tr:
		if t := c.table(); t != nil {
			t.endRow()
			t.inRow = true
		} else {
			c.w().endLine()
		}
	case atom.Td, atom.Th:
		if t := c.table(); t != nil {
			t.endCell()
			t.cell = &textWriter{}
		} else {
			c.w().sep()
		}
	case atom.Div:
		w := c.w()
		w.endLine()
		if isSignatureBlock(attrs) {
			w.text("-- ", true)
			w.endLine()
		}
		if isCitation(attrs) && !selfClosing && w.quote < maxHTMLDepth {
			w.quote++
			c.push(a, true)
		}
	default:
		if isBlock(a) {
			c.w().endLine()
		}
	}
}

func (c *htmlConverter) end(a atom.Atom) {
	switch a {
	case atom.Td, atom.Th:
		if t := c.table(); t != nil {
			t.endCell()
		}
		return
	case atom.Tr:
		if t := c.table(); t != nil {
			t.endRow()
		}
		return
	case atom.Br:
		c.w().br() // "</br>" is read as <br> by browsers too
		return
	}
	// Close the innermost open frame of this element, and any left open inside it.
	for i := len(c.stack) - 1; i >= 0; i-- {
		if c.stack[i].a != a {
			continue
		}
		for len(c.stack) > i {
			c.pop()
		}
		break
	}
	if isBlock(a) || a == atom.Div || a == atom.Blockquote {
		c.w().endLine()
	}
}

func (c *htmlConverter) push(a atom.Atom, quote bool) {
	c.stack = append(c.stack, htmlFrame{a: a, quote: quote})
}

func (c *htmlConverter) pop() {
	f := c.stack[len(c.stack)-1]
	c.stack = c.stack[:len(c.stack)-1]
	switch {
	case f.quote:
		w := c.w()
		w.endLine()
		if w.quote > 0 {
			w.quote--
		}
	case f.a == atom.Table:
		t := c.tables[len(c.tables)-1]
		c.tables = c.tables[:len(c.tables)-1]
		t.render(c.w())
	case f.a == atom.Pre:
		c.pre--
		c.w().endLine()
	default:
		c.skip--
	}
}

func (c *htmlConverter) table() *htmlTable {
	if n := len(c.tables); n > 0 {
		return c.tables[n-1]
	}
	return nil
}

func (c *htmlConverter) finish() string {
	for len(c.stack) > 0 {
		c.pop()
	}
	return c.out.String()
}

// isCitation reports a quoted message: <blockquote type="cite"> (Apple Mail, Thunderbird), or
// Gmail's and others' quote classes; an indent-only blockquote is not a quote.
func isCitation(attrs map[string]string) bool {
	return attrs["type"] == "cite" || strings.Contains(attrs["class"], "quote") ||
		strings.Contains(attrs["style"], "border-left")
}

// isSignatureBlock reports the signature containers of Gmail, Outlook and Thunderbird.
func isSignatureBlock(attrs map[string]string) bool {
	return strings.Contains(attrs["class"], "signature") || attrs["id"] == "signature" ||
		strings.Contains(attrs["class"], "moz-signature")
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.H1, atom.H2,
		atom.H3, atom.H4, atom.H5, atom.H6, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Address, atom.Center, atom.Caption, atom.Form, atom.Fieldset, atom.Main, atom.Nav,
		atom.Aside, atom.Figure, atom.Figcaption, atom.Body, atom.Html, atom.Table, atom.Tbody,
		atom.Thead, atom.Tfoot:
		return true
	}
	return false
}
