package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/rmad/rmad/config"
)

// renewBefore is how long before its expiry a cached token is replaced, so that a login never
// starts with a token about to lapse.
const renewBefore = 2 * time.Minute

// tokenTimeout bounds one request to the token endpoint.
const tokenTimeout = 30 * time.Second

// Tokens hands out access tokens for one login (an imap mailbox or smtp). It is safe for
// concurrent use.
type Tokens struct {
	cfg    config.OAuth2
	client *http.Client

	mu      sync.Mutex
	src     oauth2.TokenSource // caches; renews renewBefore the expiry
	refresh string             // the latest refresh token (a server may rotate it)
}

// NewTokens returns the token source for an oauth2 block. client makes the requests to the
// token endpoint; nil means one with a 30 s timeout.
func NewTokens(o config.OAuth2, client *http.Client) *Tokens {
	if client == nil {
		client = &http.Client{Timeout: tokenTimeout}
	}
	t := &Tokens{cfg: o, client: client, refresh: o.RefreshToken.Reveal()}
	t.src = t.newSource()
	return t
}

// Grant names the grant in use, for messages: "client credentials" or "refresh token".
func (t *Tokens) Grant() string {
	if t.cfg.RefreshToken != "" {
		return "refresh token"
	}
	return "client credentials"
}

func (t *Tokens) newSource() oauth2.TokenSource {
	// The token source keeps this context for every later refresh: it must not be a caller's.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, t.client)
	var base oauth2.TokenSource
	if t.refresh != "" {
		c := &oauth2.Config{ClientID: t.cfg.ClientID, ClientSecret: t.cfg.ClientSecret.Reveal(),
			Endpoint: oauth2.Endpoint{TokenURL: t.cfg.TokenURL}, Scopes: t.cfg.Scopes}
		// An empty access token makes the first Token call use the refresh token.
		base = c.TokenSource(ctx, &oauth2.Token{RefreshToken: t.refresh})
	} else {
		c := &clientcredentials.Config{ClientID: t.cfg.ClientID, ClientSecret: t.cfg.ClientSecret.Reveal(),
			TokenURL: t.cfg.TokenURL, Scopes: t.cfg.Scopes}
		base = c.TokenSource(ctx)
	}
	return oauth2.ReuseTokenSourceWithExpiry(nil, base, renewBefore)
}

// Token returns a valid access token: the cached one, or a new one from the token endpoint.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	src := t.src
	t.mu.Unlock()
	type result struct {
		tok *oauth2.Token
		err error
	}
	// oauth2's TokenSource takes no context; the HTTP client's timeout bounds it, and ctx lets
	// the caller stop waiting.
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		ch <- result{tok, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return "", t.describe(r.err)
		}
		t.mu.Lock()
		if r.tok.RefreshToken != "" {
			t.refresh = r.tok.RefreshToken
		}
		t.mu.Unlock()
		return r.tok.AccessToken, nil
	case <-ctx.Done():
		return "", fmt.Errorf("oauth2 token from %s: %w", t.cfg.TokenURL, context.Cause(ctx))
	}
}

// Renew forgets the cached token (the server refused it: revoked, or expired early) and gets a
// new one.
func (t *Tokens) Renew(ctx context.Context) (string, error) {
	t.mu.Lock()
	t.src = t.newSource()
	t.mu.Unlock()
	return t.Token(ctx)
}

// describe turns a token endpoint failure into an error that says what to fix, without the
// response body beyond the endpoint's own error code and description.
func (t *Tokens) describe(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		what := re.ErrorCode
		if re.ErrorDescription != "" {
			what += ": " + re.ErrorDescription
		}
		if what == "" && re.Response != nil {
			what = re.Response.Status
		}
		hint := ""
		switch re.ErrorCode {
		case "invalid_client", "unauthorized_client":
			hint = " (check client_id and the client secret)"
		case "invalid_grant":
			hint = " (the refresh token is expired or revoked: get a new one)"
		case "invalid_scope":
			hint = " (check scopes)"
		}
		return &TokenError{URL: t.cfg.TokenURL, Grant: t.Grant(), Reason: strings.TrimSpace(what) + hint}
	}
	return &TokenError{URL: t.cfg.TokenURL, Grant: t.Grant(), Reason: err.Error()}
}

// TokenError is a failure to get an access token from the token endpoint.
type TokenError struct {
	URL    string
	Grant  string
	Reason string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("cannot get an OAuth token (%s grant) from %s: %s", e.Grant, e.URL, e.Reason)
}
