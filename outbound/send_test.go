package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/mailauth"
	"github.com/rmad/rmad/outbound/smtpclient"
)

// recorder is a go-smtp Backend that keeps what it receives and fails on demand.
type recorder struct {
	mu       sync.Mutex
	user     string // when set, AUTH is offered and required with user/pass
	pass     string
	mechs    []string              // AUTH mechanisms offered; default PLAIN
	mailErr  error                 // returned from MAIL FROM
	rcptErr  map[string]error      // per recipient
	dataErr  error                 // returned from DATA
	dropFor  map[string]bool       // recipients whose message makes the server drop the connection at DATA
	dropRcpt map[string]bool       // recipients whose RCPT makes the server drop the connection
	healed   atomic.Bool           // set: mailErr, rcptErr, dataErr, dropFor and dataHang are over
	dataHang time.Duration         // DATA sleeps this long before answering
	got      []received            // delivered messages
	authed   []string              // mechanisms used for successful logins
	hello    []string              // EHLO names
	tlsSeen  []bool                // per delivered message: was the connection TLS
	perConn  int                   // when > 0, MAIL FROM after this many messages on a connection gets 451
	tokens   *testenv.TokenService // with mechs XOAUTH2/OAUTHBEARER: checks access tokens for user
	sessions int                   // connections that said EHLO
	logouts  int                   // connections that ended (QUIT or dropped)
}

type received struct {
	From string
	To   []string
	Data []byte
}

func (r *recorder) NewSession(c *smtp.Conn) (smtp.Session, error) {
	r.mu.Lock()
	r.hello = append(r.hello, c.Hostname())
	r.sessions++
	r.mu.Unlock()
	return &session{r: r, c: c}, nil
}

type session struct {
	r      *recorder
	c      *smtp.Conn
	authed bool
	from   string
	to     []string
	count  int // messages received on this connection
}

