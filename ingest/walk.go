package ingest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash"
	"io"
	"mime"
	stdmultipart "mime/multipart"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/rmad/rmad/ingest/tnef"
	"github.com/rmad/rmad/rma"
)

// Bounds of the MIME walk.
const (
	maxParts        = 10000 // parts looked at in one mail, all levels together
	maxNesting      = 32    // multipart levels
	maxForwardDepth = 3     // forwarded mail inside forwarded mail
)

// Where a file was found (Attachment.Inside).
const (
	InsideForwarded = "forwarded message"
	InsideUUText    = "uuencoded text"
)

// content is what the MIME parts of one mail (the outer one, or a forwarded one) gave.
type content struct {
	plain, html  []string
	altPlain     []string // the body of a winmail.dat: read when the mail's own body has no form
	body         []rma.Item
	csv          []rma.Item
	csvDelim     rune
	csvProblems  []rma.Problem
	tooManyItems bool
	rowLimitFile string // a CSV or XLSX file with more than limits.max_csv_rows rows ("" none)
	hasProof     bool
	spreadsheet  string // name of a workbook attachment we cannot read
	images       []pendingImage
	forwarded    []*content
	atts         []Attachment
	partErr      error // why reading parts stopped early, if it did
}

func newContent() *content { return &content{} }

// walkState is shared by every level of one mail's walk.
type walkState struct {
	capped   *capReader
	decoded  hash.Hash // every leaf part's decoded body, in order: the mail's content digest
	parts    int
	forwards int // depth of forwarded mail being read
}

func (st *walkState) stopped() bool { return st.parts >= maxParts || st.capped.exceeded }

// walkEntity reads one MIME entity: a multipart is walked part by part (with the standard
// library's reader, which does not take an inner boundary that begins with the outer one for
// the outer one), anything else goes to readLeaf.
func (p *Parser) walkEntity(c *content, h message.Header, body io.Reader, st *walkState, nest int, inside string) {
	if st.stopped() {
		return
	}
	st.parts++
	repairContentType(&h)
	mt, params, _ := h.ContentType()
	if strings.HasPrefix(mt, "multipart/") {
		if nest >= maxNesting || params["boundary"] == "" {
			_, _ = io.Copy(io.Discard, body)
			return
		}
		mr := stdmultipart.NewReader(body, params["boundary"])
		for !st.stopped() {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				c.partErr = err
				return
			}
			var ph textproto.Header
			for k, vs := range part.Header {
				for _, v := range vs {
					ph.Add(k, v)
				}
			}
			p.walkEntity(c, message.Header{Header: ph}, part, st, nest+1, inside)
		}
		return
	}
	e, err := message.New(h, body)
	if e == nil {
		return
	}
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	uu := strings.Contains(enc, "uue") || strings.Contains(enc, "uuencode")
	if message.IsUnknownEncoding(err) && !uu {
		_, _ = io.Copy(io.Discard, body) // an encoding nobody knows: the part cannot be read
		return
	}
	body = e.Body
	if st.decoded != nil {
		// A part boundary in the digest, so that moving text between parts changes it.
		_, _ = st.decoded.Write([]byte("\x00part\x00"))
		var w io.Writer = st.decoded
		if strings.HasPrefix(mt, "text/") {
			w = dropCR{w} // CRLF or LF is the encoding's, not the partner's text
		}
		body = io.TeeReader(e.Body, w)
	}
	p.readLeaf(c, &h, body, message.IsUnknownCharset(err), uu, st, inside)
}

// dropCR writes what it is given without carriage returns.
type dropCR struct{ w io.Writer }

func (d dropCR) Write(b []byte) (int, error) {
	if bytes.IndexByte(b, '\r') < 0 {
		return d.w.Write(b)
	}
	_, err := d.w.Write(bytes.ReplaceAll(b, []byte{'\r'}, nil))
	return len(b), err
}

// repairContentType rewrites a Content-Type that mime.ParseMediaType rejects (an unquoted
// boundary with "=" in it, say) from what lenientParams reads, so go-message and the multipart
// reader see its parameters.
func repairContentType(h *message.Header) {
	if h.Get("Content-Type") == "" {
		return
	}
	if _, _, err := h.ContentType(); err == nil {
		return
	}
	mt, params := lenientParams(h, "Content-Type")
	if mt == "" || !strings.Contains(mt, "/") {
		return
	}
	if v := mime.FormatMediaType(mt, params); v != "" {
		h.Set("Content-Type", v)
	} else {
		h.Set("Content-Type", mt)
	}
}

// readLeaf reads one part that is not a multipart.
func (p *Parser) readLeaf(c *content, h *message.Header, body io.Reader, unknownCharset, uu bool, st *walkState, inside string) {
	info := classifyHeader(h)
	limit := p.maxBytes()
	if uu {
		raw, _ := io.ReadAll(io.LimitReader(body, limit))
		files, _ := decodeUUBlocks(raw)
		for _, f := range files {
			p.addFile(c, fileInfo(f.name, ""), bytes.NewReader(f.data), st, inside)
		}
		return
	}
	switch info.kind {
	case partPlain, partHTML:
		b, _ := io.ReadAll(io.LimitReader(body, limit))
		text := string(b)
		if unknownCharset || !utf8.Valid(b) {
			text, _ = decodeText(b)
		}
		if info.kind == partHTML {
			c.html = append(c.html, text)
			return
		}
		if strings.Contains(text, "begin ") {
			files, rest := decodeUUBlocks([]byte(text))
			for _, f := range files {
				p.addFile(c, fileInfo(f.name, ""), bytes.NewReader(f.data), st, joinInside(inside, InsideUUText))
			}
			text = string(rest)
		}
		c.plain = append(c.plain, text)
	default:
		p.addFile(c, info, body, st, inside)
	}
}

