package estimate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// A link token names one estimate of one partner's RMA and when it expires; its MAC covers
// those and the answer the link gives, so a link cannot be turned into the other answer,
// another RMA or a later expiry. It is base64url(partner|number|estimate id|expiry unix) "."
// base64url(HMAC-SHA-256 truncated to 18 bytes).

// Link errors.
var (
	ErrLinkInvalid = errors.New("estimate link: not valid")
	ErrLinkExpired = errors.New("estimate link: expired")
)

// macBytes is the kept length of the MAC: 144 bits, far beyond guessing.
const macBytes = 18

// linkClaims are what a token says.
type linkClaims struct {
	Partner, Number, EstimateID string
	Expires                     time.Time
}

func sign(key []byte, payload string, a rma.EstimateAnswer) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload + "|" + string(a)))
	return m.Sum(nil)[:macBytes]
}

func makeToken(key []byte, c linkClaims, a rma.EstimateAnswer) string {
	payload := strings.Join([]string{c.Partner, c.Number, c.EstimateID, strconv.FormatInt(c.Expires.Unix(), 10)}, "|")
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sign(key, payload, a))
}

// readToken checks a token for answer a at now: ErrLinkInvalid when it was not made by key for
// that answer (cut, changed, the other answer's path), ErrLinkExpired after its expiry.
func readToken(key []byte, token string, a rma.EstimateAnswer, now time.Time) (linkClaims, error) {
	enc := base64.RawURLEncoding
	p64, m64, ok := strings.Cut(token, ".")
	if !ok || len(token) > 400 {
		return linkClaims{}, ErrLinkInvalid
	}
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, sign(key, string(payload), a)) {
		return linkClaims{}, ErrLinkInvalid
	}
	parts := strings.Split(string(payload), "|")
	if len(parts) != 4 {
		return linkClaims{}, ErrLinkInvalid
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return linkClaims{}, ErrLinkInvalid
	}
	c := linkClaims{Partner: parts[0], Number: parts[1], EstimateID: parts[2], Expires: time.Unix(exp, 0)}
	if !now.Before(c.Expires) {
		return c, ErrLinkExpired
	}
	return c, nil
}

// linkURL is base/estimate/<token>/<answer>.
func linkURL(base, token string, a rma.EstimateAnswer) string {
	return strings.TrimRight(base, "/") + "/estimate/" + url.PathEscape(token) + "/" + string(a)
}

// Key is the link key: http.link_secret_file's (or $RMAD_LINK_SECRET's) secret, else the random
// key kept in Redis (store.LinkKey).
func Key(ctx context.Context, secret config.Secret, st *store.Store) ([]byte, error) {
	if k := secret.Reveal(); k != "" {
		if len(k) < 16 {
			return nil, errors.New("http.link_secret_file: the link secret is too short: use at least 16 characters (openssl rand -base64 32)")
		}
		return []byte(k), nil
	}
	return st.LinkKey(ctx)
}