func (s *session) AuthMechanisms() []string {
	if s.r.user == "" {
		return nil
	}
	if len(s.r.mechs) > 0 {
		return s.r.mechs
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	ok := func(m string) {
		s.authed = true
		s.r.mu.Lock()
		s.r.authed = append(s.r.authed, m)
		s.r.mu.Unlock()
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if user != s.r.user || pass != s.r.pass {
				return smtp.ErrAuthFailed
			}
			ok(mech)
			return nil
		}), nil
	case mailauth.XOAUTH2:
		return testenv.XOAUTH2Server(func(user, token string) error {
			if u, valid := s.r.tokens.Check(token); !valid || u != user || user != s.r.user {
				return smtp.ErrAuthFailed
			}
			ok(mech)
			return nil
		}), nil
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if u, valid := s.r.tokens.Check(o.Token); !valid || u != o.Username || o.Username != s.r.user {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			ok(mech)
			return nil
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error {
			if user != s.r.user || pass != s.r.pass {
				return smtp.ErrAuthFailed
			}
			ok(mech)
			return nil
		}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	if s.r.mailErr != nil && !s.r.healed.Load() {
		return s.r.mailErr
	}
	if s.r.perConn > 0 && s.count >= s.r.perConn {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "too many messages in this session"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.r.dropRcpt[to] && !s.r.healed.Load() {
		s.c.Close()
		return errors.New("dropped")
	}
	if err := s.r.rcptErr[to]; err != nil && !s.r.healed.Load() {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !s.r.healed.Load() {
		for _, to := range s.to {
			if s.r.dropFor[to] {
				return s.c.Close()
			}
		}
		if s.r.dataHang > 0 {
			time.Sleep(s.r.dataHang)
		}
		if s.r.dataErr != nil {
			return s.r.dataErr
		}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.count++
	s.r.got = append(s.r.got, received{From: s.from, To: s.to, Data: b})
	s.r.tlsSeen = append(s.r.tlsSeen, isTLS)
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }
func (s *session) Logout() error {
	s.r.mu.Lock()
	s.r.logouts++
	s.r.mu.Unlock()
	return nil
}

// counts returns the connections opened and ended so far.
func (r *recorder) counts() (sessions, logouts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions, r.logouts
}

func (r *recorder) messages() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// loginServer is the server side of SASL LOGIN (go-sasl has only the client): the username
// arrives as the initial response, then the password after a "Password:" challenge.
type loginServer struct {
	user  string
	step  int
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

type serverMode int

const (
	plainServer serverMode = iota
	startTLSServer
	implicitTLSServer
)

// startServer runs a go-smtp server on 127.0.0.1 and returns its address and a client TLS
// config that trusts its self-signed certificate.
func startServer(t *testing.T, be *recorder, mode serverMode) (string, *tls.Config) {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = mode == plainServer // go-smtp's own check; the client decides for itself
	srv.ErrorLog = discardLogger{}
	var clientTLS *tls.Config
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != plainServer {
		cert, pool := testenv.SelfSignedCert(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		clientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
		if mode == implicitTLSServer {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), clientTLS
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

func testMessage(to ...string) Message {
	if len(to) == 0 {
		to = []string{"service@alfa-computers.gr"}
	}
	raw := "From: RMA <rma@distributor.example>\r\nTo: " + to[0] + "\r\nSubject: test\r\n" +
		"Message-Id: <reply.0011223344556677@distributor.example>\r\n\r\n" +
		".a line starting with a dot\r\nbody\r\n"
	return Message{ID: "reply.0011223344556677@distributor.example", From: "rma@distributor.example", To: to, Raw: []byte(raw)}
}

func newTestSender(addr, mode string, tlsCfg *tls.Config, user, pass string) *Sender {
	s := NewSender(config.SMTP{Address: addr, TLS: mode, Username: user, Password: config.Secret(pass),
		From: "RMA <rma@distributor.example>"}, zerolog.Nop())
	s.TLSConfig = tlsCfg
	s.Timeout = 10 * time.Second
	s.LocalName = "rmad.test"
	return s
}

func TestSendDelivers(t *testing.T) {
	tests := []struct {
		name     string
		server   serverMode
		tls      string
		user     string
		mechs    []string
		wantTLS  bool
		wantMech string
	}{
		{name: "plain loopback, no auth", server: plainServer, tls: config.TLSNone},
		{name: "plain loopback, AUTH PLAIN", server: plainServer, tls: config.TLSNone, user: "rma", wantMech: sasl.Plain},
		{name: "plain loopback, AUTH LOGIN only", server: plainServer, tls: config.TLSNone, user: "rma", mechs: []string{sasl.Login}, wantMech: sasl.Login},
		{name: "starttls, AUTH PLAIN", server: startTLSServer, tls: config.TLSStartTLS, user: "rma", wantTLS: true, wantMech: sasl.Plain},
		{name: "implicit tls, AUTH PLAIN", server: implicitTLSServer, tls: config.TLSImplicit, user: "rma", wantTLS: true, wantMech: sasl.Plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &recorder{user: tt.user, pass: "s3cret", mechs: tt.mechs}
			addr, clientTLS := startServer(t, be, tt.server)
			s := newTestSender(addr, tt.tls, clientTLS, tt.user, "s3cret")
			m := testMessage()
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := be.messages()
			if len(got) != 1 {
				t.Fatalf("server got %d messages, want 1", len(got))
			}
			if got[0].From != m.From || strings.Join(got[0].To, ",") != m.To[0] {
				t.Errorf("envelope = %s → %v, want %s → %v", got[0].From, got[0].To, m.From, m.To)
			}
			if !bytes.Equal(got[0].Data, m.Raw) {
				t.Errorf("data differs (dot-stuffing or line endings):\n got %q\nwant %q", got[0].Data, m.Raw)
			}
			if be.tlsSeen[0] != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", be.tlsSeen[0], tt.wantTLS)
			}
			if tt.wantMech != "" && (len(be.authed) != 1 || be.authed[0] != tt.wantMech) {
				t.Errorf("logins = %v, want one %s", be.authed, tt.wantMech)
			}
			if be.hello[len(be.hello)-1] != "rmad.test" {
				t.Errorf("EHLO name = %q, want rmad.test", be.hello[len(be.hello)-1])
			}
			// The second message goes over the same session, still on TLS when it was.
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if st := s.Stats(); st.Opened != 1 || st.Reused != 1 {
				t.Errorf("two messages: stats %+v, want one session used twice", st)
			}
			if be.tlsSeen[1] != tt.wantTLS || len(be.authed) > 1 {
				t.Errorf("second message: TLS %v, logins %v", be.tlsSeen[1], be.authed)
			}
			s.Close()
		})
	}
}

func TestSendFailures(t *testing.T) {
	perm550 := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	temp451 := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	perm554 := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
	tests := []struct {
		name      string
		be        *recorder
		server    serverMode
		tls       string
		user      string
		pass      string
		permanent bool
		wantText  string
	}{
		{name: "550 on RCPT is permanent", be: &recorder{rcptErr: map[string]error{"gone@example.com": perm550}},
			tls: config.TLSNone, permanent: true, wantText: "550"},
		{name: "451 on RCPT is temporary", be: &recorder{rcptErr: map[string]error{"gone@example.com": temp451}},
			tls: config.TLSNone, permanent: false, wantText: "451"},
		{name: "554 after DATA is permanent", be: &recorder{dataErr: perm554}, tls: config.TLSNone, permanent: true, wantText: "554"},
		{name: "451 after DATA is temporary", be: &recorder{dataErr: temp451}, tls: config.TLSNone, permanent: false, wantText: "451"},
		{name: "wrong password is temporary (fix the config, lose nothing)", be: &recorder{user: "rma", pass: "right"},
			tls: config.TLSNone, user: "rma", pass: "wrong", permanent: false, wantText: "auth"},
		{name: "login required but no username configured is temporary", be: &recorder{user: "rma", pass: "x"},
			tls: config.TLSNone, permanent: false, wantText: "MAIL FROM"},
		{name: "username set, server offers no AUTH", be: &recorder{}, tls: config.TLSNone, user: "rma", pass: "x",
			permanent: false, wantText: "offers no AUTH"},
		{name: "server offers only CRAM-MD5", be: &recorder{user: "rma", pass: "x", mechs: []string{"CRAM-MD5"}}, tls: config.TLSNone,
			user: "rma", pass: "x", permanent: false, wantText: "PLAIN and LOGIN"},
		{name: "starttls wanted, server has none", be: &recorder{}, server: plainServer, tls: config.TLSStartTLS,
			permanent: false, wantText: "STARTTLS"},
		{name: "unknown tls mode", be: &recorder{}, tls: "sometimes", permanent: false, wantText: "smtp.tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, clientTLS := startServer(t, tt.be, tt.server)
			s := newTestSender(addr, tt.tls, clientTLS, tt.user, tt.pass)
			t.Cleanup(s.Close) // ends the relay probe of the cases that are the relay's
			m := testMessage("gone@example.com")
			err := s.Send(context.Background(), m)
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), m.ID) {
				t.Errorf("error %q should mention %q and the message id", err, tt.wantText)
			}
			if n := len(tt.be.messages()); n != 0 {
				t.Errorf("server stored %d messages, want 0", n)
			}
		})
	}
}

func TestSendOutageIsTemporary(t *testing.T) {
	// A port nobody listens on: the SMTP server is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	err = s.Send(context.Background(), testMessage())
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send to a down server = %v; want a temporary error", err)
	}
}

func TestSendRespectsContext(t *testing.T) {
	be := &recorder{dataHang: 3 * time.Second}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, testMessage())
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send with an expiring context = %v; want a temporary error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send took %v after its context expired; the hung server must not hold it", took)
	}
	if !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "deadline") {
		t.Logf("error: %v", err) // the exact wording depends on where the close interrupted it
	}
}

