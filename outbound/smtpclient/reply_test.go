package smtpclient

import (
	"bufio"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// TestMain fails the run when a panic was recovered that no test caused on purpose.
func TestMain(m *testing.M) { testenv.Main(m) }

func read(s string) (reply, error) {
	return readReply(bufio.NewReaderSize(strings.NewReader(s), MaxLineLength))
}

func TestReadReply(t *testing.T) {
	for _, tt := range []struct {
		in    string
		code  int
		lines []string
		err   string // the error's text contains it
	}{
		{in: "250 OK\r\n", code: 250, lines: []string{"OK"}},
		{in: "250\r\n", code: 250, lines: []string{""}},
		{in: "250 lf only\n", code: 250, lines: []string{"lf only"}},
		{in: "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", code: 250, lines: []string{"mx.example", "PIPELINING", "SIZE 1000"}},
		{in: "550 5.1.1 no such user\r\n", code: 550, lines: []string{"5.1.1 no such user"}},
		{in: "250-a\r\n251 b\r\n", err: "reply code 251 within a reply of 250"},
		{in: "hello\r\n", err: "not an SMTP reply line"},
		{in: "150 one\r\n", err: "not an SMTP reply line"},
		{in: "2500 x\r\n", err: "not an SMTP reply line"},
		{in: "250-more\r\n", err: io.ErrUnexpectedEOF.Error()},
		{in: "250 no end", err: io.ErrUnexpectedEOF.Error()},
		{in: "", err: "EOF"},
		{in: "250 " + strings.Repeat("x", MaxLineLength) + "\r\n", err: string(errLineTooLong)},
		{in: strings.Repeat("250-x\r\n", MaxReplyLines+1) + "250 x\r\n", err: string(errTooManyLines)},
		{in: strings.Repeat("250-"+strings.Repeat("x", 1000)+"\r\n", 70) + "250 x\r\n", err: string(errTooManyLines)},
	} {
		rep, err := read(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%.30q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || rep.code != tt.code || strings.Join(rep.lines, "|") != strings.Join(tt.lines, "|") {
			t.Errorf("%.30q = %d %q, %v; want %d %q", tt.in, rep.code, rep.lines, err, tt.code, tt.lines)
		}
	}
	var pe textproto.ProtocolError
	if _, err := read("junk\r\n"); !errors.As(err, &pe) {
		t.Errorf("a malformed reply must be a textproto.ProtocolError, got %T", err)
	}
}

func TestReplyError(t *testing.T) {
	for _, tt := range []struct {
		rep  reply
		want Error
		text string
	}{
		{reply{550, []string{"5.1.1 no such", "user here"}}, Error{550, [3]int{5, 1, 1}, "no such user here"}, "SMTP 550 5.1.1 no such user here"},
		{reply{451, []string{"try later"}}, Error{451, [3]int{}, "try later"}, "SMTP 451 try later"},
		{reply{451, []string{"5.1.1 class differs"}}, Error{451, [3]int{}, "5.1.1 class differs"}, "SMTP 451 5.1.1 class differs"},
		{reply{421, []string{""}}, Error{421, [3]int{}, ""}, "SMTP 421"},
	} {
		e := tt.rep.err()
		if *e != tt.want || e.Error() != tt.text {
			t.Errorf("%v: %+v %q; want %+v %q", tt.rep, *e, e.Error(), tt.want, tt.text)
		}
	}
	if !(&Error{Code: 451}).Temporary() || (&Error{Code: 550}).Temporary() {
		t.Error("Temporary")
	}
}

// FuzzReadReply feeds the reply reader arbitrary server output: it never panics, never returns
// more than the limits allow, and what it accepts is well formed and reads back the same.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"250 OK\r\n", "250-a\r\n250-PIPELINING\r\n250 SIZE 10\r\n", "550 5.1.1 x\r\n",
		"354\n", "250-a\r\n", "421-\r\n421 bye", "\x00\xff\r\n", "250 " + strings.Repeat("y", 5000)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(data)), MaxLineLength)
		for range 10 {
			rep, err := readReply(r)
			if err != nil {
				return
			}
			if rep.code < 200 || rep.code > 599 || len(rep.lines) == 0 || len(rep.lines) > MaxReplyLines {
				t.Fatalf("accepted reply %d with %d lines", rep.code, len(rep.lines))
			}
			var b strings.Builder
			size := 0
			for i, l := range rep.lines {
				size += len(l)
				if strings.Contains(l, "\n") {
					t.Fatalf("line %q holds a line break", l)
				}
				sep := "-"
				if i == len(rep.lines)-1 {
					sep = " "
				}
				b.WriteString(itoa(rep.code) + sep + l + "\r\n")
			}
			if size > MaxReplySize {
				t.Fatalf("accepted %d bytes of reply", size)
			}
			again, err := read(b.String())
			if err != nil || again.code != rep.code || strings.Join(again.lines, "\x00") != strings.Join(rep.lines, "\x00") {
				t.Fatalf("reply %d %q reads back as %d %q, %v", rep.code, rep.lines, again.code, again.lines, err)
			}
			_ = rep.err().Error()
		}
	})
}

func itoa(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
