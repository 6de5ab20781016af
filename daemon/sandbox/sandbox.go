// Package sandbox starts the real servers rmad talks to, privately on loopback, for the demo and
// for end-to-end tests: a redis-server with AOF in a temp dir, go-imap's in-memory IMAP server,
// and an SMTP sink (go-smtp) that keeps every message and writes it out as .eml.
package sandbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Redis is a private redis-server process.
type Redis struct {
	Addr string
	cmd  *exec.Cmd
	dir  string
	port int
	bin  string
}

// StartRedis runs redis-server (from $PATH, or bin when given) on a free loopback port with AOF
// in dir, and waits until it answers.
func StartRedis(bin, dir string) (*Redis, error) {
	if bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, fmt.Errorf("redis-server not found: install the Debian package redis-server (make demo does)")
		}
		bin = p
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Redis{dir: dir, port: port, bin: bin, Addr: "127.0.0.1:" + strconv.Itoa(port)}
	return r, r.start()
}

func (r *Redis) start() error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return fmt.Errorf("redis dir: %w", err)
	}
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--logfile", "redis.log")
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.Stop()
	return fmt.Errorf("redis-server on %s did not answer; its log:\n%s", r.Addr, log)
}

// Stop ends the server.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// FreePort returns a TCP port on 127.0.0.1 nobody listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// IMAP is go-imap's in-memory IMAP server with one user.
type IMAP struct {
	Addr, User, Password string
	srv                  *imapserver.Server
	mem                  *imapmemserver.Server
}

// StartIMAP serves an in-memory mailbox store on a free loopback port, with IDLE, MOVE and UIDPLUS.
func StartIMAP(user, password string) (*IMAP, error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("imap: create INBOX: %w", err)
	}
	mem.AddUser(u)
	s := &IMAP{User: user, Password: password, mem: mem}
	return s, s.listen("127.0.0.1:0")
}

// listen serves the mailboxes on addr.
func (s *IMAP) listen(addr string) error {
	mem := s.mem
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapIdle: {}, imap.CapMove: {}, imap.CapUIDPlus: {},
		},
		InsecureAuth: true, // loopback only
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("imap: listen: %w", err)
	}
	s.Addr = ln.Addr().String()
	srv := s.srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Restart serves the same mailboxes on the same address again after Stop (an outage's end).
func (s *IMAP) Restart() error { return s.listen(s.Addr) }

// Stop closes the server.
func (s *IMAP) Stop() { _ = s.srv.Close() }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// Mail is one message the SMTP sink received.
type Mail struct {
	From string
	To   []string
	Data []byte
	File string // where it was written, when the sink has a folder
}

// SMTP is an SMTP server that accepts every message and keeps it.
type SMTP struct {
	Addr string
	Dir  string // .eml files are written here when not empty
	// CertPEM is the server certificate of StartSMTPLogin (nil for the plain sink).
	CertPEM []byte

	srv   *smtp.Server // under mu
	ln    net.Listener // under mu: closed by Stop itself (Serve may not have taken it yet)
	setup func(*SMTP) error
	mu    sync.Mutex
	mails []Mail
	seq   int
	wake  chan struct{}
	// Fail, when set, is returned for every DATA (to simulate an outage).
	fail error
	// relayFault, when set, is how every DATA fails as a relay in trouble does (SetRelayFault).
	relayFault string
	refused    map[string]bool // recipients RCPT refuses for good (SetRefused)
}

// StartSMTP starts the sink on a free loopback port; dir may be empty.
func StartSMTP(dir string) (*SMTP, error) { return startSMTP(dir, nil) }

// startSMTP starts the sink; setup, when not nil, changes the server before it serves.
func startSMTP(dir string, setup func(*SMTP) error) (*SMTP, error) {
	s := &SMTP{Dir: dir, wake: make(chan struct{})}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("smtp sink dir: %w", err)
		}
	}
	s.setup = setup
	return s, s.listen("127.0.0.1:0")
}