func TestSendRefusesPlaintextOffLoopback(t *testing.T) {
	// 192.0.2.1 is TEST-NET-1: the send must fail before any packet is sent.
	for _, user := range []string{"", "rma"} {
		s := newTestSender("192.0.2.1:25", config.TLSNone, nil, user, "pw")
		start := time.Now()
		err := s.Send(context.Background(), testMessage())
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("user %q: Send = %v; want a refusal naming loopback", user, err)
		}
		if IsPermanent(err) {
			t.Errorf("user %q: a configuration error must not dead-letter mail: %v", user, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("user %q: refusal took %v; it must not dial", user, time.Since(start))
		}
	}
}

func TestSendRejectsBrokenMessages(t *testing.T) {
	s := newTestSender("127.0.0.1:1", config.TLSNone, nil, "", "")
	ok := testMessage()
	tests := []struct {
		name string
		m    Message
	}{
		{"no recipients", Message{ID: ok.ID, From: ok.From, Raw: ok.Raw}},
		{"empty body", Message{ID: ok.ID, From: ok.From, To: ok.To}},
		{"CRLF in recipient", Message{ID: ok.ID, From: ok.From, To: []string{"a@b.example\r\nRCPT TO:<x@y>"}, Raw: ok.Raw}},
		{"no @ in recipient", Message{ID: ok.ID, From: ok.From, To: []string{"nobody"}, Raw: ok.Raw}},
		{"CRLF in sender", Message{ID: ok.ID, From: "a@b\r\nDATA", To: ok.To, Raw: ok.Raw}},
	}
	for _, tt := range tests {
		err := s.Send(context.Background(), tt.m)
		if err == nil || !IsPermanent(err) {
			t.Errorf("%s: Send = %v; want a permanent error", tt.name, err)
		}
	}
}

