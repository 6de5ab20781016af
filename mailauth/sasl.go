package mailauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/rmad/rmad/config"
)

// Mechanism names as servers advertise them.
const (
	XOAUTH2     = "XOAUTH2"
	OAUTHBEARER = sasl.OAuthBearer
)

// Mechanism is the SASL mechanism of an auth setting (xoauth2 or oauthbearer).
func Mechanism(auth string) string {
	if auth == config.AuthOAuthBearer {
		return OAUTHBEARER
	}
	return XOAUTH2
}

// Client is a SASL client carrying an access token. After a refusal, Challenge holds what the
// server said in its error challenge (a JSON status), for the error message.
type Client interface {
	sasl.Client
	Challenge() string
}

// NewClient returns the SASL client for mech (XOAUTH2 or OAUTHBEARER) logging in as user.
func NewClient(mech, user, token string) Client {
	if mech == OAUTHBEARER {
		return &oauthBearer{inner: sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: token})}
	}
	return &xoauth2{user: user, token: token}
}

// xoauth2 is the client side of XOAUTH2 (Google's and Microsoft's mechanism): one initial
// response "user=U^Aauth=Bearer T^A^A"; a failure comes as a challenge with a JSON status,
// which the client answers to get the final NO. The answer is a single 0x01, as OAUTHBEARER's:
// go-imap cannot send the empty line Google documents (it encodes an empty response as "=",
// which Dovecot rejects as bad base64), and servers fail the login on any answer.
type xoauth2 struct {
	user, token string
	challenge   string
}

func (x *xoauth2) Start() (string, []byte, error) {
	return XOAUTH2, []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	if x.challenge != "" {
		return nil, errors.New("XOAUTH2: a second challenge from the server")
	}
	x.challenge = printable(challenge)
	return []byte{0x01}, nil
}

func (x *xoauth2) Challenge() string { return x.challenge }

// oauthBearer wraps go-sasl's OAUTHBEARER client, whose Next ends the exchange with an error
// on the server's error challenge. RFC 7628 §3.2.3 has the client answer it with a single
// 0x01 so that the server sends its final failure; the IMAP client needs that to stay in step.
type oauthBearer struct {
	inner     sasl.Client
	challenge string
}

func (o *oauthBearer) Start() (string, []byte, error) { return o.inner.Start() }

func (o *oauthBearer) Next(challenge []byte) ([]byte, error) {
	if o.challenge != "" {
		return nil, errors.New("OAUTHBEARER: a second challenge from the server")
	}
	o.challenge = printable(challenge)
	if _, err := o.inner.Next(challenge); err != nil {
		var be *sasl.OAuthBearerError
		if errors.As(err, &be) {
			o.challenge = fmt.Sprintf("status %s", be.Status)
		}
	}
	return []byte{0x01}, nil
}

func (o *oauthBearer) Challenge() string { return o.challenge }

// printable keeps a server's challenge fit for a log line.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// RefusedError says that the server refused the access token (expired, revoked, or for the
// wrong mailbox), after rmad fetched a new one and tried once more.
type RefusedError struct {
	Text string // what the server answered
	Err  error
}

func (e *RefusedError) Error() string { return "the server refused the OAuth token: " + e.Text }
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused builds the RefusedError for a failed login with c: the server's final answer, with
// its error challenge when it sent one.
func Refused(err error, c Client) *RefusedError {
	text := err.Error()
	if ch := c.Challenge(); ch != "" && !strings.Contains(text, ch) {
		text += " (" + ch + ")"
	}
	return &RefusedError{Text: text, Err: err}
}

// Login logs in with a token from t over one SASL exchange, auth (the IMAP or SMTP client's
// AUTHENTICATE). When the server refuses the token (refused tells a server's answer from a
// broken connection), it gets a new token and tries once more; a second refusal is a
// *RefusedError.
func Login(ctx context.Context, t *Tokens, mech, user string, auth func(Client) error, refused func(error) bool) error {
	token, err := t.Token(ctx)
	if err != nil {
		return err
	}
	c := NewClient(mech, user, token)
	err = auth(c)
	if err == nil || !refused(err) {
		return err
	}
	if token, err = t.Renew(ctx); err != nil {
		return err
	}
	c = NewClient(mech, user, token)
	if err = auth(c); err != nil && refused(err) {
		return Refused(err, c)
	}
	return err
}
