package outbound

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

// TestSendThroughDovecotSubmission delivers through Dovecot's submission service (which offers
// PIPELINING and relays each command to a go-smtp server the test runs) on one kept session:
// the RSET/MAIL/RCPT/DATA group goes before the first reply (a wire in between holds the
// replies until DATA came), a recipient refused in the middle of the group, every recipient
// refused and MAIL FROM refused fail the message (permanent for a 5xx, nothing delivered), and
// the next message goes through on a fresh session.
func TestSendThroughDovecotSubmission(t *testing.T) {
	t.Parallel()
	no := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	be := &recorder{rcptErr: map[string]error{"gone@alfa-computers.gr": no, "left@alfa-computers.gr": no}}
	s, wire := viaSubmission(t, be)
	ctx := context.Background()

	if _, ext, err := s.Probe(ctx); err != nil || !slices.Contains(ext, "PIPELINING") {
		t.Fatalf("Probe = %v, %v; want Dovecot's submission to offer PIPELINING", ext, err)
	}
	two := testMessage("service@alfa-computers.gr", "returns@alfa-computers.gr")
	for range 3 {
		if err := s.Send(ctx, two); err != nil {
			t.Fatal(err)
		}
	}
	got := be.messages()
	if len(got) != 3 || !slices.Equal(got[2].To, two.To) || !strings.HasSuffix(string(got[2].Data), "\r\n\r\n.a line starting with a dot\r\nbody\r\n") {
		t.Fatalf("the relay got %d messages, the last %+v", len(got), got[len(got)-1])
	}
	if st := s.Stats(); st.Opened != 2 || st.Reused != 2 { // the Probe's session, then one kept for 3 messages
		t.Errorf("stats %+v; want the three messages on one session", st)
	}
	if _, atData := wire.Stats(); !slices.Equal(atData, []int{4, 5, 5}) {
		t.Errorf("commands unanswered when DATA went: %v; want [4 5 5] (MAIL, 2 RCPT, DATA; then RSET too)", atData)
	}

	for _, tt := range []struct {
		name string
		to   []string
		want string
	}{
		{"a recipient refused in the middle", []string{"service@alfa-computers.gr", "gone@alfa-computers.gr", "returns@alfa-computers.gr"}, "RCPT TO:<gone@alfa-computers.gr>: SMTP 550 5.1.1"},
		{"every recipient refused", []string{"gone@alfa-computers.gr", "left@alfa-computers.gr"}, "RCPT TO:<left@alfa-computers.gr>: SMTP 550 5.1.1"},
	} {
		err := s.Send(ctx, testMessage(tt.to...))
		if err == nil || !IsPermanent(err) || IsRelayDown(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Send = %v; want a permanent error naming %q", tt.name, err, tt.want)
		}
		if n := len(be.messages()); n != 3 {
			t.Errorf("%s: the relay has %d messages, want still 3", tt.name, n)
		}
	}
	if err := s.Send(ctx, two); err != nil || len(be.messages()) != 4 {
		t.Fatalf("after the refusals: %v, %d messages", err, len(be.messages()))
	}

	// A relay that refuses rmad's sender: temporary, the relay's fault, nothing delivered.
	be = &recorder{mailErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local trouble"}}
	s, _ = viaSubmission(t, be)
	s.ProbeMin, s.ProbeMax = 20*time.Millisecond, 100*time.Millisecond
	if err := s.Send(ctx, two); err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "451") || len(be.messages()) != 0 {
		t.Errorf("MAIL FROM refused: Send = %v (%d delivered); want a temporary error with the 451", err, len(be.messages()))
	}
}

// viaSubmission starts a go-smtp relay for be, a Dovecot submission service relaying to it, and
// an SMTPWire in front of Dovecot holding its replies from RSET/MAIL to DATA; it returns a
// Sender logged in to Dovecot through the wire.
func viaSubmission(t *testing.T, be *recorder) (*Sender, *testenv.SMTPWire) {
	t.Helper()
	relay, _ := startServer(t, be, plainServer)
	addr, user, pass := testenv.SubmissionDovecot(t, relay, "")
	wire, waddr := testenv.StartSMTPWire(t, addr, true, false)
	s := newTestSender(waddr, config.TLSNone, nil, user, pass)
	t.Cleanup(s.Close)
	return s, wire
}

// TestSendWithoutPipelining: a server whose EHLO offers no PIPELINING (the wire takes it out of
// go-smtp's) gets one command at a time, kept sessions and RSET included, and every message.
func TestSendWithoutPipelining(t *testing.T) {
	t.Parallel()
	be := &recorder{user: "rma", pass: "secret"}
	addr, _ := startServer(t, be, plainServer)
	wire, waddr := testenv.StartSMTPWire(t, addr, false, true)
	s := newTestSender(waddr, config.TLSNone, nil, "rma", "secret")
	t.Cleanup(s.Close)
	for range 3 {
		if err := s.Send(context.Background(), testMessage("service@alfa-computers.gr", "returns@alfa-computers.gr")); err != nil {
			t.Fatal(err)
		}
	}
	maxIn, atData := wire.Stats()
	if maxIn != 1 || !slices.Equal(atData, []int{1, 1, 1}) || len(be.messages()) != 3 || s.Stats().Reused != 2 {
		t.Errorf("most commands unanswered at once %d (at DATA %v), %d delivered, stats %+v; want 1, 3 on one session",
			maxIn, atData, len(be.messages()), s.Stats())
	}
}

// TestSendOAuthThroughDovecotSubmission logs in to Dovecot's submission service with XOAUTH2
// and OAUTHBEARER tokens its oauth2 passdb checks with the loopback token service; a revoked
// token is replaced once on the next session and the mail goes on.
func TestSendOAuthThroughDovecotSubmission(t *testing.T) {
	t.Parallel()
	ts := testenv.StartTokenService(t)
	const user = "rma@distributor.example"
	ts.AddClient("app", "app-secret", user)
	be := &recorder{}
	relay, _ := startServer(t, be, plainServer)
	addr, _, _ := testenv.SubmissionDovecot(t, relay, ts.IntrospectURL)
	for i, auth := range []string{config.AuthXOAUTH2, config.AuthOAuthBearer} {
		s := NewSender(config.SMTP{Address: addr, TLS: config.TLSNone, Username: user, Auth: auth,
			OAuth2: &config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "app-secret", Scopes: []string{"s"}},
			From:   "rma@distributor.example"}, zerolog.Nop())
		s.Timeout, s.LocalName = 10*time.Second, "rmad.test"
		minted := ts.Minted("client_credentials")
		if err := s.Send(context.Background(), testMessage()); err != nil {
			t.Fatalf("%s: %v", auth, err)
		}
		ts.RevokeAll()
		s.closeIdle() // a new session, so a new login
		if err := s.Send(context.Background(), testMessage()); err != nil {
			t.Fatalf("%s after the token was revoked: %v", auth, err)
		}
		s.Close()
		if n := ts.Minted("client_credentials") - minted; n != 2 || len(be.messages()) != 2*(i+1) {
			t.Errorf("%s: %d tokens minted, %d messages relayed; want 2 and %d", auth, n, len(be.messages()), 2*(i+1))
		}
	}
}
