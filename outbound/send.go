package outbound

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/mailauth"
	"github.com/rmad/rmad/outbound/smtpclient"
)

// DefaultSendTimeout bounds one delivery (connect, TLS, auth, data) when the caller's context
// has no earlier deadline, on top of the time DATA may take for the message's size.
const DefaultSendTimeout = 2 * time.Minute

// Timeouts of single steps: the connection and greeting, and each command, get
// DefaultCommandTimeout; the message data gets that plus its size at DefaultMinDataRate, so a
// hung relay is given up in seconds while a large mail on a slow link still goes through.
const (
	DefaultCommandTimeout = 30 * time.Second
	DefaultMinDataRate    = 64 << 10 // bytes per second
)

// Relay probing while sessions cannot be opened: the first probe after DefaultProbeMin,
// doubling up to DefaultProbeMax (with jitter); a probe that hangs is given up after
// DefaultProbeTimeout, and the next one starts at once.
const (
	DefaultProbeMin     = 250 * time.Millisecond
	DefaultProbeMax     = 2 * time.Second
	DefaultProbeTimeout = 10 * time.Second
)

// Session reuse defaults: a session idle this long is closed (servers drop idle clients after a
// few minutes and would leave a dead connection in the pool), and one carries at most this many
// messages unless the server's LIMITS MAILMAX says fewer.
const (
	DefaultIdleTimeout   = 30 * time.Second
	DefaultMaxPerSession = 100
)

// Sender delivers Messages to the configured SMTP server. It keeps the sessions it opened
// (connect, TLS, EHLO, AUTH are most of a delivery's cost) and reuses them for later messages:
// a reused session is checked with RSET first, any failure closes it, and a session is closed
// after IdleTimeout without work or once it carried the server's limit of messages. Concurrent
// Sends use separate sessions. Close closes the idle ones.
//
// When a session cannot be opened (refused, hung, TLS or login failing), or an open one fails in
// a way that is the relay's (421, the connection dropped, no answer in time, MAIL FROM refused)
// the relay is down: Send says so (IsRelayDown), and the Sender probes the relay by itself, with
// backoff, until a session opens again; WaitRelay blocks until then. So callers hold their
// messages while the relay is away instead of each retrying on its own, and all go on the
// moment it answers.
type Sender struct {
	cfg config.SMTP
	log zerolog.Logger

	// TLSConfig replaces the default TLS settings (system roots, the address's host name) for
	// implicit TLS and STARTTLS: for a private CA, or tests.
	TLSConfig *tls.Config
	// Timeout bounds one delivery; zero means DefaultSendTimeout plus the data's time.
	Timeout time.Duration
	// CommandTimeout bounds the connection, the greeting and each command; zero means
	// DefaultCommandTimeout. MinDataRate (bytes/s; zero: DefaultMinDataRate) scales the time
	// the data of a message may take.
	CommandTimeout time.Duration
	MinDataRate    int
	// ProbeMin, ProbeMax and ProbeTimeout pace the relay probe; zero means the Default ones.
	ProbeMin, ProbeMax, ProbeTimeout time.Duration
	// LocalName is the name given in EHLO; empty means this host's name.
	LocalName string
	// IdleTimeout closes a session unused this long; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxPerSession is the most messages one session carries; zero means DefaultMaxPerSession.
	// A server's LIMITS MAILMAX, or a 4xx refusal of MAIL FROM on a used session, lowers it.
	MaxPerSession int

	tokens *mailauth.Tokens // auth xoauth2/oauthbearer; nil with passwords

	mu      sync.Mutex
	idle    []*smtpSession // most recently used last
	closed  bool
	learned int // messages per session after which the server refused more (0: none seen)
	stats   SenderStats
	failing error         // the last attempt to open a session failed with this (nil: it worked)
	since   time.Time     // when opening sessions started to fail
	up      chan struct{} // closed while the relay is up; WaitRelay waits on it
	probing bool          // a probe loop runs
	stop    chan struct{} // closed by Close: the probe loop ends
	// probeStep is where the next probe loop starts its backoff: kept from one outage to the
	// next until a message is delivered, so a relay that opens sessions but fails every
	// message (421 at MAIL FROM) is not hammered every ProbeMin.
	probeStep time.Duration
	// faults is, per Message-ID, the Delivered count when the relay last failed that message
	// after the session opened (relayFault): failing again after other messages went through,
	// it is the message's own trouble, counted as its attempt.
	faults map[string]int
}