func TestAuthAllowed(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		ok   bool
	}{
		{"127.0.0.1:25", false, true},
		{"127.0.0.2:587", false, true},
		{"[::1]:25", false, true},
		{"localhost:25", false, true},
		{"LOCALHOST:25", false, true},
		{"10.0.0.5:25", false, false},
		{"smtp.example.com:587", false, false},
		{"localhost.example.com:25", false, false},
		{"127.0.0.1.example.com:25", false, false},
		{"[::ffff:10.0.0.1]:25", false, false},
		{"smtp.example.com:587", true, true},
		{"10.0.0.5:465", true, true},
	}
	for _, tt := range tests {
		err := authAllowed(tt.addr, tt.tls)
		if (err == nil) != tt.ok {
			t.Errorf("authAllowed(%q, tls=%v) = %v, want allowed=%v", tt.addr, tt.tls, err, tt.ok)
		}
	}
}

func TestCheckTransport(t *testing.T) {
	tests := []struct {
		mode, addr string
		ok         bool
	}{
		{config.TLSNone, "127.0.0.1:25", true},
		{config.TLSNone, "[::1]:25", true},
		{config.TLSNone, "smtp.example.com:25", false},
		{config.TLSNone, "192.168.1.10:25", false},
		{config.TLSStartTLS, "smtp.example.com:587", true},
		{config.TLSImplicit, "smtp.example.com:465", true},
		{"tls", "smtp.example.com:465", false},
	}
	for _, tt := range tests {
		err := checkTransport(tt.mode, tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("checkTransport(%q, %q) = %v, want ok=%v", tt.mode, tt.addr, err, tt.ok)
		}
	}
	if got := tlsMode(config.SMTP{Address: "smtp.example.com:465"}); got != config.TLSImplicit {
		t.Errorf("default mode on 465 = %q, want implicit", got)
	}
	if got := tlsMode(config.SMTP{Address: "smtp.example.com:587"}); got != config.TLSStartTLS {
		t.Errorf("default mode on 587 = %q, want starttls", got)
	}
}

