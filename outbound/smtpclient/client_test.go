package smtpclient

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rmad/rmad/internal/testenv"
)

// sink is a go-smtp backend that keeps what it receives and refuses on demand.
type sink struct {
	mu       sync.Mutex
	mailErr  error
	rcptErr  map[string]error
	dropAt   string // the recipient whose RCPT makes the server hang up
	got      []string
	commands []string // MAIL/RCPT/DATA as the backend saw them
	opts     []smtp.MailOptions
}

func (b *sink) NewSession(c *smtp.Conn) (smtp.Session, error) { return &sinkSession{b: b, c: c}, nil }

type sinkSession struct {
	b *sink
	c *smtp.Conn
}

func (s *sinkSession) note(cmd string) {
	s.b.mu.Lock()
	s.b.commands = append(s.b.commands, cmd)
	s.b.mu.Unlock()
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "rma" || pass != "secret" {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	s.note("MAIL " + from)
	s.b.mu.Lock()
	s.b.opts = append(s.b.opts, *opts)
	s.b.mu.Unlock()
	return s.b.mailErr
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.note("RCPT " + to)
	if to == s.b.dropAt {
		s.c.Close()
		return errors.New("gone")
	}
	return s.b.rcptErr[to]
}

func (s *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.note("DATA")
	s.b.mu.Lock()
	s.b.got = append(s.b.got, string(data))
	s.b.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

func (b *sink) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// serve runs go-smtp (which offers PIPELINING) for b on loopback; with tlsOn it offers STARTTLS.
func serve(t *testing.T, b *sink, tlsOn bool) (addr string, clientTLS *tls.Config) {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if tlsOn {
		cert, pool := testenv.SelfSignedCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		clientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), clientTLS
}

// dial connects to addr and says EHLO (STARTTLS and AUTH PLAIN when tlsCfg is set).
func dial(t *testing.T, addr string, tlsCfg *tls.Config) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(conn, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("rmad.test"); err != nil {
		t.Fatal(err)
	}
	if tlsCfg != nil {
		if err := c.StartTLS(t.Context(), tlsCfg); err != nil {
			t.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "rma", "secret")); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

const body = "From: rma@distributor.example\r\nSubject: t\r\n\r\n.starts with a dot\r\n..two\r\nend\r\n"

// stuffed is body as go-smtp hands it to the backend: un-dot-stuffed, CRLF kept.
const stuffed = body

func TestServerOffersPipelining(t *testing.T) {
	addr, tlsCfg := serve(t, &sink{}, true)
	c := dial(t, addr, tlsCfg)
	if !c.Pipelining() || !c.TLS() || !c.SupportsAuth("plain") {
		t.Errorf("go-smtp after STARTTLS: pipelining %v, TLS %v, AUTH PLAIN %v; want all", c.Pipelining(), c.TLS(), c.SupportsAuth("PLAIN"))
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Error("go-smtp offers 8BITMIME")
	}
}

// TestPipelinedGroupInOneRoundTrip: with PIPELINING the client sends RSET, MAIL, every RCPT and
// DATA before the first reply (the wire holds the replies until DATA arrived), so a message
// costs two round trips: the group, and the data.
func TestPipelinedGroupInOneRoundTrip(t *testing.T) {
	b := &sink{}
	addr, _ := serve(t, b, false)
	w, waddr := testenv.StartSMTPWire(t, addr, true, false)
	c := dial(t, waddr, nil)
	to := []string{"a@x.example", "b@x.example", "c@x.example"}
	for i, reset := range []bool{false, true} {
		if err := c.Send(Mail{From: "rma@distributor.example", To: to, Data: []byte(body), Reset: reset}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	_, atData := w.Stats()
	if len(atData) != 2 || atData[0] != 5 || atData[1] != 6 {
		t.Errorf("commands unanswered when DATA went: %v; want [5 6] (MAIL+3 RCPT+DATA, then RSET too)", atData)
	}
	if got := b.messages(); len(got) != 2 || got[0] != stuffed {
		t.Errorf("server got %q", got)
	}
}

// TestFallbackOneCommandAtATime: a server without PIPELINING gets one command per reply.
func TestFallbackOneCommandAtATime(t *testing.T) {
	b := &sink{}
	addr, _ := serve(t, b, false)
	w, waddr := testenv.StartSMTPWire(t, addr, false, true)
	c := dial(t, waddr, nil)
	if c.Pipelining() {
		t.Fatal("the wire strips PIPELINING")
	}
	for _, reset := range []bool{false, true} {
		if err := c.Send(Mail{From: "rma@distributor.example", To: []string{"a@x.example", "b@x.example"}, Data: []byte(body), Reset: reset}); err != nil {
			t.Fatal(err)
		}
	}
	if maxIn, atData := w.Stats(); maxIn != 1 || len(atData) != 2 || atData[0] != 1 {
		t.Errorf("most commands unanswered at once: %d (at DATA %v); want 1", maxIn, atData)
	}
	if got := b.messages(); len(got) != 2 || got[1] != stuffed {
		t.Errorf("server got %q", got)
	}
}

// TestRefusals: a recipient refused in the middle of the group, every recipient refused, MAIL
// FROM refused and the connection dropped in the middle of the group, pipelined and not.
func TestRefusals(t *testing.T) {
	no := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	busy := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	for _, strip := range []bool{false, true} {
		mode := map[bool]string{false: "pipelined", true: "one at a time"}[strip]
		for _, tt := range []struct {
			name  string
			b     *sink
			to    []string
			verb  string // of the (first) CommandError
			code  int    // its reply code; 0: no reply (the connection failed)
			count int    // CommandErrors
		}{
			{"recipient refused in the middle", &sink{rcptErr: map[string]error{"b@x.example": no}}, []string{"a@x.example", "b@x.example", "c@x.example"}, VerbRcpt, 550, 1},
			{"two of three refused", &sink{rcptErr: map[string]error{"a@x.example": busy, "c@x.example": no}}, []string{"a@x.example", "b@x.example", "c@x.example"}, VerbRcpt, 451, 2},
			{"every recipient refused", &sink{rcptErr: map[string]error{"a@x.example": no, "b@x.example": no}}, []string{"a@x.example", "b@x.example"}, VerbRcpt, 550, 2},
			{"MAIL FROM refused", &sink{mailErr: busy}, []string{"a@x.example", "b@x.example"}, VerbMail, 451, 1},
			{"connection dropped in the middle", &sink{dropAt: "b@x.example"}, []string{"a@x.example", "b@x.example", "c@x.example"}, VerbRcpt, 0, 1},
		} {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				addr, _ := serve(t, tt.b, false)
				_, waddr := testenv.StartSMTPWire(t, addr, false, strip)
				c := dial(t, waddr, nil)
				err := c.Send(Mail{From: "rma@distributor.example", To: tt.to, Data: []byte(body)})
				var ces []*CommandError
				var many RecipientsError
				var one *CommandError
				switch {
				case errors.As(err, &many):
					ces = many
				case errors.As(err, &one):
					ces = []*CommandError{one}
				default:
					t.Fatalf("Send = %v; want a CommandError", err)
				}
				if len(ces) != tt.count || ces[0].Verb != tt.verb {
					t.Fatalf("Send = %v; want %d errors, the first at %s", err, tt.count, tt.verb)
				}
				var se *Error
				if gotReply := errors.As(ces[0], &se); gotReply != (tt.code != 0) || (gotReply && se.Code != tt.code) {
					t.Errorf("Send = %v; want reply code %d", err, tt.code)
				}
				if tt.verb == VerbRcpt && tt.code != 0 && !strings.Contains(err.Error(), "RCPT TO:<") {
					t.Errorf("error %q does not name the recipient", err)
				}
				if n := len(tt.b.messages()); n != 0 {
					t.Errorf("server stored %d messages, want none", n)
				}
			})
		}
	}
}

// script is an SMTP peer that answers from a script, for what no real server does: DATA
// accepted (354) after every recipient was refused (RFC 2920 §3.1).
func script(t *testing.T, rcpt string, lines chan<- string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		defer close(lines)
		io.WriteString(c, "220 script\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				lines <- "EOF"
				return
			}
			line = strings.TrimSpace(line)
			lines <- line
			var answer string
			switch {
			case strings.HasPrefix(line, "EHLO"):
				answer = "250-script\r\n250 PIPELINING"
			case strings.HasPrefix(line, "MAIL"):
				answer = "250 ok"
			case strings.HasPrefix(line, "RCPT") && strings.Contains(line, rcpt):
				answer = "550 5.1.1 no"
			case strings.HasPrefix(line, "RCPT"):
				answer = "250 ok"
			case line == "DATA":
				answer = "354 go on"
			case line == ".":
				answer = "554 5.5.1 no valid recipients"
			default:
				answer = "500 what"
			}
			io.WriteString(c, answer+"\r\n")
		}
	}()
	return ln.Addr().String()
}

func TestDataAcceptedAfterRecipientsRefused(t *testing.T) {
	t.Run("every recipient refused: a lone dot", func(t *testing.T) {
		lines := make(chan string, 20)
		c := dial(t, script(t, "@x.example", lines), nil)
		err := c.Send(Mail{From: "rma@distributor.example", To: []string{"a@x.example", "b@x.example"}, Data: []byte(body)})
		var many RecipientsError
		if !errors.As(err, &many) || len(many) != 2 {
			t.Fatalf("Send = %v; want both recipients' refusals", err)
		}
		c.Close()
		var got []string
		for l := range lines {
			got = append(got, l)
		}
		if want := "EHLO rmad.test|MAIL FROM:<rma@distributor.example>|RCPT TO:<a@x.example>|RCPT TO:<b@x.example>|DATA|.|EOF"; strings.Join(got, "|") != want {
			t.Errorf("the server read %q\nwant %q", strings.Join(got, "|"), want)
		}
	})
	t.Run("some accepted: the transaction is dropped", func(t *testing.T) {
		lines := make(chan string, 20)
		c := dial(t, script(t, "b@x.example", lines), nil)
		err := c.Send(Mail{From: "rma@distributor.example", To: []string{"a@x.example", "b@x.example"}, Data: []byte(body)})
		var one *CommandError
		if !errors.As(err, &one) || one.Command != "RCPT TO:<b@x.example>" {
			t.Fatalf("Send = %v; want b's refusal", err)
		}
		var got []string
		for l := range lines {
			got = append(got, l)
		}
		if want := "EHLO rmad.test|MAIL FROM:<rma@distributor.example>|RCPT TO:<a@x.example>|RCPT TO:<b@x.example>|DATA|EOF"; strings.Join(got, "|") != want {
			t.Errorf("the server read %q\nwant %q (no data for a partly refused message)", strings.Join(got, "|"), want)
		}
	})
}

// TestMailParameters: BODY=8BITMIME and SIZE go with MAIL FROM where offered, SMTPUTF8 when
// asked for and offered.
func TestMailParameters(t *testing.T) {
	b := &sink{}
	srv := smtp.NewServer(b)
	srv.Domain, srv.EnableSMTPUTF8, srv.MaxMessageBytes = "localhost", true, 1<<20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, ln.Addr().String(), nil)
	if err := c.Send(Mail{From: "rma@distributor.example", To: []string{"δοκιμή@x.example"}, Data: []byte(body), UTF8: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(Mail{From: "rma@distributor.example", To: []string{"a@x.example"}, Data: []byte(body), Reset: true}); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.opts) != 2 || !b.opts[0].UTF8 || b.opts[1].UTF8 || b.opts[0].Body != smtp.Body8BitMIME || b.opts[0].Size != int64(len(body)) {
		t.Errorf("MAIL parameters as the server saw them: %+v", b.opts)
	}
}

func TestSendRefusesWhatTheServerCannotTake(t *testing.T) {
	addr, _ := serve(t, &sink{}, false)
	c := dial(t, addr, nil)
	// go-smtp offers SMTPUTF8 only when enabled: the client refuses before sending anything.
	err := c.Send(Mail{From: "rma@distributor.example", To: []string{"δοκιμή@x.example"}, Data: []byte(body), UTF8: true})
	if err == nil || !strings.Contains(err.Error(), "SMTPUTF8") {
		t.Errorf("Send = %v; want SMTPUTF8 refused", err)
	}
	if err := c.Send(Mail{From: "rma@distributor.example", To: []string{"a@x.example\r\nRSET"}, Data: []byte(body)}); err == nil {
		t.Error("a line break in an address must be refused")
	}
}
