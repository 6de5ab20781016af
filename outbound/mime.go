package outbound

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"slices"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// writeMIME writes d's mail with header h into buf: a text/plain part alone, or multipart/mixed
// with the text and d's files, byte for byte as go-message's mail.Writer writes them (the same
// headers in the same order, quoted-printable text, base64 files in lines of 76), but on
// go-message's multipart writer directly, so that a file already encoded (file.encoded: the
// labels PDF the reply and its staff copy both carry) goes in as it is, and a file's base64
// is written in lines at once instead of a line at a time. It returns where the base64 bodies
// of the labels PDFs are in buf (for Keep).
func writeMIME(buf *bytes.Buffer, h mail.Header, d draft) ([]span, error) {
	base := buf.Len()
	text := strings.TrimRight(d.body, "\n") + "\n"
	if len(d.files) == 0 {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		tw, err := mail.CreateSingleInlineWriter(buf, h)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, text); err != nil {
			return nil, err
		}
		return nil, tw.Close()
	}
	if !h.Has("Mime-Version") {
		h.Set("MIME-Version", "1.0")
	}
	mw := textproto.NewMultipartWriter(buf)
	h.SetContentType("multipart/mixed", map[string]string{"boundary": mw.Boundary()})
	if err := textproto.WriteHeader(buf, h.Header.Header); err != nil {
		return nil, err
	}
	var th mail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Disposition", "inline")
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	tw, err := mw.CreatePart(th.Header.Header)
	if err != nil {
		return nil, err
	}
	qw := quotedprintable.NewWriter(tw)
	if _, err := io.WriteString(qw, text); err != nil {
		return nil, err
	}
	if err := qw.Close(); err != nil {
		return nil, err
	}
	var labels []span
	for _, f := range d.files {
		var ah mail.AttachmentHeader
		params := map[string]string{"name": f.name}
		if strings.HasPrefix(f.contentType, "text/") {
			params["charset"] = "utf-8"
		}
		ah.SetContentType(f.contentType, params)
		ah.SetFilename(f.name)
		ah.Set("Content-Transfer-Encoding", "base64")
		aw, err := mw.CreatePart(ah.Header.Header)
		if err != nil {
			return nil, err
		}
		from := buf.Len()
		switch {
		case f.encoded != nil:
			buf.Write(f.encoded)
		case f.write != nil:
			enc := base64.NewEncoder(base64.StdEncoding, &base64Lines{w: aw})
			if err := f.write(enc); err != nil {
				return nil, err
			}
			if err := enc.Close(); err != nil {
				return nil, err
			}
		default:
			buf.Write(appendBase64Lines(buf.AvailableBuffer(), f.data))
		}
		if isLabelsName(f.name) {
			labels = append(labels, span{from - base, buf.Len() - base})
		}
	}
	return labels, mw.Close()
}

// base64Line is the length of a base64 line in a mail, as go-message writes them (RFC 2045
// allows at most 76).
const base64Line = 76

// appendBase64Lines appends the base64 of src to dst in lines of base64Line characters joined
// by CRLF, with no line end after the last line (the boundary's CRLF follows), as go-message
// writes an attachment.
func appendBase64Lines(dst, src []byte) []byte {
	const in = base64Line / 4 * 3 // the bytes of one line
	n := base64.StdEncoding.EncodedLen(len(src))
	dst = slices.Grow(dst, n+n/base64Line*2)
	for i := 0; i < len(src); i += in {
		if i > 0 {
			dst = append(dst, '\r', '\n')
		}
		dst = base64.StdEncoding.AppendEncode(dst, src[i:min(i+in, len(src))])
	}
	return dst
}

// base64Lines breaks the base64 text written to it into lines of base64Line characters joined
// by CRLF, as appendBase64Lines does, for a file written while the mail is (file.write).
type base64Lines struct {
	w    io.Writer
	line int // characters on the current line
}

func (l *base64Lines) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if l.line == base64Line {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.line = 0
		}
		k := min(base64Line-l.line, len(p))
		n, err := l.w.Write(p[:k])
		written += n
		l.line += n
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}
