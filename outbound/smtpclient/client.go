// Package smtpclient is the SMTP submission client of rmad's courier: greeting, EHLO (HELO as
// a fallback), STARTTLS, AUTH with any go-sasl client, and mail transactions that are pipelined
// (RFC 2920: RSET, MAIL FROM, every RCPT TO and DATA in one write, their replies read after)
// when the server's EHLO offers PIPELINING, and sent one command at a time when it does not.
//
// It is ours because no maintained Go client pipelines: go-smtp's (v0.25.1 and v0.26.0) writes
// one command per round trip and keeps its connection and reader unexported, net/smtp is
// frozen, and mox's client is not on the module proxy. It is small and bounded: reply lines of
// at most MaxLineLength bytes, multi-line replies of at most MaxReplyLines lines and
// MaxReplySize bytes, a deadline on every exchange; FuzzReadReply covers the reply reader.
package smtpclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// DefaultTimeout bounds the greeting and each command's reply when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Client is one SMTP connection. Its methods are not safe for concurrent use. After an error
// other than a refused recipient the connection may be out of step with the server: Close it.
type Client struct {
	// Timeout bounds writing each command (or pipelined group) and reading each reply; zero
	// means DefaultTimeout.
	Timeout time.Duration

	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	name string            // the EHLO name, said again after STARTTLS
	ext  map[string]string // EHLO keywords (upper case) and their parameters
	tls  bool
}

// New reads the server's greeting on conn (a plain or already TLS connection) and returns the
// client; say Hello next. A refusing greeting (554) is an *Error.
func New(conn net.Conn, timeout time.Duration) (*Client, error) {
	c := &Client{Timeout: timeout, conn: conn}
	c.setConn(conn)
	_, c.tls = conn.(*tls.Conn)
	rep, err := c.read()
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if rep.code != 220 {
		return nil, fmt.Errorf("greeting: %w", rep.err())
	}
	return c, nil
}

func (c *Client) setConn(conn net.Conn) {
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, MaxLineLength)
	c.w = bufio.NewWriterSize(conn, 4096)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// read reads one reply within the command timeout.
func (c *Client) read() (reply, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout()))
	return readReply(c.r)
}

// write queues one command line; flush sends what is queued.
func (c *Client) write(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("smtp: command %q contains a line break", truncate(line, 40))
	}
	_, err := c.w.WriteString(line + "\r\n")
	return err
}

func (c *Client) flush() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout()))
	return c.w.Flush()
}

// cmd sends one command and reads its reply; a reply other than want is an *Error.
func (c *Client) cmd(want int, line string) (reply, error) {
	if err := c.write(line); err != nil {
		return reply{}, err
	}
	if err := c.flush(); err != nil {
		return reply{}, err
	}
	rep, err := c.read()
	if err != nil {
		return reply{}, err
	}
	if want != 0 && rep.code != want {
		return rep, rep.err()
	}
	return rep, nil
}

// Hello says EHLO as name, or HELO when the server does not know EHLO (500/502).
func (c *Client) Hello(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("smtp: EHLO name %q", name)
	}
	c.name = name
	rep, err := c.cmd(250, "EHLO "+name)
	var se *Error
	if errors.As(err, &se) && (se.Code == 500 || se.Code == 502) {
		c.ext = map[string]string{}
		_, err = c.cmd(250, "HELO "+name)
		return err
	}
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	for _, l := range rep.lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		if k != "" {
			c.ext[strings.ToUpper(k)] = v
		}
	}
	return nil
}

// Extension reports whether the server's EHLO offered name, and its parameters.
func (c *Client) Extension(name string) (bool, string) {
	v, ok := c.ext[strings.ToUpper(name)]
	return ok, v
}

// SupportsAuth reports whether the server offers the SASL mechanism mech.
func (c *Client) SupportsAuth(mech string) bool {
	_, mechs := c.Extension("AUTH")
	return slices.ContainsFunc(strings.Fields(mechs), func(m string) bool { return strings.EqualFold(m, mech) })
}

// TLS reports whether the connection is encrypted (implicit TLS or after StartTLS).
func (c *Client) TLS() bool { return c.tls }

// StartTLS upgrades the connection with cfg and says EHLO again. A server that does not offer
// STARTTLS is refused: never fall back to plain text.
func (c *Client) StartTLS(ctx context.Context, cfg *tls.Config) error {
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("the server does not offer STARTTLS")
	}
	if _, err := c.cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(c.timeout()))
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.setConn(tc)
	c.tls = true
	return c.Hello(c.name)
}

