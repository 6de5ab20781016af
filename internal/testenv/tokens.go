package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TokenService is a small OAuth 2.0 authorization server on loopback for the OAuth login
// tests: it mints access tokens at /token for registered clients (client-credentials grant)
// and refresh tokens (refresh-token grant), answers token introspection (RFC 7662) at
// /introspect as Dovecot's oauth2 passdb asks it, and expires or revokes tokens on command.
type TokenService struct {
	URL           string // http://127.0.0.1:PORT
	TokenURL      string // URL + "/token"
	IntrospectURL string // URL + "/introspect"

	mu       sync.Mutex
	lifetime time.Duration
	clients  map[string]tokenClient // by client id
	refresh  map[string]string      // refresh token → user
	tokens   map[string]*issued     // access token → what it is
	grants   map[string]int         // tokens minted, by grant type
	checks   int                    // introspection requests
	refuse   bool                   // every token is inactive (a server that refuses them all)
}

type tokenClient struct{ secret, user string }

type issued struct {
	user    string
	expires time.Time
	revoked bool
}

// StartTokenService starts the service; it stops when the test ends.
func StartTokenService(t testing.TB) *TokenService {
	t.Helper()
	s := &TokenService{lifetime: time.Hour, clients: map[string]tokenClient{}, refresh: map[string]string{},
		tokens: map[string]*issued{}, grants: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /introspect", s.introspect)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	s.URL = "http://" + ln.Addr().String()
	s.TokenURL, s.IntrospectURL = s.URL+"/token", s.URL+"/introspect"
	return s
}

// AddClient registers a client whose client-credentials tokens log in as user.
func (s *TokenService) AddClient(id, secret, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = tokenClient{secret: secret, user: user}
}

// AddRefreshToken registers a refresh token (used with any registered client) for user.
func (s *TokenService) AddRefreshToken(token, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[token] = user
}

// SetLifetime sets expires_in for the tokens minted from now on.
func (s *TokenService) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// ExpireAll makes every token minted so far expired (a client still thinks it valid).
func (s *TokenService) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range s.tokens {
		tok.expires = time.Now().Add(-time.Second)
	}
}

// RevokeAll revokes every token minted so far.
func (s *TokenService) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tok := range s.tokens {
		tok.revoked = true
	}
}

// RefuseAll makes introspection call every token inactive (on) or answer normally again (off).
func (s *TokenService) RefuseAll(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// RevokeClient makes the client's secret wrong from now on (its registration is gone).
func (s *TokenService) RevokeClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
}

// Minted returns how many access tokens the grant type has minted ("client_credentials" or
// "refresh_token").
func (s *TokenService) Minted(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grants[grant]
}

// Check says whether token is a live access token, and for which user: what a mail server
// asks the introspection endpoint.
func (s *TokenService) Check(token string) (user string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	tok := s.tokens[token]
	if tok == nil || s.refuse || tok.revoked || time.Now().After(tok.expires) {
		return "", false
	}
	return tok.user, true
}

func (s *TokenService) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request", err.Error())
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, known := s.clients[id]
	if !known || c.secret != secret {
		w.Header().Set("WWW-Authenticate", "Basic")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "unknown client or wrong secret"})
		return
	}
	user := c.user
	grant := r.PostForm.Get("grant_type")
	switch grant {
	case "client_credentials":
	case "refresh_token":
		u, ok := s.refresh[r.PostForm.Get("refresh_token")]
		if !ok {
			tokenError(w, "invalid_grant", "the refresh token is expired or revoked")
			return
		}
		user = u
	default:
		tokenError(w, "unsupported_grant_type", grant)
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	access := "at-" + hex.EncodeToString(b)
	s.tokens[access] = &issued{user: user, expires: time.Now().Add(s.lifetime)}
	s.grants[grant]++
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": int(s.lifetime.Seconds())})
}

func tokenError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// introspect answers RFC 7662 token introspection: {"active": true, "username": ...}.
func (s *TokenService) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	user, ok := s.Check(r.PostForm.Get("token"))
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		json.NewEncoder(w).Encode(map[string]any{"active": false})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": user})
}