// fileInfo classifies a file found inside another (winmail.dat, uuencoded text) by its name
// and the media type its container gave, if any.
func fileInfo(name, mediaType string) partInfo {
	mt := strings.ToLower(mediaType)
	if mt == "" {
		mt = "application/octet-stream"
		if t := mime.TypeByExtension(strings.ToLower(pathExt(name))); t != "" {
			mt, _, _ = strings.Cut(t, ";")
		}
	}
	return partInfo{kind: kindOf(mt, name, "attachment"), mediaType: mt, filename: name, attachment: true}
}

func pathExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

func joinInside(outer, inner string) string {
	if outer == "" {
		return inner
	}
	return outer + " > " + inner
}

// addFile reads one attached file.
func (p *Parser) addFile(c *content, info partInfo, body io.Reader, st *walkState, inside string) {
	limit := p.maxBytes()
	att := Attachment{Filename: info.filename, ContentType: info.mediaType, Inside: inside}
	switch info.kind {
	case partForwarded:
		n := p.readForwarded(c, body, st, joinInside(inside, InsideForwarded))
		att.Size, att.Role = n, RoleOther
		if st.forwards >= maxForwardDepth {
			att.Role, att.Note = RoleUnreadable, "forwarded more than 3 levels deep"
		}
	case partTNEF:
		data, _ := io.ReadAll(io.LimitReader(body, limit))
		att.Size, att.Role = int64(len(data)), RoleOther
		name := info.filename
		if name == "" {
			name = "winmail.dat"
		}
		m, err := tnef.Decode(data)
		if m == nil {
			att.Role, att.Note = RoleUnreadable, errString(err)
			break
		}
		if err != nil {
			att.Note = err.Error()
		}
		if m.Body != "" {
			c.altPlain = append(c.altPlain, m.Body)
		} else if m.HTML != "" {
			c.altPlain = append(c.altPlain, HTMLToText(m.HTML))
		}
		c.atts = append(c.atts, att)
		for _, a := range m.Attachments {
			p.addFile(c, fileInfo(a.Name, a.MIMEType), bytes.NewReader(a.Data), st, joinInside(inside, name))
		}
		return
	case partCSV, partMaybeTable:
		b, err := io.ReadAll(io.LimitReader(body, limit))
		att.Size = int64(len(b))
		if err != nil {
			att.Role = RoleUnreadable
			if info.kind == partCSV {
				c.csvProblems = append(c.csvProblems, csvProblem(info.filename, &CSVError{Reason: CSVReasonDamaged, Err: err}))
			}
			break
		}
		att.Role = p.addCSV(c, info, b)
	case partXLSX:
		att.Size, att.Role = p.addXLSX(c, info, body)
	case partSpreadsheet:
		n, _ := io.Copy(io.Discard, body)
		att.Size, att.Role = n, RoleUnreadable
		if c.spreadsheet == "" {
			c.spreadsheet = info.filename
		}
	case partProof, partMaybeProof, partOther:
		br := bufio.NewReader(body)
		if sig, _ := br.Peek(4); len(sig) == 4 && binary.LittleEndian.Uint32(sig) == tnef.Signature {
			p.addFile(c, partInfo{kind: partTNEF, mediaType: info.mediaType, filename: info.filename}, br, st, inside)
			return
		}
		head := make([]byte, sniffHeadBytes)
		n, _ := io.ReadFull(br, head)
		rest, _ := io.Copy(io.Discard, br)
		head = head[:n]
		att.Size = int64(n) + rest
		att.Role = RoleOther
		if att.Size == 0 {
			break
		}
		switch kind := sniffFile(head); {
		case kind == "application/pdf":
			att.Role, c.hasProof = RoleProof, true
		case strings.HasPrefix(kind, "image/"):
			// Decoration or proof is decided once the whole mail (its HTML) is read.
			c.images = append(c.images, pendingImage{att: len(c.atts), info: info, head: head, size: att.Size})
			att.Role = rolePending
		case info.kind == partProof:
			att.Role, att.Note = RoleUnreadable, "labelled a PDF or image, but its bytes are neither"
		}
	default:
		n, _ := io.Copy(io.Discard, body)
		att.Size, att.Role = n, RoleOther
	}
	c.atts = append(c.atts, att)
}

// readForwarded reads a forwarded mail into its own content, kept for finish to fold in. It
// returns the bytes read.
func (p *Parser) readForwarded(c *content, body io.Reader, st *walkState, inside string) int64 {
	cr := &countReader{r: body}
	if st.forwards >= maxForwardDepth {
		_, _ = io.Copy(io.Discard, cr)
		return cr.n
	}
	st.forwards++
	defer func() { st.forwards-- }()
	br := bufio.NewReader(cr)
	th, err := readMailHeader(br)
	if err != nil {
		_, _ = io.Copy(io.Discard, cr)
		return cr.n
	}
	inner := newContent()
	p.walkEntity(inner, message.Header{Header: th}, br, st, 0, inside)
	inner.finish(p.maxItems())
	c.forwarded = append(c.forwarded, inner)
	_, _ = io.Copy(io.Discard, cr)
	return cr.n
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
