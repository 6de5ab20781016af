package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/rmad/rmad/rma"
)

// ClassifyHeader decides from a mail's header block alone what ParseMail would call it: kind,
// sender, partner, command. Sender classification (docs/contract.md §1.4) needs nothing else, so the IMAP
// side can file a mail (processed or rejected) without parsing its body a first time.
func (p *Parser) ClassifyHeader(header []byte) (rma.Submission, error) {
	br := bufio.NewReader(bytes.NewReader(header))
	sub := rma.Submission{Source: rma.Source{Channel: ChannelMail}}
	th, err := readMailHeader(br)
	if err != nil {
		return sub, err
	}
	h := mail.Header{Header: message.Header{Header: th}}
	readHeader(&sub, h)
	p.classify(&sub, h)
	return sub, nil
}

// HeaderBlock returns the header block of a raw mail as ParseMail reads it: what comes above the
// header (a BOM, blank lines, an mbox "From " line), the fields, and the blank line that ends them
// (the whole input when there is no body). ClassifyHeader(HeaderBlock(raw)) decides as
// ParseMail(raw) does, so the IMAP side can keep the header of a mail that starts with blank lines.
func HeaderBlock(raw []byte) []byte {
	r := bytes.NewReader(raw)
	br := bufio.NewReader(r)
	_, _ = readMailHeader(br) // a mail without fields has no header block; the parser answers that
	end := len(raw) - r.Len() - br.Buffered()
	return raw[:end:end]
}

// Bounds of the header block lenient reading keeps (a header is a few KB; the rest of a
// larger "header" is read as body).
const (
	maxHeaderBytes = 1 << 20
	maxHeaderLine  = 64 << 10
)

// readMailHeader reads a mail's header as leniently as Python's email package: a UTF-8 BOM, an
// mbox "From " line and blank lines above the header are skipped; a line that is neither
// "Name: value" nor a continuation ends the field before it and is dropped, and the header
// goes on. br is left at the first byte of the body. It fails only when no field was found.
func readMailHeader(br *bufio.Reader) (textproto.Header, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xef, 0xbb, 0xbf}) {
		_, _ = br.Discard(3)
	}
	skipBlankLines(br)
	skipMboxFromLine(br)
	skipBlankLines(br)

	var clean bytes.Buffer
	inField := false
	for clean.Len() < maxHeaderBytes {
		line, err := readHeaderLine(br)
		t := bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && len(t) == 0 {
			break // the blank line that ends the header
		}
		switch {
		case len(t) == 0:
		case t[0] == ' ' || t[0] == '\t':
			if inField { // a continuation of the field before; one with no field before is dropped
				clean.Write(t)
				clean.WriteString("\r\n")
			}
		case validFieldLine(t):
			clean.Write(t)
			clean.WriteString("\r\n")
			inField = true
		default:
			inField = false // a broken line ends its field
		}
		if err != nil {
			break
		}
	}
	clean.WriteString("\r\n")
	th, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if th.Len() == 0 {
		if err == nil {
			err = fmt.Errorf("no header field")
		}
		return th, fmt.Errorf("ingest: reading mail header: %w", err)
	}
	return th, nil
}

// readHeaderLine reads one line with its end; a longer line than maxHeaderLine is cut there
// (and the rest of it skipped).
func readHeaderLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) < maxHeaderLine {
			line = append(line, chunk[:min(len(chunk), maxHeaderLine-len(line))]...)
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = nil
				if line[len(line)-1] != '\n' {
					err = io.EOF
				}
			}
			return line, err
		}
	}
}

// validFieldLine reports "Name: value" with a name of printable ASCII (spaces before the
// colon are tolerated, as mail in the wild has them).
func validFieldLine(t []byte) bool {
	i := bytes.IndexByte(t, ':')
	if i <= 0 {
		return false
	}
	name := bytes.TrimRight(t[:i], " \t")
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// skipBlankLines drops empty (or whitespace-only) lines above the header.
func skipBlankLines(br *bufio.Reader) {
	for {
		b, _ := br.Peek(256)
		i := 0
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r') {
			i++
		}
		if i >= len(b) || b[i] != '\n' {
			return
		}
		_, _ = br.Discard(i + 1)
	}
}

// skipMboxFromLine drops the "From sender date" line an mbox export puts above a mail (and not
// a "From : x" header written with a space before its colon).
func skipMboxFromLine(br *bufio.Reader) {
	b, _ := br.Peek(64)
	if !bytes.HasPrefix(b, []byte("From ")) || bytes.HasPrefix(bytes.TrimLeft(b[5:], " \t"), []byte(":")) {
		return
	}
	for {
		if _, err := br.ReadSlice('\n'); err != bufio.ErrBufferFull {
			return
		}
	}
}
