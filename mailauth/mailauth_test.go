package mailauth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

func TestTokensCachedRenewedAndRefreshed(t *testing.T) {
	ts := testenv.StartTokenService(t)
	ts.AddClient("app", "secret", "rma@example.com")
	ctx := context.Background()
	tok := NewTokens(config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "secret", Scopes: []string{"s"}}, nil)

	a, err := tok.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tok.Token(ctx)
	if a != b || ts.Minted("client_credentials") != 1 {
		t.Errorf("a valid token must be reused: %d minted", ts.Minted("client_credentials"))
	}
	if user, ok := ts.Check(a); !ok || user != "rma@example.com" {
		t.Errorf("minted token checks as %q, %v", user, ok)
	}
	c, err := tok.Renew(ctx)
	if err != nil || c == a || ts.Minted("client_credentials") != 2 {
		t.Errorf("Renew: %v, same token %v, minted %d", err, c == a, ts.Minted("client_credentials"))
	}

	// A token that expires within renewBefore is replaced before it is handed out.
	ts.SetLifetime(renewBefore / 2)
	tok.Renew(ctx)
	before := ts.Minted("client_credentials")
	tok.Token(ctx)
	if ts.Minted("client_credentials") != before+1 {
		t.Error("a token about to expire was handed out instead of a new one")
	}
}

func TestTokensRefreshGrant(t *testing.T) {
	ts := testenv.StartTokenService(t)
	ts.AddClient("app", "secret", "nobody")
	ts.AddRefreshToken("rt-1", "user@example.com")
	tok := NewTokens(config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "secret", RefreshToken: "rt-1"}, nil)
	a, err := tok.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if user, _ := ts.Check(a); user != "user@example.com" || ts.Minted("refresh_token") != 1 || tok.Grant() != "refresh token" {
		t.Errorf("refresh grant: user %q, minted %d", user, ts.Minted("refresh_token"))
	}
}

func TestTokenErrors(t *testing.T) {
	ts := testenv.StartTokenService(t)
	ts.AddClient("app", "secret", "u")
	for _, c := range []struct {
		name string
		cfg  config.OAuth2
		want string
	}{
		{"wrong secret", config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "WRONG-SECRET"},
			"cannot get an OAuth token (client credentials grant) from " + ts.TokenURL + ": invalid_client: unknown client or wrong secret (check client_id and the client secret)"},
		{"revoked refresh token", config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "secret", RefreshToken: "rt-GONE"},
			"(refresh token grant) from " + ts.TokenURL + ": invalid_grant: the refresh token is expired or revoked (the refresh token is expired or revoked: get a new one)"},
		{"no token service", config.OAuth2{TokenURL: "http://127.0.0.1:1/token", ClientID: "app", ClientSecret: "secret"},
			"cannot get an OAuth token (client credentials grant) from http://127.0.0.1:1/token: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewTokens(c.cfg, nil).Token(context.Background())
			var te *TokenError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v\nwant it to contain %s", err, c.want)
			}
			if err != nil && (strings.Contains(err.Error(), "WRONG-SECRET") || strings.Contains(err.Error(), "rt-GONE")) {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	if _, err := NewTokens(config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "secret"}, nil).Token(ctx); err == nil {
		t.Error("an expired context must stop the wait")
	}
}

func TestSASLClients(t *testing.T) {
	x := NewClient(XOAUTH2, "rma@example.com", "tok")
	mech, ir, err := x.Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=rma@example.com\x01auth=Bearer tok\x01\x01" {
		t.Errorf("XOAUTH2 start = %s %q %v", mech, ir, err)
	}
	resp, err := x.Next([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	if err != nil || len(resp) != 1 || x.Challenge() != `{"status":"401","schemes":"bearer","scope":"mail"}` {
		t.Errorf("XOAUTH2 error challenge: resp %q, err %v, challenge %q", resp, err, x.Challenge())
	}
	if _, err := x.Next([]byte("again")); err == nil {
		t.Error("a second challenge must end the exchange")
	}

	o := NewClient(OAUTHBEARER, "rma@example.com", "tok")
	mech, ir, _ = o.Start()
	if mech != "OAUTHBEARER" || string(ir) != "n,a=rma@example.com,\x01auth=Bearer tok\x01\x01" {
		t.Errorf("OAUTHBEARER start = %s %q", mech, ir)
	}
	resp, err = o.Next([]byte(`{"status":"invalid_token"}`))
	if err != nil || string(resp) != "\x01" || o.Challenge() != "status invalid_token" {
		t.Errorf("OAUTHBEARER error challenge: resp %q, err %v, challenge %q", resp, err, o.Challenge())
	}
	if Mechanism(config.AuthOAuthBearer) != OAUTHBEARER || Mechanism(config.AuthXOAUTH2) != XOAUTH2 {
		t.Error("Mechanism")
	}
}

func TestLoginRetriesOnceWithANewToken(t *testing.T) {
	ts := testenv.StartTokenService(t)
	ts.AddClient("app", "secret", "u")
	tok := NewTokens(config.OAuth2{TokenURL: ts.TokenURL, ClientID: "app", ClientSecret: "secret"}, nil)
	refusal := errors.New("NO [AUTHENTICATIONFAILED] Authentication failed.")
	var seen []string
	auth := func(refuse int) func(Client) error {
		return func(c Client) error {
			_, ir, _ := c.Start()
			seen = append(seen, string(ir))
			if len(seen) <= refuse {
				c.Next([]byte(`{"status":"401"}`))
				return refusal
			}
			return nil
		}
	}
	isRefusal := func(err error) bool { return errors.Is(err, refusal) }
	if err := Login(context.Background(), tok, XOAUTH2, "u", auth(1), isRefusal); err != nil || len(seen) != 2 || seen[0] == seen[1] {
		t.Errorf("one refusal: err %v, %d attempts, new token %v", err, len(seen), len(seen) == 2 && seen[0] != seen[1])
	}
	seen = nil
	err := Login(context.Background(), tok, XOAUTH2, "u", auth(5), isRefusal)
	var re *RefusedError
	if !errors.As(err, &re) || len(seen) != 2 || err.Error() != `the server refused the OAuth token: NO [AUTHENTICATIONFAILED] Authentication failed. ({"status":"401"})` {
		t.Errorf("two refusals: %v after %d attempts", err, len(seen))
	}
}