// SenderStats counts sessions, for tests and the benchmark.
type SenderStats struct {
	Opened    int // sessions connected and logged in
	Reused    int // messages sent on a session that had carried one before
	Redials   int // a reused session was found closed or refused MAIL, and a fresh one was used
	Delivered int
}

// NewSender returns a Sender for smtp settings; log is the caller's component logger.
func NewSender(cfg config.SMTP, log zerolog.Logger) *Sender {
	s := &Sender{cfg: cfg, log: log, up: make(chan struct{}), stop: make(chan struct{})}
	close(s.up)
	if config.UsesOAuth(cfg.Auth) && cfg.OAuth2 != nil {
		s.tokens = mailauth.NewTokens(*cfg.OAuth2, nil)
	}
	return s
}

// Health says whether the Sender can reach and log in to the server: false, with the error,
// when its last attempt to open a session failed (an outage, a refused password or OAuth
// token). Mail waits on the outbox meanwhile; it is not lost.
func (s *Sender) Health() (ok bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing == nil {
		return true, "ok"
	}
	return false, fmt.Sprintf("failing since %s: %v", s.since.UTC().Format(time.RFC3339), s.failing)
}

// Relay is Health's state for a caller that shows it: up is false while opening sessions
// fails, since when and with what last error.
func (s *Sender) Relay() (up bool, since time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failing == nil, s.since, s.failing
}

// recordOpen notes the outcome of opening a session: a failure marks the relay down and starts
// the probe, a success marks it up and releases WaitRelay.
func (s *Sender) recordOpen(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil && s.failing != nil:
		s.log.Info().Dur("down_for", time.Since(s.since)).Msg("the SMTP relay answers again")
		s.failing = nil
		close(s.up)
	case err == nil:
	case s.failing == nil:
		s.failing, s.since = err, time.Now()
		s.up = make(chan struct{})
		s.log.Error().Err(err).Msg("the SMTP relay cannot take mail; mail waits, probing it")
	default:
		s.failing = err
	}
	if s.failing != nil && !s.probing && !s.closed {
		s.probing = true
		go s.probe()
	}
}

// WaitRelay returns at once while the relay is up; while it is down, when a probe (or any
// Send) opened a session again, or when ctx ends.
func (s *Sender) WaitRelay(ctx context.Context) {
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	select {
	case <-up:
	case <-ctx.Done():
	}
}