// listen serves the sink on addr with a fresh server (a closed one cannot serve again).
func (s *SMTP) listen(addr string) error {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: s, conn: c}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	if s.setup != nil {
		if err := s.setup(s); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: listen: %w", err)
	}
	s.Addr = ln.Addr().String()
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Restart serves again on the same address after Stop (an outage's end); the mails received
// so far are kept.
func (s *SMTP) Restart() error { return s.listen(s.Addr) }

// StartSMTPLogin starts the sink as a submission server would run: STARTTLS with a fresh
// self-signed certificate for 127.0.0.1 (CertPEM, for the client to trust) and AUTH PLAIN with
// user and pass required before MAIL. rmadbench uses it to price connect, TLS and login.
func StartSMTPLogin(dir, user, pass string) (*SMTP, error) {
	return startSMTP(dir, func(s *SMTP) error {
		cert, pemBytes, err := selfSigned()
		if err != nil {
			return err
		}
		s.CertPEM = pemBytes
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.srv.AllowInsecureAuth = false
		s.srv.Backend = smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
			return &loginSession{smtpSession: smtpSession{sink: s, conn: c}, user: user, pass: pass}, nil
		})
		return nil
	})
}

// loginSession is a sink session that requires AUTH PLAIN.
type loginSession struct {
	smtpSession
	user, pass string
	authed     bool
}

func (l *loginSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (l *loginSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != l.user || pass != l.pass {
			return smtp.ErrAuthFailed
		}
		l.authed = true
		return nil
	}), nil
}

func (l *loginSession) Mail(from string, opts *smtp.MailOptions) error {
	if !l.authed {
		return smtp.ErrAuthRequired
	}
	return l.smtpSession.Mail(from, opts)
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for a day.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "rmad sandbox"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}

// Stop closes the sink: connections are refused until Restart.
func (s *SMTP) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	_ = srv.Close()
	if ln != nil {
		_ = ln.Close()
	}
}

// SetFailure makes every delivery fail with a temporary error (nil restores service).
func (s *SMTP) SetFailure(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.fail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	} else {
		s.fail = nil
	}
}

// Relay faults for SetRelayFault: the session opens, the message fails.
const (
	Fault421  = "421"  // the data is answered 421 4.3.2 (the service closes the channel)
	FaultDrop = "drop" // the connection is closed at DATA, without a reply
)

// SetRelayFault makes every delivery fail as a relay in trouble does after the session opened
// (Fault421, FaultDrop); "" restores service.
func (s *SMTP) SetRelayFault(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relayFault = kind
}

// SetRefused makes RCPT TO refuse addr for good (550 5.1.1), as a relay does for a mailbox
// that does not exist; on false it is taken again.
func (s *SMTP) SetRefused(addr string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]bool{}
	}
	s.refused[strings.ToLower(addr)] = on
}

// Mails returns a copy of what was received so far.
func (s *SMTP) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait blocks until at least n mails arrived or ctx ends.
func (s *SMTP) Wait(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		got, wake := len(s.mails), s.wake
		s.mu.Unlock()
		if got >= n {
			return s.Mails(), nil
		}
		select {
		case <-ctx.Done():
			return s.Mails(), fmt.Errorf("smtp sink: %d of %d mails: %w", got, n, ctx.Err())
		case <-wake:
		}
	}
}

// Since blocks until more than n mails arrived (or ctx ends) and returns a copy of those after
// the first n only, so a reader that follows the sink pays for each mail once.
func (s *SMTP) Since(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		got, wake := len(s.mails), s.wake
		if got > n {
			out := append([]Mail(nil), s.mails[n:]...)
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("smtp sink: %d mails, waiting for more: %w", got, ctx.Err())
		case <-wake:
		}
	}
}

// Count is the number of mails received so far.
func (s *SMTP) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mails)
}

func (s *SMTP) add(m Mail) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.seq++
	if s.Dir != "" {
		m.File = filepath.Join(s.Dir, fmt.Sprintf("%04d-%s.eml", s.seq, safeName(m.To)))
		if err := os.WriteFile(m.File, m.Data, 0o644); err != nil {
			return fmt.Errorf("smtp sink: %w", err)
		}
	}
	s.mails = append(s.mails, m)
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

func safeName(to []string) string {
	if len(to) == 0 {
		return "nobody"
	}
	return strings.Map(func(r rune) rune {
		if r == '@' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, strings.ToLower(to[0]))
}

type smtpSession struct {
	sink *SMTP
	conn *smtp.Conn
	from string
	to   []string
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.sink.mu.Lock()
	refused := s.sink.refused[strings.ToLower(to)]
	s.sink.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	if len(s.to) == 0 {
		return errors.New("no recipients")
	}
	s.sink.mu.Lock()
	fault := s.sink.relayFault
	s.sink.mu.Unlock()
	switch fault {
	case Fault421:
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service shutting down, closing the channel"}
	case FaultDrop:
		_ = s.conn.Close()
		return errors.New("connection dropped")
	}
	return s.sink.add(Mail{From: s.from, To: append([]string(nil), s.to...), Data: b.Bytes()})
}
