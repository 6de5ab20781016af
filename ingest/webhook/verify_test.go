package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The reference vector published with the Standard Webhooks specification.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// The vector's key is 24 bytes; fine. The test checks interop with every other implementation.
func TestSignMatchesReferenceVector(t *testing.T) {
	got, err := Sign(vectorSecret, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSig {
		t.Fatalf("Sign = %s, want %s", got, vectorSig)
	}
	v, err := NewVerifier([]string{vectorSecret}, 0, func() time.Time { return time.Unix(vectorTS+10, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(headers(vectorID, strconv.Itoa(vectorTS), vectorSig), []byte(vectorBody)); err != nil {
		t.Fatalf("reference vector rejected: %v", err)
	}
}

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set(HeaderID, id)
	}
	if ts != "" {
		h.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(HeaderSignature, sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	oldSecret, newSecret, otherSecret := NewSecret(), NewSecret(), NewSecret()
	body := []byte(`{"rma_number":"RMA/1/SR/2026","status":"RECEIVED"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sign := func(secret, id string, at time.Time, b []byte) string {
		s, err := Sign(secret, id, at, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(newSecret, "msg_1", now, body)
	rotated := sign(oldSecret, "msg_1", now, body)
	wrong := sign(otherSecret, "msg_1", now, body)

	cases := []struct {
		name    string
		h       http.Header
		body    []byte
		wantErr error
	}{
		{"good", headers("msg_1", ts, good), body, nil},
		{"old key during rotation", headers("msg_1", ts, rotated), body, nil},
		{"several signatures, one good", headers("msg_1", ts, wrong+" v1a,AAAA "+good), body, nil},
		{"wrong secret", headers("msg_1", ts, wrong), body, ErrNoValidSig},
		{"tampered body", headers("msg_1", ts, good), []byte(strings.Replace(string(body), "RECEIVED", "REPAIRED", 1)), ErrNoValidSig},
		{"signature of other id", headers("msg_2", ts, good), body, ErrNoValidSig},
		{"signature for other timestamp", headers("msg_1", strconv.FormatInt(now.Unix()-1, 10), good), body, ErrNoValidSig},
		{"only other versions", headers("msg_1", ts, "v2,"+strings.TrimPrefix(good, "v1,")), body, ErrNoValidSig},
		{"bad base64", headers("msg_1", ts, "v1,!!!"), body, ErrNoValidSig},
		{"huge signature entry", headers("msg_1", ts, "v1,"+strings.Repeat("A", 4096)), body, ErrNoValidSig},
		{"missing id", headers("", ts, good), body, ErrMissingHeader},
		{"missing timestamp", headers("msg_1", "", good), body, ErrMissingHeader},
		{"missing signature", headers("msg_1", ts, ""), body, ErrMissingHeader},
		{"no headers", http.Header{}, body, ErrMissingHeader},
		{"id with space", headers("msg 1", ts, good), body, ErrBadHeader},
		{"id too long", headers(strings.Repeat("x", maxIDLen+1), ts, good), body, ErrBadHeader},
		{"timestamp not a number", headers("msg_1", "2026-06-01T12:00:00Z", good), body, ErrBadHeader},
		{"timestamp negative", headers("msg_1", "-5", good), body, ErrBadHeader},
		{"timestamp overflow", headers("msg_1", "99999999999999999999", good), body, ErrBadHeader},
		{"too old", headers("msg_1", strconv.FormatInt(now.Add(-DefaultTolerance-time.Second).Unix(), 10),
			sign(newSecret, "msg_1", now.Add(-DefaultTolerance-time.Second), body)), body, ErrTimestampTooOld},
		{"too new", headers("msg_1", strconv.FormatInt(now.Add(DefaultTolerance+time.Second).Unix(), 10),
			sign(newSecret, "msg_1", now.Add(DefaultTolerance+time.Second), body)), body, ErrTimestampTooNew},
		{"just inside the window", headers("msg_1", strconv.FormatInt(now.Add(-DefaultTolerance).Unix(), 10),
			sign(newSecret, "msg_1", now.Add(-DefaultTolerance), body)), body, nil},
	}
	v, err := NewVerifier([]string{oldSecret, newSecret}, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := v.Verify(c.h, c.body)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Verify error %v, want %v", err, c.wantErr)
			}
			if err == nil && d.ID != c.h.Get(HeaderID) {
				t.Errorf("delivery id %q", d.ID)
			}
			if err != nil && (strings.Contains(err.Error(), newSecret) || strings.Contains(err.Error(), oldSecret)) {
				t.Errorf("error text leaks a secret: %v", err)
			}
		})
	}

	// After rotation the old key is gone: its signatures fail.
	v2, err := NewVerifier([]string{newSecret}, 0, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(headers("msg_1", ts, rotated), body); !errors.Is(err, ErrNoValidSig) {
		t.Fatalf("retired key still accepted: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!", "whsec_===="} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		} else if s != "" && strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) && len(s) > 6 {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
	s := NewSecret()
	if !strings.HasPrefix(s, SecretPrefix) {
		t.Fatalf("NewSecret() = %q", s)
	}
	k1, err := ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseSecret(" " + strings.TrimPrefix(s, SecretPrefix) + "\n") // prefix optional, spaces forgiven
	if err != nil || string(k1) != string(k2) || len(k1) != 32 {
		t.Fatalf("ParseSecret without prefix: %v %d", err, len(k2))
	}
	if _, err := NewVerifier(nil, 0, nil); err == nil {
		t.Error("NewVerifier without secrets accepted")
	}
}

func BenchmarkVerify(b *testing.B) {
	secret := NewSecret()
	body := []byte(`{"rma_number":"RMA/1/SR/2026","vendor_reference":"DJI-99","status":"RECEIVED","note":"","tracking":""}`)
	now := time.Now()
	sig, _ := Sign(secret, "msg_1", now, body)
	h := headers("msg_1", strconv.FormatInt(now.Unix(), 10), sig)
	v, _ := NewVerifier([]string{secret}, 0, func() time.Time { return now })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