func TestIsPermanentWrapped(t *testing.T) {
	base := envelopeError("RCPT TO:<x@y>", &smtpclient.Error{Code: 550, Message: "no"})
	wrapped := errors.Join(errors.New("outbox 1-0"), base)
	if !IsPermanent(wrapped) {
		t.Error("IsPermanent must see through wrapping")
	}
	var se *smtpclient.Error
	if !errors.As(wrapped, &se) || se.Code != 550 {
		t.Error("the server's reply must stay reachable through a permanent error")
	}
	for _, code := range []int{421, 450, 451, 452, 530, 535} {
		if IsPermanent(envelopeError("RCPT TO:<a@b>", &smtpclient.Error{Code: code})) {
			t.Errorf("code %d must be temporary", code)
		}
	}
	for _, code := range []int{550, 551, 552, 553, 554} {
		if !IsPermanent(envelopeError("RCPT TO:<a@b>", &smtpclient.Error{Code: code})) {
			t.Errorf("code %d must be permanent", code)
		}
	}
	security := &smtpclient.Error{Code: 550, Enhanced: [3]int{5, 7, 1}, Message: "sender not owned by user"}
	if IsPermanent(envelopeError("MAIL FROM:<a@b>", security)) {
		t.Error("a 5.7.x refusal of MAIL FROM is about the configuration: must be temporary")
	}
	if !IsPermanent(envelopeError("RCPT TO:<a@b>", security)) {
		t.Error("a 5.7.x refusal of one recipient is about this message: must be permanent")
	}
	if IsPermanent(nil) {
		t.Error("IsPermanent(nil) must be false")
	}
}

func TestSendReusesTheSession(t *testing.T) {
	be := &recorder{user: "rma", pass: "s3cret"}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "rma", "s3cret")
	defer s.Close()
	for i := range 5 {
		if err := s.Send(context.Background(), testMessage()); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := len(be.messages()); n != 5 {
		t.Fatalf("server got %d messages, want 5", n)
	}
	if sessions, _ := be.counts(); sessions != 1 || len(be.authed) != 1 {
		t.Errorf("5 messages took %d connections and %d logins; want one of each", sessions, len(be.authed))
	}
	if st := s.Stats(); st.Opened != 1 || st.Reused != 4 || st.Delivered != 5 {
		t.Errorf("stats = %+v, want 1 opened, 4 reused, 5 delivered", st)
	}
	s.Close()
	testenv.Eventually(t, 5*time.Second, "the idle session to be closed by Close", func() bool { _, out := be.counts(); return out == 1 })
}

func TestSendReconnectsWhenTheServerClosedTheSession(t *testing.T) {
	be := &recorder{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 200 * time.Millisecond // drops a client idle this long, as servers do
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s := newTestSender(ln.Addr().String(), config.TLSNone, nil, "", "")
	defer s.Close()

	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the server to drop the idle client", func() bool { _, out := be.counts(); return out == 1 })
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("after the server closed the session: %v", err)
	}
	if n := len(be.messages()); n != 2 {
		t.Errorf("server got %d messages, want 2", n)
	}
	if st := s.Stats(); st.Opened != 2 || st.Redials != 1 {
		t.Errorf("stats = %+v, want 2 opened and 1 redial", st)
	}
}

func TestSendClosesIdleSessions(t *testing.T) {
	be := &recorder{}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	s.IdleTimeout = 100 * time.Millisecond
	defer s.Close()
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the idle session to be closed", func() bool { _, out := be.counts(); return out == 1 })
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Opened != 2 || st.Redials != 0 {
		t.Errorf("stats = %+v, want 2 opened (the idle one was closed, not found dead)", st)
	}
}

func TestSendHonoursMessagesPerSession(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		be := &recorder{}
		addr, _ := startServer(t, be, plainServer)
		s := newTestSender(addr, config.TLSNone, nil, "", "")
		s.MaxPerSession = 2
		defer s.Close()
		for i := range 5 {
			if err := s.Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if st := s.Stats(); st.Opened != 3 || st.Redials != 0 || st.Delivered != 5 {
			t.Errorf("stats = %+v, want 3 sessions of at most 2 messages, no refusals", st)
		}
	})
	t.Run("the server refuses more", func(t *testing.T) {
		be := &recorder{perConn: 2}
		addr, _ := startServer(t, be, plainServer)
		s := newTestSender(addr, config.TLSNone, nil, "", "")
		defer s.Close()
		for i := range 7 {
			if err := s.Send(context.Background(), testMessage()); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if n := len(be.messages()); n != 7 {
			t.Fatalf("server got %d messages, want 7", n)
		}
		// The first refusal teaches the limit; after it, sessions end before the server refuses.
		if st := s.Stats(); st.Opened != 4 || st.Redials != 1 {
			t.Errorf("stats = %+v, want 4 sessions and 1 refusal", st)
		}
	})
}

