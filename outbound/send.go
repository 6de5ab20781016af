package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// DefaultSendTimeout bounds one delivery (connect, TLS, auth, data) when the caller's context
// has no earlier deadline.
const DefaultSendTimeout = 2 * time.Minute

// Sender delivers Messages to the configured SMTP server, one connection per message: rmad
// sends a few mails per submission, and a fresh connection cannot be a stale one.
type Sender struct {
	cfg config.SMTP
	log zerolog.Logger

	// TLSConfig replaces the default TLS settings (system roots, the address's host name) for
	// implicit TLS and STARTTLS: for a private CA, or tests.
	TLSConfig *tls.Config
	// Timeout bounds one delivery; zero means DefaultSendTimeout.
	Timeout time.Duration
	// LocalName is the name given in EHLO; empty means this host's name.
	LocalName string
}

// NewSender returns a Sender for smtp settings; log is the caller's component logger.
func NewSender(cfg config.SMTP, log zerolog.Logger) *Sender {
	return &Sender{cfg: cfg, log: log}
}

// permanentError marks a failure that retrying the same message cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether a Send error will not go away by retrying: the server refused
// this message or a recipient with a 5xx reply, or the message itself is unusable. Everything
// else (no connection, TLS trouble, 4xx, a refused login, a bad configuration) is temporary, so
// an outage or a fixable setting delays mail instead of losing it.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// Send delivers m. Errors say at which step it failed; see IsPermanent.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return &permanentError{fmt.Errorf("smtp: message %s: %w", m.ID, err)}
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	err := s.send(ctx, m, timeout)
	if err != nil {
		if ctx.Err() != nil && !IsPermanent(err) {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		return fmt.Errorf("smtp %s: message %s: %w", s.cfg.Address, m.ID, err)
	}
	s.log.Debug().Str("message_id", m.ID).Strs("to", m.To).Dur("took", time.Since(start)).Msg("delivered")
	return nil
}

func (s *Sender) send(ctx context.Context, m Message, timeout time.Duration) error {
	mode := tlsMode(s.cfg)
	if err := checkTransport(mode, s.cfg.Address); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(s.cfg.Address)
	if err != nil {
		return fmt.Errorf("smtp.address %q: %w", s.cfg.Address, err)
	}
	tlsCfg := s.tlsConfig(host)

	var conn net.Conn
	d := &net.Dialer{}
	if mode == config.TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", s.cfg.Address)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	}
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	// go-smtp has no context: closing the connection is what interrupts a hung command or DATA.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *smtp.Client
	if mode == config.TLSStartTLS {
		// Refuses a server without STARTTLS: never fall back to plain text.
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return fmt.Errorf("starttls: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout = timeout
	c.SubmissionTimeout = timeout
	if err := c.Hello(s.localName()); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}

	if s.cfg.Username != "" {
		_, tlsActive := c.TLSConnectionState()
		if err := authAllowed(s.cfg.Address, tlsActive); err != nil {
			return err
		}
		mech, err := saslClient(c, s.cfg.Username, s.cfg.Password.Reveal())
		if err != nil {
			return err
		}
		if err := c.Auth(mech); err != nil {
			// A refused login is the configuration's fault, not this message's: retry later.
			return fmt.Errorf("auth as %s: %w", s.cfg.Username, err)
		}
	}

	if err := c.Mail(m.From, mailOptions(m)); err != nil {
		return envelopeError("MAIL FROM:<"+m.From+">", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to, nil); err != nil {
			return envelopeError("RCPT TO:<"+to+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return envelopeError("DATA", err)
	}
	if _, err := w.Write(m.Raw); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return envelopeError("end of DATA", err)
	}
	// The message is accepted; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// envelopeError wraps a failure of MAIL, RCPT or DATA. A 5xx reply is about this message and
// permanent, except where it is about rmad's own login or sender: 530/534/535/538, and a
// security refusal (5.7.x) of MAIL FROM — every message would get those, and they heal when
// the configuration is fixed.
func envelopeError(step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code < 500 || se.Code > 599 {
		return err
	}
	switch {
	case se.Code == 530, se.Code == 534, se.Code == 535, se.Code == 538:
		return err
	case strings.HasPrefix(step, "MAIL") && se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7:
		return err
	}
	return &permanentError{err}
}

// tlsMode is smtp.tls, defaulting to implicit TLS on port 465 and STARTTLS elsewhere.
func tlsMode(cfg config.SMTP) string {
	if m := strings.ToLower(strings.TrimSpace(cfg.TLS)); m != "" {
		return m
	}
	if strings.HasSuffix(cfg.Address, ":465") {
		return config.TLSImplicit
	}
	return config.TLSStartTLS
}

// checkTransport refuses an unknown TLS mode, and plain text to anything but a loopback relay.
func checkTransport(mode, address string) error {
	switch mode {
	case config.TLSImplicit, config.TLSStartTLS:
		return nil
	case config.TLSNone:
		if isLoopback(address) {
			return nil
		}
		return fmt.Errorf("smtp.tls none is allowed only for a loopback address, not %q: use starttls or implicit", address)
	}
	return fmt.Errorf("smtp.tls %q: want implicit, starttls or none", mode)
}

// authAllowed decides whether credentials may be sent: over TLS, or in the clear to loopback
// only. go-smtp's client does not check this itself.
func authAllowed(address string, tlsActive bool) error {
	if tlsActive || isLoopback(address) {
		return nil
	}
	return fmt.Errorf("smtp: refusing to send the password for %s without TLS to non-loopback %q", address, address)
}

// isLoopback reports whether host:port (or a bare host) names this machine: localhost or a
// loopback IP. Other names are not resolved: DNS could point them anywhere.
func isLoopback(address string) bool {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// saslClient picks PLAIN, else LOGIN, from what the server offers.
func saslClient(c *smtp.Client, user, pass string) (sasl.Client, error) {
	if ok, _ := c.Extension("AUTH"); !ok {
		return nil, errors.New("auth: the server offers no AUTH, but smtp.username is set")
	}
	switch {
	case c.SupportsAuth(sasl.Plain):
		return sasl.NewPlainClient("", user, pass), nil
	case c.SupportsAuth(sasl.Login):
		return sasl.NewLoginClient(user, pass), nil
	}
	_, mechs := c.Extension("AUTH")
	return nil, fmt.Errorf("auth: the server offers %q, rmad speaks PLAIN and LOGIN", mechs)
}

func (s *Sender) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}

func (s *Sender) localName() string {
	if s.LocalName != "" {
		return s.LocalName
	}
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

// mailOptions asks for SMTPUTF8 only when an address needs it.
func mailOptions(m Message) *smtp.MailOptions {
	if isASCII(m.From) {
		all := true
		for _, t := range m.To {
			all = all && isASCII(t)
		}
		if all {
			return nil
		}
	}
	return &smtp.MailOptions{UTF8: true}
}

// checkMessage refuses what no server could take, before connecting.
func checkMessage(m Message) error {
	switch {
	case len(m.To) == 0:
		return errors.New("no recipients")
	case len(m.Raw) == 0:
		return errors.New("empty message")
	case strings.ContainsAny(m.From, "\r\n<>"):
		return fmt.Errorf("envelope sender %q is not an address", m.From)
	}
	for _, t := range m.To {
		if t == "" || strings.ContainsAny(t, "\r\n<> ") || !strings.Contains(t, "@") {
			return fmt.Errorf("recipient %q is not an address", t)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
