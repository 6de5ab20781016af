package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks (https://www.standardwebhooks.com/) header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from our clock, either way (docs/contract.md §9).
// It bounds how long a captured request can be replayed before the id memory has to stop it.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts every Standard Webhooks secret; the rest is the base64 of the HMAC key.
const SecretPrefix = "whsec_"

// MinKeyBytes is the shortest HMAC key that is not warned about: 128 bits. The standard's
// senders generate 24 to 64 bytes. Shorter keys still work (a vendor may have issued one), but
// the server logs a warning.
const MinKeyBytes = 16

const (
	maxIDLen         = 256 // webhook-id becomes part of a Redis key
	maxSignatures    = 16  // bounds the work one request can cause
	maxTimestampLen  = 12  // seconds since 1970 fit in 11 digits until year 5138
	signatureVersion = "v1"
)

// Verification failures. The server maps them to status codes; the wrapped text is the detail
// a sender's developer reads, so it says what was wrong without echoing secrets.
var (
	ErrMissingHeader   = errors.New("missing webhook header")
	ErrBadHeader       = errors.New("malformed webhook header")
	ErrTimestampTooOld = errors.New("webhook timestamp too old")
	ErrTimestampTooNew = errors.New("webhook timestamp too far in the future")
	ErrNoValidSig      = errors.New("no valid webhook signature")
)

// Delivery is what the headers of a webhook request say about it.
type Delivery struct {
	ID        string
	Timestamp time.Time
	rawTS     string   // signed as sent, never re-formatted
	sigs      []string // the "v1,<base64>" entries
}

// Verifier checks Standard Webhooks signatures against one source's secrets. Several secrets
// let a source rotate: during the overlap a delivery signed with either key is accepted.
type Verifier struct {
	keys      [][]byte
	macs      []*sync.Pool // per key: keyed HMAC-SHA256 states, Reset after use (New hashes the key's pads anew)
	tolerance time.Duration
	now       func() time.Time
}

// NewVerifier parses the secrets ("whsec_<base64>"; the prefix may be left off, as the
// standard's reference libraries allow). now may be nil (time.Now); tolerance 0 means
// DefaultTolerance.
func NewVerifier(secrets []string, tolerance time.Duration, now func() time.Time) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no webhook secret configured")
	}
	v := &Verifier{tolerance: tolerance, now: now}
	if v.tolerance <= 0 {
		v.tolerance = DefaultTolerance
	}
	if v.now == nil {
		v.now = time.Now
	}
	for i, s := range secrets {
		k, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		v.keys = append(v.keys, k)
		v.macs = append(v.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, k) }})
	}
	return v, nil
}

// ParseSecret returns the HMAC key of a "whsec_<base64>" secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, SecretPrefix)
	if s == "" {
		return nil, errors.New("empty webhook secret")
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Never put the secret itself into an error: errors end up in logs.
		return nil, fmt.Errorf("webhook secret is not %s followed by standard base64", SecretPrefix)
	}
	if len(k) == 0 {
		return nil, errors.New("empty webhook secret key")
	}
	return k, nil
}

// NewSecret makes a fresh "whsec_" secret with a 32-byte key (for operators and tests).
func NewSecret() string {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms
	return SecretPrefix + base64.StdEncoding.EncodeToString(k)
}

func (v *Verifier) shortestKey() int {
	n := -1
	for _, k := range v.keys {
		if n < 0 || len(k) < n {
			n = len(k)
		}
	}
	return n
}

// ReadHeaders checks the three headers and the timestamp window. It needs no body, so a
// request that cannot be valid is refused before its body is read.
func (v *Verifier) ReadHeaders(h http.Header) (Delivery, error) {
	id, rawTS, rawSig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	var missing []string
	for _, kv := range [][2]string{{HeaderID, id}, {HeaderTimestamp, rawTS}, {HeaderSignature, rawSig}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return Delivery{}, fmt.Errorf("%w: %s (Standard Webhooks needs webhook-id, webhook-timestamp and webhook-signature)",
			ErrMissingHeader, strings.Join(missing, ", "))
	}
	if len(id) > maxIDLen || !VisibleASCII(id) {
		return Delivery{}, fmt.Errorf("%w: webhook-id must be 1 to %d visible ASCII characters", ErrBadHeader, maxIDLen)
	}
	secs, err := parseTimestamp(rawTS)
	if err != nil {
		return Delivery{}, err
	}
	ts := time.Unix(secs, 0)
	now := v.now()
	if d := now.Sub(ts); d > v.tolerance {
		return Delivery{}, fmt.Errorf("%w: webhook-timestamp %s is %s before the receiver's clock (%s); deliveries are accepted for %s — sign each attempt with the current time",
			ErrTimestampTooOld, rawTS, d.Truncate(time.Second), now.UTC().Format(time.RFC3339), v.tolerance)
	} else if -d > v.tolerance {
		return Delivery{}, fmt.Errorf("%w: webhook-timestamp %s is %s after the receiver's clock (%s); tolerance is %s — check the sender's clock (NTP)",
			ErrTimestampTooNew, rawTS, (-d).Truncate(time.Second), now.UTC().Format(time.RFC3339), v.tolerance)
	}
	sigs := strings.Fields(rawSig)
	if len(sigs) > maxSignatures {
		sigs = sigs[:maxSignatures]
	}
	return Delivery{ID: id, Timestamp: ts, rawTS: rawTS, sigs: sigs}, nil
}