// Auth logs in with a (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER, ...): the initial response goes
// with AUTH, each 334 challenge gets the client's answer. A refusal is an *Error.
func (c *Client) Auth(a sasl.Client) error {
	mech, resp, err := a.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	switch {
	case len(resp) > 0:
		line += " " + base64.StdEncoding.EncodeToString(resp)
	case resp != nil:
		line += " ="
	}
	rep, err := c.cmd(0, line)
	for err == nil {
		switch rep.code {
		case 235:
			return nil
		case 334:
		default:
			return rep.err()
		}
		challenge, derr := base64.StdEncoding.DecodeString(rep.text())
		if derr == nil {
			resp, derr = a.Next(challenge)
		}
		if derr != nil {
			// Cancel the exchange (RFC 4954 §4) and report why; the server's 501 says nothing.
			c.cmd(0, "*")
			return fmt.Errorf("AUTH %s: %w", mech, derr)
		}
		rep, err = c.cmd(0, base64.StdEncoding.EncodeToString(resp))
	}
	return err
}

// Reset says RSET: the server forgets any transaction, and answers if it still listens.
func (c *Client) Reset() error {
	_, err := c.cmd(250, "RSET")
	return err
}

// Quit says QUIT and closes the connection.
func (c *Client) Quit() error {
	_, err := c.cmd(221, "QUIT")
	if cerr := c.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the connection without a word to the server.
func (c *Client) Close() error { return c.conn.Close() }

// Pipelining reports whether transactions are pipelined: the server offered PIPELINING.
func (c *Client) Pipelining() bool {
	ok, _ := c.Extension("PIPELINING")
	return ok
}

// Mail is one message to send: the envelope and the message's bytes (CRLF line ends; Send
// dot-stuffs them).
type Mail struct {
	From string
	To   []string
	Data []byte
	// UTF8 asks for SMTPUTF8 (RFC 6531): an address is not ASCII. A server that does not offer
	// it is refused before anything is sent.
	UTF8 bool
	// Reset starts the transaction with RSET, for a connection that carried one before.
	Reset bool
	// DataTimeout bounds writing the data and reading the reply to its end; zero means the
	// client's Timeout.
	DataTimeout time.Duration
}

// Command verbs in a CommandError.
const (
	VerbRset = "RSET"
	VerbMail = "MAIL"
	VerbRcpt = "RCPT"
	VerbData = "DATA"
	VerbEnd  = "end of DATA" // the reply after the data's final dot
)

// CommandError is a failure of one command of a transaction: the server's refusal (Err is an
// *Error) or no usable reply (a network error, a malformed reply).
type CommandError struct {
	Verb    string // VerbRset, VerbMail, ...
	Command string // the command as sent, "RCPT TO:<a@b.example>"
	Err     error
}

func (e *CommandError) Error() string { return e.Command + ": " + e.Err.Error() }
func (e *CommandError) Unwrap() error { return e.Err }

// RecipientsError holds the refusals of the recipients when more than one was refused.
type RecipientsError []*CommandError

func (e RecipientsError) Error() string {
	s := make([]string, len(e))
	for i, ce := range e {
		s[i] = ce.Error()
	}
	return strings.Join(s, "; ")
}

func (e RecipientsError) Unwrap() []error {
	errs := make([]error, len(e))
	for i, ce := range e {
		errs[i] = ce
	}
	return errs
}

// Send runs one mail transaction. With PIPELINING, RSET (when m.Reset), MAIL FROM, the RCPT
// TOs and DATA go in one write and their replies are read after; without it each command
// waits for its reply, a refusal of RSET or MAIL ends the transaction, and a refused recipient
// means no DATA (the other recipients are still asked, so that every refusal is named). The error is a *CommandError naming the command that failed, or a
// RecipientsError when several recipients were refused. A refusal of MAIL FROM comes first,
// then those of the recipients, then DATA's. When DATA was accepted (354) after a recipient
// was refused, the data is not sent: with every recipient refused the client sends the lone
// dot RFC 2920 §3.1 asks for; with some accepted it closes the connection, which aborts the
// transaction (a partial delivery would be retried to all).
func (c *Client) Send(m Mail) error {
	mail, err := c.mailCommand(m)
	if err != nil {
		return &CommandError{Verb: VerbMail, Command: mail, Err: err}
	}
	type command struct{ verb, line string }
	var cmds []command
	if m.Reset {
		cmds = append(cmds, command{VerbRset, "RSET"})
	}
	cmds = append(cmds, command{VerbMail, mail})
	for _, to := range m.To {
		cmds = append(cmds, command{VerbRcpt, "RCPT TO:<" + to + ">"})
	}
	cmds = append(cmds, command{VerbData, "DATA"})
	fail := func(i int, err error) error {
		return &CommandError{Verb: cmds[i].verb, Command: cmds[i].line, Err: err}
	}

	// replies[i] is the reply to cmds[i]; the loop stops at the first that did not come.
	replies := make([]reply, 0, len(cmds))
	var broken error // no reply to cmds[len(replies)]: the connection failed
	if c.Pipelining() {
		for i, cmd := range cmds {
			if err := c.write(cmd.line); err != nil {
				return fail(i, err)
			}
		}
		if err := c.flush(); err != nil {
			return fail(0, err)
		}
		for range cmds {
			rep, err := c.read()
			if err != nil {
				broken = err
				break
			}
			replies = append(replies, rep)
		}
	} else {
		recipientRefused := false
		for _, cmd := range cmds {
			if cmd.verb == VerbData && recipientRefused {
				break // no DATA for a refused recipient
			}
			rep, err := c.cmd(0, cmd.line)
			if err != nil {
				broken = err
				break
			}
			replies = append(replies, rep)
			if (cmd.verb == VerbMail || cmd.verb == VerbRset) && rep.code != 250 {
				break
			}
			recipientRefused = recipientRefused || cmd.verb == VerbRcpt && !rcptOK(rep)
		}
	}

	// The first failure in the order of the commands: a reply that came explains a broken
	// connection after it (a 421 before the server hung up).
	var refused RecipientsError
	accepted := 0
	for i, rep := range replies {
		switch cmds[i].verb {
		case VerbRset, VerbMail:
			if rep.code != 250 {
				return fail(i, rep.err())
			}
		case VerbRcpt:
			if rcptOK(rep) {
				accepted++
			} else {
				refused = append(refused, fail(i, rep.err()).(*CommandError))
			}
		}
	}
	if broken != nil {
		if len(refused) > 0 {
			return refused.single()
		}
		return fail(len(replies), broken)
	}
	if len(replies) < len(cmds) { // without pipelining: stopped before DATA
		return refused.single()
	}
	data := replies[len(replies)-1]
	if data.code != 354 {
		if len(refused) > 0 {
			return refused.single()
		}
		return fail(len(cmds)-1, data.err())
	}
	if len(refused) > 0 {
		if accepted == 0 {
			// RFC 2920 §3.1: DATA accepted although no recipient was: an empty data section,
			// which the server refuses.
			if _, err := c.cmd(0, "."); err != nil {
				c.Close()
			}
		} else {
			c.Close()
		}
		return refused.single()
	}
	return c.data(m)
}

// rcptOK says whether a reply to RCPT accepted the recipient (251: forwarded).
func rcptOK(r reply) bool { return r.code == 250 || r.code == 251 }

// single is the one refusal, or all of them.
func (e RecipientsError) single() error {
	if len(e) == 1 {
		return e[0]
	}
	return e
}

// mailCommand is MAIL FROM with the parameters the server offers and m needs: BODY=8BITMIME
// and SIZE when offered, SMTPUTF8 when an address needs it.
func (c *Client) mailCommand(m Mail) (string, error) {
	line := "MAIL FROM:<" + m.From + ">"
	if ok, _ := c.Extension("8BITMIME"); ok {
		line += " BODY=8BITMIME"
	}
	if ok, _ := c.Extension("SIZE"); ok {
		line += " SIZE=" + strconv.Itoa(len(m.Data))
	}
	if m.UTF8 {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return line, errors.New("the server does not offer SMTPUTF8, which the addresses need")
		}
		line += " SMTPUTF8"
	}
	return line, nil
}

// data writes m's data dot-stuffed, with the final dot, and reads the server's verdict.
func (c *Client) data(m Mail) error {
	timeout := m.DataTimeout
	if timeout <= 0 {
		timeout = c.timeout()
	}
	end := &CommandError{Verb: VerbEnd, Command: VerbEnd}
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	dw := &dotWriter{w: c.w}
	if _, err := dw.Write(m.Data); err != nil {
		end.Err = fmt.Errorf("writing the data: %w", err)
		return end
	}
	if err := dw.Close(); err != nil { // writes the final dot and flushes
		end.Err = fmt.Errorf("writing the data: %w", err)
		return end
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	rep, err := readReply(c.r)
	switch {
	case err != nil:
		end.Err = err
	case rep.code != 250:
		end.Err = rep.err()
	default:
		return nil
	}
	return end
}
