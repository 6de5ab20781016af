package xlsxread

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// scanner splits SpreadsheetML into tags and the text between them. It reads with
// bufio.Reader.ReadSlice (the tag and text boundaries are found with IndexByte), so that it keeps
// no more than its buffer and one capped text in memory. It understands what a worksheet or a
// shared-string table may hold: start, end and empty tags with attributes, the five entities
// and character references, CDATA, comments and processing instructions; a DOCTYPE (which
// SpreadsheetML never has: it could declare entities) is an error.
type scanner struct {
	br *bufio.Reader

	// The current tag: kind, local name (the namespace prefix dropped) and raw attributes.
	kind     tagKind
	name     []byte
	attrList []byte

	keep    bool   // collect the text before the next tag into text
	text    []byte // collected text, entities decoded
	pending []byte // text read, its entities not decoded yet
	tag     []byte // the tag as read, when it spans buffers
}

type tagKind int

const (
	startTag tagKind = iota
	endTag
	emptyTag // <name/>: a start and its end
)

// maxText bounds one text (a cell value, a shared string): Excel allows 32,767 characters.
const maxText = 256 << 10

var errTooLong = errors.New("text or tag too long")

func newScanner(r io.Reader) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 64<<10)}
}

// next reads up to and including the next start, end or empty tag (skipping comments and
// processing instructions); the text before it is in s.text when s.keep was set.
func (s *scanner) next() error {
	s.text, s.pending = s.text[:0], s.pending[:0]
	for {
		// One read up to the next '>' holds the text before a tag and the tag. Text may hold a
		// '>' (then no '<' is in what was read), and so may an attribute value (then its quote
		// is still open: the tag goes on); neither holds a '<'.
		b, err := s.br.ReadSlice('>')
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF && bytes.IndexByte(b, '<') >= 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		i := bytes.IndexByte(b, '<')
		if i < 0 {
			if err := s.addText(b, false); err != nil {
				return err
			}
			continue
		}
		if err := s.addText(b[:i], true); err != nil {
			return err
		}
		raw := b[i+1:]
		special := len(raw) > 0 && (raw[0] == '?' || raw[0] == '!')
		if err == bufio.ErrBufferFull || (!special && !quotesClosed(raw)) {
			if raw, err = s.finishTag(raw, special); err != nil {
				return err
			}
			special = raw[0] == '?' || raw[0] == '!'
		}
		switch {
		case !special:
			if err := s.flush(); err != nil {
				return err
			}
			return s.parseTag(raw)
		case raw[0] == '?':
			err = s.skipTo(raw, "?>")
		case bytes.HasPrefix(raw, []byte("!--")):
			err = s.skipTo(raw, "-->")
		case bytes.HasPrefix(raw, []byte("![CDATA[")):
			if err = s.flush(); err == nil {
				err = s.cdata(raw)
			}
		default:
			return fmt.Errorf("xml: %q not allowed", truncate(raw))
		}
		if err != nil {
			return err
		}
	}
}

// addText keeps text read when s.keep is set; a final text (a tag follows it) with nothing
// pending is decoded straight into s.text, the usual case.
func (s *scanner) addText(b []byte, final bool) error {
	if !s.keep || len(b) == 0 {
		return nil
	}
	if len(s.text)+len(s.pending)+len(b) > maxText {
		return errTooLong
	}
	if final && len(s.pending) == 0 {
		var err error
		s.text, err = decodeEntities(s.text, b)
		return err
	}
	s.pending = append(s.pending, b...)
	return nil
}