// VerifyBody checks that one of the delivery's v1 signatures is the HMAC-SHA256 of
// "id.timestamp.body" under one of the keys. Comparisons are constant-time.
func (v *Verifier) VerifyBody(d Delivery, body []byte) error {
	// The v1 signatures, decoded once for all keys.
	var sawV1 bool
	var gotBuf [maxSignatures][2 * sha256.Size]byte // room for a padded v1 signature; longer entries cannot match
	var got [maxSignatures][]byte
	sigs := 0
	for _, s := range d.sigs {
		ver, b64, ok := strings.Cut(s, ",")
		if !ok || ver != signatureVersion {
			continue // other versions (e.g. v1a, asymmetric) are not ours to check
		}
		sawV1 = true
		if sigs == len(got) || base64.StdEncoding.DecodedLen(len(b64)) > len(gotBuf[sigs]) {
			continue
		}
		n, err := base64.StdEncoding.Decode(gotBuf[sigs][:], []byte(b64))
		if err != nil {
			continue
		}
		got[sigs] = gotBuf[sigs][:n]
		sigs++
	}
	var wantBuf [sha256.Size]byte
	for i := range v.keys {
		mac := v.macs[i].Get().(hash.Hash)
		want := signInto(mac, wantBuf[:0], d.ID, d.rawTS, body)
		mac.Reset()
		v.macs[i].Put(mac)
		for _, g := range got[:sigs] {
			if hmac.Equal(g, want) {
				return nil
			}
		}
	}
	if !sawV1 {
		return fmt.Errorf("%w: webhook-signature has no %q entry (want space-separated \"v1,<base64 HMAC-SHA256>\")", ErrNoValidSig, signatureVersion+",")
	}
	return fmt.Errorf("%w: no v1 signature matches HMAC-SHA256(key, webhook-id + \".\" + webhook-timestamp + \".\" + raw body) for any current secret — check the secret and that the body is signed exactly as sent", ErrNoValidSig)
}

// Verify is ReadHeaders then VerifyBody.
func (v *Verifier) Verify(h http.Header, body []byte) (Delivery, error) {
	d, err := v.ReadHeaders(h)
	if err != nil {
		return Delivery{}, err
	}
	return d, v.VerifyBody(d, body)
}

// Sign returns the "v1,<base64>" signature of a delivery: what a sender puts into
// webhook-signature. Tests, the benchmark and operators' tooling use it.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	sum := signInto(hmac.New(sha256.New, k), nil, id, strconv.FormatInt(ts.Unix(), 10), body)
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(sum), nil
}

// SignRequest sets the three Standard Webhooks headers on r for body.
func SignRequest(r *http.Request, secret, id string, ts time.Time, body []byte) error {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return err
	}
	r.Header.Set(HeaderID, id)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(HeaderSignature, sig)
	return nil
}

func signInto(mac hash.Hash, dst []byte, id, ts string, body []byte) []byte {
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(dst)
}

func parseTimestamp(s string) (int64, error) {
	bad := func() error {
		return fmt.Errorf("%w: webhook-timestamp %q is not whole seconds since 1970-01-01 UTC", ErrBadHeader, Clip(s, 24))
	}
	if len(s) > maxTimestampLen {
		return 0, bad()
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad()
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, bad()
	}
	return n, nil
}

// VisibleASCII reports whether s is non-empty printable ASCII without spaces (ids and keys
// that become part of Redis keys).
func VisibleASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Clip shortens input echoed into an error message to n bytes.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
