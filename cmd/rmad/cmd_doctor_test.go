package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/mailauth"
)

// oauthSMTP is a go-smtp server whose only login is XOAUTH2, checked with the token service;
// it counts the messages it takes (doctor must send none).
type oauthSMTP struct {
	ts   *testenv.TokenService
	user string
	mu   sync.Mutex
	data int
}

func (b *oauthSMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &oauthSMTPSession{b: b}, nil }

type oauthSMTPSession struct{ b *oauthSMTP }

func (s *oauthSMTPSession) AuthMechanisms() []string { return []string{mailauth.XOAUTH2} }
func (s *oauthSMTPSession) Auth(string) (sasl.Server, error) {
	return testenv.XOAUTH2Server(func(user, token string) error {
		if u, ok := s.b.ts.Check(token); !ok || u != user || user != s.b.user {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}
func (s *oauthSMTPSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *oauthSMTPSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *oauthSMTPSession) Data(r io.Reader) error {
	s.b.mu.Lock()
	s.b.data++
	s.b.mu.Unlock()
	_, err := io.Copy(io.Discard, r)
	return err
}
func (s *oauthSMTPSession) Reset()        {}
func (s *oauthSMTPSession) Logout() error { return nil }

func startOAuthSMTP(t *testing.T, b *oauthSMTP) string {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// volatileRedis starts a private redis-server without AOF and with an evicting memory policy.
func volatileRedis(t *testing.T) string {
	t.Helper()
	return testenv.StartRedis(t, "--appendonly", "no", "--maxmemory-policy", "allkeys-lru").Addr
}

// TestDoctor runs rmad doctor against the real test servers: the test Dovecot with a password,
// a Dovecot whose logins are OAuth tokens from a loopback token service, a go-smtp server that
// takes only XOAUTH2 tokens, and Redis. Then the same with things broken.
func TestDoctor(t *testing.T) {
	ts := testenv.StartTokenService(t)
	const user = "rma@distributor.example"
	ts.AddClient("rmad-app", "app-secret", user)
	oauthIMAP := testenv.OAuthDovecot(t, ts.IntrospectURL)
	imapAddr, imapUser, imapPass := testenv.IMAPServer(t)
	be := &oauthSMTP{ts: ts, user: user}
	smtpAddr := startOAuthSMTP(t, be)
	data, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "client-secret"), []byte("app-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RMAD_IMAP_DOVECOT_PASSWORD", imapPass)
	folder := fmt.Sprintf("doctor%d", time.Now().UnixNano())
	writeConfig := func(redisAddr, smtpSecretFile string) string {
		oauth := `{token_url: "` + ts.TokenURL + `", client_id: rmad-app, client_secret_file: client-secret, scopes: ["https://outlook.office365.com/.default"]}`
		cfg := `redis: {url: "redis://` + redisAddr + `/0"}
imap:
  - {name: dovecot, address: "` + imapAddr + `", tls: none, username: ` + imapUser + `, processed_mailbox: ` + folder + `/done, rejected_mailbox: ` + folder + `/rejected}
  - {name: m365, address: "` + oauthIMAP + `", tls: none, username: ` + user + `, auth: xoauth2, oauth2: ` + oauth + `}
smtp:
  address: "` + smtpAddr + `"
  tls: none
  username: ` + user + `
  auth: xoauth2
  oauth2: {token_url: "` + ts.TokenURL + `", client_id: rmad-app, client_secret_file: ` + smtpSecretFile + `, scopes: ["https://outlook.office365.com/.default"]}
  from: rma@distributor.example
service_centers: {GR: {name: Service GR, address: "Street 1, Athens"}}
partners_file: ` + data + `/partners.yaml
catalog_file: ` + data + `/catalog.csv
`
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	t.Run("all good", func(t *testing.T) {
		path := writeConfig(testenv.RedisAddr(t), "client-secret")
		code, out, _ := runCLI(t, "doctor", "--config", path)
		if code != 0 {
			t.Fatalf("doctor exit %d, want 0:\n%s", code, out)
		}
		wantContains(t, "doctor output", out, []string{
			"✓ config: " + path + " loads\n",
			"✓ data files: ",
			"✓ redis: answers PING\n",
			"✓ redis: AOF persistence is on\n",
			"✓ redis: maxmemory-policy is noeviction\n",
			"✓ imap dovecot: logged in to " + imapAddr + " as " + imapUser + " (auth password, tls none)\n",
			"✓ imap dovecot: capabilities IDLE MOVE UIDPLUS\n",
			`✓ imap dovecot: folder "INBOX" (mailbox) exists`,
			`✓ imap dovecot: folder "` + folder + `/done" (processed_mailbox) was missing and is made now`,
			"✓ imap m365: got an OAuth token (client credentials grant) from " + ts.TokenURL + " for https://outlook.office365.com/.default\n",
			"✓ imap m365: logged in to " + oauthIMAP + " as " + user + " (auth xoauth2, tls none)\n",
			"✓ smtp: got an OAuth token (client credentials grant)",
			"✓ smtp: " + smtpAddr + ": logged in as " + user + " (auth xoauth2), no TLS (loopback), offers PIPELINING",
			"doctor: everything rmad needs works",
		})
		if strings.Contains(out, "✗") || be.data != 0 {
			t.Errorf("a ✗ or a message sent (%d):\n%s", be.data, out)
		}
		// The second run finds the folders the first one made.
		_, out, _ = runCLI(t, "doctor", "--config", path)
		wantContains(t, "second run", out, []string{`✓ imap dovecot: folder "` + folder + `/done" (processed_mailbox) exists`})
	})

	t.Run("broken", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "wrong-secret"), []byte("not-the-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		path := writeConfig(volatileRedis(t), "wrong-secret")
		ts.RefuseAll(true)
		defer ts.RefuseAll(false)
		code, out, _ := runCLI(t, "doctor", "--config", path)
		if code != 1 {
			t.Fatalf("doctor exit %d, want 1:\n%s", code, out)
		}
		wantContains(t, "doctor output", out, []string{
			"✓ redis: answers PING\n",
			"✗ redis: redis has no AOF persistence",
			"✗ redis: maxmemory-policy is allkeys-lru, so a full Redis would evict queued mail and RMA records — set it to noeviction: redis-cli CONFIG SET maxmemory-policy noeviction",
			"✓ imap m365: got an OAuth token",
			"✗ imap m365: the server refused the OAuth token: ",
			"— the token is valid but the mailbox does not accept it: Microsoft 365 needs IMAP.AccessAsApp",
			"✗ smtp: cannot get an OAuth token (client credentials grant) from " + ts.TokenURL + ": invalid_client",
			"— check oauth2.token_url, client_id, the client secret and scopes",
			"doctor: 4 problems; rmad will not work until they are fixed",
		})
		if strings.Contains(out, "not-the-secret") || strings.Contains(out, "at-") {
			t.Errorf("the output shows a secret or a token:\n%s", out)
		}
	})

	t.Run("bad config", func(t *testing.T) {
		path := filepath.Join(dir, "bad.yaml")
		os.WriteFile(path, []byte("imap:\n  - {name: x, address: nowhere}\n"), 0o600)
		code, out, _ := runCLI(t, "doctor", "--config", path)
		if code != 1 || !strings.Contains(out, "✗ config: "+path+":2: imap[0].address: ") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}