// finishTag reads the rest of a tag begun in raw: up to the '>' outside quotes of a start or end
// tag, or to the next '>' of a comment, instruction or CDATA (which skipTo and cdata go on with).
func (s *scanner) finishTag(raw []byte, special bool) ([]byte, error) {
	s.tag = append(s.tag[:0], raw...)
	for len(s.tag) == 0 || s.tag[len(s.tag)-1] != '>' || (!special && !quotesClosed(s.tag)) {
		if len(s.tag) > maxText {
			return nil, errTooLong
		}
		b, err := s.br.ReadSlice('>')
		s.tag = append(s.tag, b...)
		if len(s.tag) > 0 && !special {
			special = s.tag[0] == '?' || s.tag[0] == '!'
		}
		switch err {
		case nil, bufio.ErrBufferFull:
		case io.EOF:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
	return s.tag, nil
}

// quotesClosed reports whether a tag's attribute values are all closed.
func quotesClosed(tag []byte) bool {
	var q byte
	for _, c := range tag {
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		}
	}
	return q == 0
}

// readTag returns what is between '<' and the next '>' ('>' included); the slice is valid until
// the next read.
func (s *scanner) readTag() ([]byte, error) {
	b, err := s.br.ReadSlice('>')
	if err == nil {
		return b, nil
	}
	s.tag = append(s.tag[:0], b...)
	for err == bufio.ErrBufferFull {
		if len(s.tag) > maxText {
			return nil, errTooLong
		}
		b, err = s.br.ReadSlice('>')
		s.tag = append(s.tag, b...)
	}
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	return s.tag, err
}

// skipTo reads on until the construct begun in raw ends with end (a comment or a processing
// instruction may hold '>').
func (s *scanner) skipTo(raw []byte, end string) error {
	for n := 0; !bytes.HasSuffix(raw, []byte(end)); n += len(raw) {
		if n > maxText {
			return errTooLong
		}
		var err error
		if raw, err = s.readTag(); err != nil {
			return err
		}
	}
	return nil
}

// cdata collects a CDATA section (its text taken as it is) into s.text.
func (s *scanner) cdata(raw []byte) error {
	raw = raw[len("![CDATA["):]
	for {
		done := bytes.HasSuffix(raw, []byte("]]>"))
		if done {
			raw = raw[:len(raw)-3]
		}
		if s.keep {
			if len(s.text)+len(raw) > maxText {
				return errTooLong
			}
			s.text = append(s.text, raw...)
		}
		if done {
			return nil
		}
		var err error
		if raw, err = s.readTag(); err != nil {
			return err
		}
	}
}

func (s *scanner) parseTag(raw []byte) error {
	raw = raw[:len(raw)-1] // '>'
	s.kind = startTag
	switch {
	case len(raw) > 0 && raw[0] == '/':
		s.kind, raw = endTag, raw[1:]
	case len(raw) > 0 && raw[len(raw)-1] == '/':
		s.kind, raw = emptyTag, raw[:len(raw)-1]
	}
	end := 0
	for end < len(raw) && !isSpace(raw[end]) {
		end++
	}
	s.name, s.attrList = raw[:end], raw[end:]
	if len(s.name) == 0 {
		return errors.New("xml: tag without a name")
	}
	if i := bytes.LastIndexByte(s.name, ':'); i >= 0 {
		s.name = s.name[i+1:]
	}
	return nil
}

// attrs calls fn with the local name and raw value of each attribute of the current tag:
// entities are left as they are (the values rmad reads, a cell's reference and type, have
// none). The slices are valid until the next read.
func (s *scanner) attrs(fn func(name, value []byte)) error {
	a := s.attrList
	for {
		a = trimSpace(a)
		if len(a) == 0 {
			return nil
		}
		eq := bytes.IndexByte(a, '=')
		if eq < 0 {
			return fmt.Errorf("xml: attribute without a value in %q", truncate(s.attrList))
		}
		key := a[:eq]
		for len(key) > 0 && isSpace(key[len(key)-1]) {
			key = key[:len(key)-1]
		}
		a = trimSpace(a[eq+1:])
		if len(a) == 0 || (a[0] != '"' && a[0] != '\'') {
			return fmt.Errorf("xml: unquoted attribute in %q", truncate(s.attrList))
		}
		q := bytes.IndexByte(a[1:], a[0])
		if q < 0 {
			return fmt.Errorf("xml: unterminated attribute in %q", truncate(s.attrList))
		}
		val := a[1 : 1+q]
		a = a[q+2:]
		if i := bytes.LastIndexByte(key, ':'); i >= 0 {
			key = key[i+1:]
		}
		fn(key, val)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// flush adds the text read so far, its entities decoded, to s.text.
func (s *scanner) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	var err error
	s.text, err = decodeEntities(s.text, s.pending)
	s.pending = s.pending[:0]
	return err
}

// decodeEntities appends b to dst with &amp; &lt; &gt; &quot; &apos; and character references
// decoded. Carriage returns stay: values are compared trimmed.
func decodeEntities(dst, b []byte) ([]byte, error) {
	for {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			return append(dst, b...), nil
		}
		dst = append(dst, b[:i]...)
		b = b[i:]
		semi := bytes.IndexByte(b, ';')
		if semi < 0 || semi > 12 {
			return dst, fmt.Errorf("xml: unterminated entity in %q", truncate(b))
		}
		ent := string(b[1:semi])
		b = b[semi+1:]
		switch ent {
		case "amp":
			dst = append(dst, '&')
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "quot":
			dst = append(dst, '"')
		case "apos":
			dst = append(dst, '\'')
		default:
			var n uint64
			var err error
			switch {
			case len(ent) > 2 && (ent[:2] == "#x" || ent[:2] == "#X"):
				n, err = strconv.ParseUint(ent[2:], 16, 32)
			case len(ent) > 1 && ent[0] == '#':
				n, err = strconv.ParseUint(ent[1:], 10, 32)
			default:
				return dst, fmt.Errorf("xml: unknown entity &%s;", ent)
			}
			if err != nil || !utf8.ValidRune(rune(n)) {
				return dst, fmt.Errorf("xml: bad character reference &%s;", ent)
			}
			dst = utf8.AppendRune(dst, rune(n))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}