func TestSendDropsTheSessionAfterAFailure(t *testing.T) {
	perm550 := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	be := &recorder{rcptErr: map[string]error{"gone@example.com": perm550}}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "", "")
	defer s.Close()
	if err := s.Send(context.Background(), testMessage("gone@example.com")); !IsPermanent(err) {
		t.Fatalf("Send = %v, want a permanent error", err)
	}
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Opened != 2 || st.Reused != 0 {
		t.Errorf("stats = %+v, want a fresh session after the failed one", st)
	}
}

func TestSendConcurrentSessions(t *testing.T) {
	be := &recorder{user: "rma", pass: "s3cret"}
	addr, _ := startServer(t, be, plainServer)
	s := newTestSender(addr, config.TLSNone, nil, "rma", "s3cret")
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				errs <- s.Send(context.Background(), testMessage())
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(be.messages()); n != 40 {
		t.Fatalf("server got %d messages, want 40", n)
	}
	if st := s.Stats(); st.Opened > 4 || st.Delivered != 40 {
		t.Errorf("stats = %+v, want at most 4 sessions (one per concurrent sender) for 40 messages", st)
	}
}

// TestSendOAuth logs in to a go-smtp server that checks access tokens with the loopback token
// service: XOAUTH2 and OAUTHBEARER, a token expired or revoked mid-run replaced once (on the
// next session), and a server refusing every token: a clear temporary error, Health degraded,
// and the message goes out once tokens are taken again.
func TestSendOAuth(t *testing.T) {
	ts := testenv.StartTokenService(t)
	const user = "rma@distributor.example"
	ts.AddClient("app", "app-secret", user)
	for _, mech := range []string{mailauth.XOAUTH2, sasl.OAuthBearer} {
		t.Run(mech, func(t *testing.T) {
			be := &recorder{user: user, mechs: []string{sasl.Plain, mech}, tokens: ts}
			addr, clientTLS := startServer(t, be, startTLSServer)
			auth := config.AuthXOAUTH2
			if mech == sasl.OAuthBearer {
				auth = config.AuthOAuthBearer
			}
			s := NewSender(config.SMTP{Address: addr, TLS: config.TLSStartTLS, Username: user, Auth: auth,
				OAuth2: &config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "app-secret", Scopes: []string{"s"}},
				From:   "rma@distributor.example"}, zerolog.Nop())
			s.TLSConfig, s.Timeout, s.LocalName = clientTLS, 10*time.Second, "rmad.test"
			defer s.Close()
			send := func() error { return s.Send(context.Background(), testMessage()) }

			minted := ts.Minted("client_credentials")
			if err := send(); err != nil {
				t.Fatal(err)
			}
			for i, spoil := range []func(){ts.ExpireAll, ts.RevokeAll} {
				spoil()
				s.closeIdle() // the next message needs a new session, so a new login
				if err := send(); err != nil {
					t.Fatalf("after the token went bad (%d): %v", i, err)
				}
			}
			if n := ts.Minted("client_credentials") - minted; n != 3 || len(be.authed) != 3 || be.authed[0] != mech {
				t.Errorf("%d tokens minted, logins %v; want 3 %s logins with a new token after each refusal", n, be.authed, mech)
			}

			ts.RefuseAll(true)
			defer ts.RefuseAll(false)
			s.closeIdle()
			err := send()
			if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "the server refused the OAuth token: ") {
				t.Fatalf("Send with refused tokens = %v; want a temporary error saying the token was refused", err)
			}
			if strings.Contains(err.Error(), "at-") || strings.Contains(err.Error(), "app-secret") {
				t.Errorf("the error shows a secret: %v", err)
			}
			if ok, detail := s.Health(); ok || !strings.Contains(detail, "refused the OAuth token") {
				t.Errorf("Health = %v, %q; want degraded with the refusal", ok, detail)
			}
			ts.RefuseAll(false)
			if err := send(); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.Health(); !ok || len(be.messages()) != 4 {
				t.Errorf("after recovery: health %v, %d messages delivered, want 4", ok, len(be.messages()))
			}
		})
	}
}
