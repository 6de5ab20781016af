package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
)

// The login sink takes mail only over STARTTLS with its certificate and the right password.
func TestSMTPLogin(t *testing.T) {
	s, err := StartSMTPLogin("", "rmad", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CertPEM) {
		t.Fatal("CertPEM is not a PEM certificate")
	}
	msg := outbound.Message{ID: "x@y", From: "rma@distributor.example", To: []string{"a@example.com"},
		Raw: []byte("Subject: t\r\n\r\nbody\r\n")}
	send := func(tlsMode, pass string) error {
		snd := outbound.NewSender(config.SMTP{Address: s.Addr, TLS: tlsMode, Username: "rmad", Password: config.Secret(pass)}, zerolog.Nop())
		snd.TLSConfig, snd.Timeout = &tls.Config{RootCAs: pool}, 10*time.Second
		defer snd.Close()
		return snd.Send(context.Background(), msg)
	}
	if err := send(config.TLSStartTLS, "pw"); err != nil {
		t.Fatalf("STARTTLS + the right password: %v", err)
	}
	if err := send(config.TLSStartTLS, "wrong"); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("wrong password: %v, want 535", err)
	}
	if err := send(config.TLSNone, "pw"); err == nil {
		t.Error("AUTH without TLS was accepted")
	}
	if n := len(s.Mails()); n != 1 {
		t.Errorf("%d mails kept, want 1", n)
	}
}
