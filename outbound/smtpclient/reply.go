package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
)

// Bounds on what is read from a server, so that a broken or hostile one cannot make the
// client hold more than a few KiB per reply. RFC 5321 §4.5.3.1.5 limits a reply line to 512
// octets; servers exceed it in practice (long EHLO keyword lists, chatty 5xx texts), hence the
// margin.
const (
	MaxLineLength = 4096     // one reply line, CRLF included
	MaxReplyLines = 128      // lines of one multi-line reply
	MaxReplySize  = 64 << 10 // bytes of one reply, all its lines together
)

// Error is a server's reply that refuses what it answers.
type Error struct {
	Code     int    // the three-digit reply code, 400–599
	Enhanced [3]int // RFC 3463 enhanced status code; zeros when the reply has none
	Message  string // the reply's text without the codes; lines joined by a space
}

func (e *Error) Error() string {
	s := "SMTP " + strconv.Itoa(e.Code)
	if e.Enhanced[0] != 0 {
		s += fmt.Sprintf(" %d.%d.%d", e.Enhanced[0], e.Enhanced[1], e.Enhanced[2])
	}
	if e.Message != "" {
		s += " " + e.Message
	}
	return s
}

// Temporary reports a 4xx reply: the same command may succeed later.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// reply is one complete server reply.
type reply struct {
	code  int
	lines []string // the text of each line, after "NNN-" or "NNN "
}

// text is the reply's lines joined by a space.
func (r reply) text() string { return strings.Join(r.lines, " ") }

// err is the reply as an *Error, its enhanced code split off the first line.
func (r reply) err() *Error {
	e := &Error{Code: r.code}
	lines := append([]string(nil), r.lines...)
	if len(lines) > 0 {
		if enh, rest, ok := enhancedCode(lines[0], r.code); ok {
			e.Enhanced, lines[0] = enh, rest
		}
	}
	e.Message = strings.TrimSpace(strings.Join(lines, " "))
	return e
}

// enhancedCode splits an RFC 3463 code ("5.1.1 ") off text when its class matches the reply
// code's first digit.
func enhancedCode(text string, code int) (enh [3]int, rest string, ok bool) {
	head, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(head, ".")
	if len(parts) != 3 {
		return enh, text, false
	}
	for i, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return enh, text, false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return enh, text, false
		}
		enh[i] = n
	}
	if enh[0] != code/100 {
		return [3]int{}, text, false
	}
	return enh, rest, true
}

// errLineTooLong and the other malformed-reply errors are textproto.ProtocolErrors, so callers
// can tell a server that speaks no SMTP from one that refused.
const (
	errLineTooLong  = textproto.ProtocolError("a reply line is longer than the limit")
	errTooManyLines = textproto.ProtocolError("a multi-line reply has more lines or bytes than the limit")
)

// readReply reads one reply from r, which must be a bufio.Reader of at least MaxLineLength
// bytes: a line longer than its buffer is refused rather than gathered.
func readReply(r *bufio.Reader) (reply, error) {
	var rep reply
	size := 0
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull) || len(line) > MaxLineLength:
			return reply{}, errLineTooLong
		case err == io.EOF && len(line) > 0:
			return reply{}, io.ErrUnexpectedEOF
		case err == io.EOF && len(rep.lines) > 0:
			return reply{}, io.ErrUnexpectedEOF
		case err != nil:
			return reply{}, err
		}
		size += len(line)
		if len(rep.lines) >= MaxReplyLines || size > MaxReplySize {
			return reply{}, errTooManyLines
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		code, last, text, err := parseLine(s)
		if err != nil {
			return reply{}, err
		}
		if len(rep.lines) > 0 && code != rep.code {
			return reply{}, textproto.ProtocolError(fmt.Sprintf("reply code %d within a reply of %d", code, rep.code))
		}
		rep.code = code
		rep.lines = append(rep.lines, text)
		if last {
			return rep, nil
		}
	}
}

// parseLine splits "NNN-text" (more lines follow) or "NNN text" / "NNN" (the last line).
func parseLine(s string) (code int, last bool, text string, err error) {
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '5' || s[2] < '0' || s[2] > '9' {
		return 0, false, "", textproto.ProtocolError(fmt.Sprintf("not an SMTP reply line: %q", truncate(s, 40)))
	}
	code = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	if len(s) == 3 {
		return code, true, "", nil
	}
	switch s[3] {
	case ' ':
		return code, true, s[4:], nil
	case '-':
		return code, false, s[4:], nil
	}
	return 0, false, "", textproto.ProtocolError(fmt.Sprintf("not an SMTP reply line: %q", truncate(s, 40)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