// probe opens sessions, with backoff, until one opens; that session is kept for the next
// message. It ends early when the Sender is closed.
func (s *Sender) probe() {
	step := cmp.Or(s.ProbeMin, DefaultProbeMin)
	limit := max(cmp.Or(s.ProbeMax, DefaultProbeMax), step)
	timeout := min(cmp.Or(s.ProbeTimeout, DefaultProbeTimeout), s.commandTimeout())
	s.mu.Lock()
	step = min(max(step, s.probeStep), limit)
	s.mu.Unlock()
	var took time.Duration
	defer func() {
		s.mu.Lock()
		s.probing = false
		s.probeStep = min(2*step, limit) // reset by the next delivery
		s.mu.Unlock()
	}()
	for {
		// A probe that hung for its whole timeout has waited already: the next one starts at once.
		wait := max(step/2+rand.N(step/2+1)-took, 0)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		s.mu.Lock()
		up := s.failing == nil
		s.mu.Unlock()
		if up {
			return // a Send opened a session meanwhile
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		sess, err := s.open(ctx, timeout)
		if err != nil && ctx.Err() != nil {
			s.recordOpen(fmt.Errorf("%w (no answer within %s)", err, timeout))
		}
		cancel()
		if err == nil {
			s.putIdle(sess)
			return
		}
		took = time.Since(start)
		step = min(2*step, limit)
	}
}

func (s *Sender) commandTimeout() time.Duration {
	return cmp.Or(s.CommandTimeout, DefaultCommandTimeout)
}

// dataTimeout is how long the data of m may take: a command's time plus its size at the
// slowest acceptable rate.
func (s *Sender) dataTimeout(m Message) time.Duration {
	rate := cmp.Or(s.MinDataRate, DefaultMinDataRate)
	return s.commandTimeout() + time.Duration(len(m.Raw))*time.Second/time.Duration(rate)
}

// Stats returns the session counters.
func (s *Sender) Stats() SenderStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// permanentError marks a failure that retrying the same message cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// relayDownError marks a failure to open a session: the relay's (or rmad's settings') fault,
// never the message's.
type relayDownError struct{ err error }

func (e *relayDownError) Error() string { return e.err.Error() }
func (e *relayDownError) Unwrap() error { return e.err }

// IsRelayDown reports whether a Send error is the relay's and not the message's: a failure to
// open a session (connection refused, no greeting in time, TLS or login failing), or an open
// session that failed the relay's way (relayFault). No message can be sent until the relay
// answers, which WaitRelay waits for; the message is not to blame.
func IsRelayDown(err error) bool {
	var r *relayDownError
	return errors.As(err, &r)
}

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
		timeout = DefaultSendTimeout + s.dataTimeout(m)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	start := time.Now()
	err := s.send(ctx, m)
	if err != nil && !IsRelayDown(err) && relayFault(err) && parent.Err() == nil && s.relayToBlame(m.ID) {
		// The session was open, so the relay was reached, but it failed as a relay does (421,
		// dropped, hung): the relay is down until a probe opens a session again.
		s.recordOpen(err)
		err = &relayDownError{err}
	}
	s.settled(m.ID, err)
	if err != nil {
		if ctx.Err() != nil && !IsPermanent(err) {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		return fmt.Errorf("smtp %s: message %s: %w", s.cfg.Address, m.ID, err)
	}
	s.log.Debug().Str("message_id", m.ID).Strs("to", m.To).Dur("took", time.Since(start)).Msg("delivered")
	return nil
}

func (s *Sender) send(ctx context.Context, m Message) error {
	cmdTimeout, dataTimeout := s.commandTimeout(), s.dataTimeout(m)
	sess := s.takeIdle()
	var err error
	if sess != nil {
		// A reused session starts with RSET (pipelined with the transaction where the server
		// allows): it clears whatever the last transaction left and tells whether the server
		// still listens. A session that fails it, or was closed under it, is dropped before
		// any of m was accepted, and m goes on a fresh one.
		err = sess.run(ctx, cmdTimeout, func() error { return deliver(sess, m, true, dataTimeout) })
		if errors.Is(err, errStale) {
			s.log.Debug().Err(err).Msg("idle session is gone; reconnecting")
			sess.close()
			s.count(func(st *SenderStats) { st.Redials++ })
			sess = nil
		}
	}
	if sess == nil {
		if sess, err = s.open(ctx, cmdTimeout); err != nil {
			return err
		}
		err = sess.run(ctx, cmdTimeout, func() error { return deliver(sess, m, false, dataTimeout) })
	}
	if err != nil && sess.sent > 0 && errors.Is(err, errMailRefused) && !IsPermanent(err) {
		// A used session refused to start another message (421 or 4xx at MAIL FROM, or the
		// server closed it): the server's limit per session. Remember it and go on with a
		// fresh session; nothing of m was accepted yet.
		s.learnLimit(sess.sent, err)
		sess.close()
		s.count(func(st *SenderStats) { st.Redials++ })
		if sess, err = s.open(ctx, cmdTimeout); err != nil {
			return err
		}
		err = sess.run(ctx, cmdTimeout, func() error { return deliver(sess, m, false, dataTimeout) })
	}
	if err != nil {
		sess.close() // any failure: the next message starts on a clean session
		return err
	}
	s.count(func(st *SenderStats) {
		st.Delivered++
		if sess.sent > 0 {
			st.Reused++
		}
	})
	sess.sent++
	s.putIdle(sess)
	return nil
}

func (s *Sender) count(f func(*SenderStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// errMailRefused marks a failure at MAIL FROM (before any of the message was accepted);
// errStale a failure of the RSET that starts a reused session's transaction (the session is
// gone; nothing of the message was accepted).
var (
	errMailRefused = errors.New("MAIL FROM refused")
	errStale       = errors.New("the reused session failed RSET")
)

// relayFault reports whether err, from a session that was open, is the relay's way of failing
// rather than a refusal of this message: a 421 (the service closes the channel) at any step, a
// temporary refusal of MAIL FROM (it names only rmad's own sender, the same for every message),
// or no reply at all: the connection dropped or reset, a malformed reply, a command or the data
// not answered in time. A reply to RCPT or to the data other than 421 is about this message.
func relayFault(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	var se *smtpclient.Error
	if errors.As(err, &se) {
		return se.Code == 421 || errors.Is(err, errMailRefused)
	}
	var ne net.Error
	var pe textproto.ProtocolError
	return errors.As(err, &ne) || errors.As(err, &pe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// relayToBlame says whether a relay fault of message id is the relay's: yes, unless the same
// message failed that way before and other messages were delivered since (then the relay works
// and it is this message that fails, as one the relay's filter drops every time would).
func (s *Sender) relayToBlame(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil || len(s.faults) >= maxFaultsKept {
		s.faults = map[string]int{}
	}
	prev, seen := s.faults[id]
	s.faults[id] = s.stats.Delivered
	return !seen || s.stats.Delivered == prev
}

// maxFaultsKept bounds relayToBlame's memory (messages that failed and were never sent again).
const maxFaultsKept = 10000

// settled forgets id's relay faults once it is delivered or refused for good, and starts the
// next outage's probes from the shortest wait after a delivery.
func (s *Sender) settled(id string, err error) {
	if err != nil && !IsPermanent(err) {
		return
	}
	s.mu.Lock()
	delete(s.faults, id)
	if err == nil {
		s.probeStep = 0
	}
	s.mu.Unlock()
}

// deliver runs one mail transaction on an open session (RSET first on a reused one); the data
// may take dataTimeout. Each failed command becomes an envelopeError.
func deliver(sess *smtpSession, m Message, reused bool, dataTimeout time.Duration) error {
	err := sess.c.Send(smtpclient.Mail{From: m.From, To: m.To, Data: m.Raw, UTF8: needsUTF8(m),
		Reset: reused, DataTimeout: dataTimeout})
	if err == nil {
		return nil
	}
	var many smtpclient.RecipientsError
	if errors.As(err, &many) {
		errs := make(joined, len(many))
		for i, ce := range many {
			errs[i] = envelopeError(ce.Command, ce.Err)
		}
		return errs
	}
	var ce *smtpclient.CommandError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Verb {
	case smtpclient.VerbRset:
		return fmt.Errorf("%w: %w", errStale, err)
	case smtpclient.VerbMail:
		return fmt.Errorf("%w: %w", errMailRefused, envelopeError(ce.Command, ce.Err))
	case smtpclient.VerbEnd:
		var se *smtpclient.Error
		if !errors.As(ce.Err, &se) {
			return fmt.Errorf("data: %w", ce.Err)
		}
	}
	return envelopeError(ce.Command, ce.Err)
}

// joined is several refused recipients: permanent if one is (IsPermanent finds it), their
// texts joined by "; ".
type joined []error

func (j joined) Error() string {
	s := make([]string, len(j))
	for i, e := range j {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (j joined) Unwrap() []error { return j }

// learnLimit lowers the messages per session to what the server took before refusing, when it
// refused with a reply (a dropped connection says nothing about limits).
func (s *Sender) learnLimit(sent int, err error) {
	var se *smtpclient.Error
	if !errors.As(err, &se) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.learned == 0 || sent < s.learned {
		s.learned = sent
		s.log.Info().Int("messages", sent).Str("reply", se.Error()).Msg("the server takes this many messages per session; rmad reconnects after as many")
	}
}

// smtpSession is one open, logged-in SMTP connection.
type smtpSession struct {
	conn  net.Conn
	c     *smtpclient.Client
	sent  int  // messages delivered on it
	max   int  // messages it may carry
	dead  bool // its connection was closed under it
	timer *time.Timer
}

// run calls f with each of the session's commands bounded by cmdTimeout (the data has its own
// timeout) and all by ctx: closing the connection at the end of ctx is what interrupts a hung
// command or DATA.
func (sess *smtpSession) run(ctx context.Context, cmdTimeout time.Duration, f func() error) error {
	sess.c.Timeout = cmdTimeout
	stop := context.AfterFunc(ctx, func() { sess.conn.Close() })
	err := f()
	if !stop() {
		sess.dead = true // closed at the end of ctx, maybe after f succeeded: do not reuse
	}
	return err
}

// close ends the session without waiting for the server.
func (sess *smtpSession) close() {
	if sess.timer != nil {
		sess.timer.Stop()
	}
	sess.c.Close()
}

// quit says QUIT (briefly; the server's answer changes nothing) and closes.
func (sess *smtpSession) quit() {
	sess.c.Timeout = 5 * time.Second
	if err := sess.c.Quit(); err != nil {
		sess.c.Close()
	}
}

// takeIdle returns the most recently used idle session, or nil.
func (s *Sender) takeIdle() *smtpSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	sess := s.idle[n-1]
	s.idle = s.idle[:n-1]
	sess.timer.Stop() // if it already fired, expire finds the session gone and leaves it be
	return sess
}

// putIdle keeps sess for the next message, or closes it when it carried its share.
func (s *Sender) putIdle(sess *smtpSession) {
	s.mu.Lock()
	limit := sess.max
	if s.learned > 0 && s.learned < limit {
		limit = s.learned
	}
	if s.closed || sess.dead || sess.sent >= limit {
		s.mu.Unlock()
		sess.quit()
		return
	}
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	sess.timer = time.AfterFunc(idle, func() { s.expire(sess) })
	s.idle = append(s.idle, sess)
	s.mu.Unlock()
}

// expire closes sess if it is still idle.
func (s *Sender) expire(sess *smtpSession) {
	s.mu.Lock()
	i := slices.Index(s.idle, sess)
	if i < 0 {
		s.mu.Unlock()
		return
	}
	s.idle = slices.Delete(s.idle, i, i+1)
	s.mu.Unlock()
	sess.quit()
}

// Close closes the idle sessions; a Send after Close still works but keeps nothing open.
func (s *Sender) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	s.mu.Unlock()
	s.closeIdle()
}

// closeIdle QUITs the idle sessions, so that the next message opens (and logs in) afresh.
func (s *Sender) closeIdle() {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, sess := range idle {
		sess.timer.Stop()
		sess.quit()
	}
}

// Tokens returns the OAuth token source of smtp.auth xoauth2/oauthbearer, or nil.
func (s *Sender) Tokens() *mailauth.Tokens { return s.tokens }

// Probe opens a session (connect, TLS, EHLO, AUTH) and QUITs it, sending nothing: `rmad
// doctor`. It says whether the session is on TLS and which extensions the server offers.
func (s *Sender) Probe(ctx context.Context) (tlsOn bool, extensions []string, err error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sess, err := s.open(ctx, min(timeout, s.commandTimeout()))
	if err != nil {
		return false, nil, fmt.Errorf("smtp %s: %w", s.cfg.Address, err)
	}
	tlsOn = sess.c.TLS()
	for _, ext := range []string{"PIPELINING", "SMTPUTF8", "8BITMIME", "SIZE", "LIMITS"} {
		if ok, _ := sess.c.Extension(ext); ok {
			extensions = append(extensions, ext)
		}
	}
	sess.quit()
	return tlsOn, extensions, nil
}

// open connects, says EHLO and logs in, each step bounded by timeout, and records the outcome
// for Health and the relay probe. Its errors are relay-down errors (IsRelayDown).
func (s *Sender) open(ctx context.Context, timeout time.Duration) (*smtpSession, error) {
	sess, err := s.dial(ctx, timeout)
	if ctx.Err() == nil || err == nil { // a caller giving up says nothing about the server
		s.recordOpen(err)
	}
	if err != nil {
		return nil, &relayDownError{err}
	}
	return sess, nil
}

func (s *Sender) dial(ctx context.Context, timeout time.Duration) (*smtpSession, error) {
	mode := tlsMode(s.cfg)
	if err := checkTransport(mode, s.cfg.Address); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(s.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("smtp.address %q: %w", s.cfg.Address, err)
	}
	tlsCfg := s.tlsConfig(host)

	var conn net.Conn
	d := &net.Dialer{Timeout: timeout}
	if mode == config.TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", s.cfg.Address)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	c, err := smtpclient.New(conn, timeout)
	if err == nil {
		err = c.Hello(s.localName())
		if err != nil {
			err = fmt.Errorf("ehlo: %w", err)
		}
	}
	if err == nil && mode == config.TLSStartTLS {
		// Refuses a server without STARTTLS: never fall back to plain text.
		if err = c.StartTLS(ctx, tlsCfg); err != nil {
			err = fmt.Errorf("starttls: %w", err)
		}
	}
	if err == nil {
		err = s.login(ctx, c)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	sess := &smtpSession{conn: conn, c: c, max: s.maxPerSession(c)}
	if ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", context.Cause(ctx))
	}
	s.count(func(st *SenderStats) { st.Opened++ })
	return sess, nil
}

// login authenticates when smtp.username is set: with the password, or with an OAuth access
// token (a refused token is replaced once; then "the server refused the OAuth token: ...").
func (s *Sender) login(ctx context.Context, c *smtpclient.Client) error {
	if s.cfg.Username == "" {
		return nil
	}
	if err := authAllowed(s.cfg.Address, c.TLS()); err != nil {
		return err
	}
	if s.tokens != nil {
		mech := mailauth.Mechanism(s.cfg.Auth)
		if !c.SupportsAuth(mech) {
			_, mechs := c.Extension("AUTH")
			return fmt.Errorf("auth %s: the server offers AUTH %q, not %s", s.cfg.Auth, mechs, mech)
		}
		err := mailauth.Login(ctx, s.tokens, mech, s.cfg.Username,
			func(sc mailauth.Client) error { return c.Auth(sc) },
			func(err error) bool { var se *smtpclient.Error; return errors.As(err, &se) })
		var refused *mailauth.RefusedError
		if err != nil && !errors.As(err, &refused) {
			return fmt.Errorf("%s as %s: %w", mech, s.cfg.Username, err)
		}
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
	return nil
}

// maxPerSession is MaxPerSession, lowered to the server's LIMITS MAILMAX (RFC 9422).
func (s *Sender) maxPerSession(c *smtpclient.Client) int {
	limit := s.MaxPerSession
	if limit <= 0 {
		limit = DefaultMaxPerSession
	}
	if ok, params := c.Extension("LIMITS"); ok {
		for _, p := range strings.Fields(params) {
			if v, ok := strings.CutPrefix(strings.ToUpper(p), "MAILMAX="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 && n < limit {
					limit = n
				}
			}
		}
	}
	return limit
}

// envelopeError wraps a failure of MAIL, RCPT or DATA. A 5xx reply is about this message and
// permanent, except where it is about rmad's own login or sender: 530/534/535/538, and a
// security refusal (5.7.x) of MAIL FROM — every message would get those, and they heal when
// the configuration is fixed.
func envelopeError(step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var se *smtpclient.Error
	if !errors.As(err, &se) || se.Code < 500 || se.Code > 599 {
		return err
	}
	switch {
	case se.Code == 530, se.Code == 534, se.Code == 535, se.Code == 538:
		return err
	case strings.HasPrefix(step, "MAIL") && se.Enhanced[0] == 5 && se.Enhanced[1] == 7:
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
// only.
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
func saslClient(c *smtpclient.Client, user, pass string) (sasl.Client, error) {
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

// needsUTF8 says whether an address needs SMTPUTF8.
func needsUTF8(m Message) bool {
	return !isASCII(m.From) || slices.ContainsFunc(m.To, func(t string) bool { return !isASCII(t) })
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
