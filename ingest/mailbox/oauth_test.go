package mailbox

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/mailauth"
)

// TestOAuthDovecot logs in to a Dovecot whose oauth2 passdb checks tokens with a token service
// on loopback: client credentials over XOAUTH2 and a refresh token over OAUTHBEARER; a token
// that expired or was revoked while rmad held it is replaced once; a server that refuses every
// token gives a clear error, the watcher retries with backoff, and no mail is lost.
func TestOAuthDovecot(t *testing.T) {
	t.Parallel()
	ts := testenv.StartTokenService(t)
	addr := testenv.OAuthDovecot(t, ts.IntrospectURL)
	const user = "rma@distributor.example"
	ts.AddClient("rmad-app", "app-secret", user)
	ts.AddRefreshToken("rt-google", "service@distributor.example")

	oauthBox := func(name, auth, folder string, o config.OAuth2) config.Mailbox {
		return config.Mailbox{Name: name, Address: addr, TLS: config.TLSNone, Username: user, Auth: auth, OAuth2: &o,
			Mailbox: folder + "/in", ProcessedMailbox: folder + "/done", RejectedMailbox: folder + "/rejected",
			PollInterval: time.Hour}
	}
	appCreds := config.OAuth2{TokenURL: ts.TokenURL, ClientID: "rmad-app", ClientSecret: "app-secret",
		Scopes: []string{"https://outlook.office365.com/.default"}}

	// The test's own client appends and counts, logged in with XOAUTH2 as well.
	own := mailauth.NewTokens(appCreds, nil)
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := mailauth.Login(context.Background(), own, mailauth.XOAUTH2, user,
		func(sc mailauth.Client) error { return c.Authenticate(sc) }, func(error) bool { return true }); err != nil {
		t.Fatalf("XOAUTH2 login: %v", err)
	}
	appendTo := func(folder string, raw []byte) {
		t.Helper()
		c.Create(folder, nil).Wait()
		cmd := c.Append(folder, int64(len(raw)), nil)
		cmd.Write(raw)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("append to %s: %v", folder, err)
		}
	}
	count := func(folder string) int {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return -1
		}
		return int(*st.NumMessages)
	}

	t.Run("client credentials, expiry and revocation mid-run", func(t *testing.T) {
		cfg := oauthBox("m365", config.AuthXOAUTH2, "m365", appCreds)
		appendTo(cfg.Mailbox, mail(1, "first", 300))
		sink, lock := newSink(), newLocker()
		w := newTestWatcher(t, cfg, config.Limits{}, sink, newCursor(), lock)
		minted := ts.Minted("client_credentials")
		run(t, w)
		sink.next(t)
		testenv.Eventually(t, waitTimeout, "moved", func() bool { return count(cfg.ProcessedMailbox) == 1 })
		if n := ts.Minted("client_credentials") - minted; n != 1 {
			t.Errorf("%d tokens minted for one login, want 1", n)
		}

		// The token expires early on the server (rmad's copy still looks valid), and the
		// watcher must reconnect: it is refused once, gets a new token and goes on.
		for i, spoil := range []func(){ts.ExpireAll, ts.RevokeAll} {
			testenv.Eventually(t, waitTimeout, "moved", func() bool { return count(cfg.ProcessedMailbox) == 1+i })
			spoil()
			before := ts.Minted("client_credentials")
			lock.revoke(cfg.Name)
			testenv.Eventually(t, waitTimeout, "reconnected", func() bool { return w.State().Connected })
			raw := mail(2+i, "after the token went bad", 300)
			appendTo(cfg.Mailbox, raw) // IDLE announces it
			if m := sink.next(t); !bytes.Equal(m.Raw, raw) {
				t.Fatalf("wrong mail after a new token")
			}
			if n := ts.Minted("client_credentials") - before; n != 1 {
				t.Errorf("case %d: %d new tokens, want exactly one after the refusal", i, n)
			}
		}
	})

	t.Run("refused tokens: clear error, backoff, nothing lost", func(t *testing.T) {
		cfg := oauthBox("refused", config.AuthXOAUTH2, "refused", appCreds)
		raw := mail(10, "while the server refuses tokens", 300)
		appendTo(cfg.Mailbox, raw)
		ts.RefuseAll(true)
		sink := newSink()
		w := newTestWatcher(t, cfg, config.Limits{}, sink, newCursor(), nil)
		run(t, w)
		testenv.Eventually(t, waitTimeout, "the refusal recorded", func() bool { return w.State().LastError != "" })
		st := w.State()
		if want := "imap refused: the server refused the OAuth token: "; !strings.HasPrefix(st.LastError, want) || st.Connected {
			t.Errorf("state %+v; want not connected and an error starting %q", st, want)
		}
		if strings.Contains(st.LastError, "at-") {
			t.Errorf("the error shows a token: %s", st.LastError)
		}
		ts.RefuseAll(false)
		if m := sink.next(t); !bytes.Equal(m.Raw, raw) {
			t.Fatal("wrong mail delivered once the server took tokens again")
		}
		testenv.Eventually(t, waitTimeout, "moved", func() bool { return count(cfg.ProcessedMailbox) == 1 && count(cfg.Mailbox) == 0 })
	})

	t.Run("refresh token over OAUTHBEARER", func(t *testing.T) {
		// Tokens from a refresh token are for service@; the mailbox logs in as that user.
		cfg := oauthBox("google", config.AuthOAuthBearer, "google", config.OAuth2{TokenURL: ts.TokenURL,
			ClientID: "rmad-app", ClientSecret: "app-secret", RefreshToken: "rt-google", Scopes: []string{"https://mail.google.com/"}})
		cfg.Username, cfg.Mailbox = "service@distributor.example", "INBOX"
		sink := newSink()
		w := newTestWatcher(t, cfg, config.Limits{}, sink, newCursor(), nil)
		before := ts.Minted("refresh_token")
		run(t, w)
		testenv.Eventually(t, waitTimeout, "connected", func() bool { return w.State().Connected })
		if ts.Minted("refresh_token") != before+1 {
			t.Errorf("the refresh-token grant was not used")
		}
	})
}
