package estimate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// A token says what it was made for, and nothing else reads as valid: another key, another
// answer, a changed character, a later expiry.
func TestLinkToken(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	c := linkClaims{Partner: "P-GR-001", Number: "RMA/12/SR/2026", EstimateID: "0df7262431", Expires: now.Add(14 * 24 * time.Hour)}
	tok := makeToken(testKey, c, rma.EstimateAccept)
	got, err := readToken(testKey, tok, rma.EstimateAccept, now)
	if err != nil || got.Partner != c.Partner || got.Number != c.Number || got.EstimateID != c.EstimateID || !got.Expires.Equal(c.Expires) {
		t.Fatalf("readToken = %+v, %v", got, err)
	}
	if _, err := readToken(testKey, tok, rma.EstimateAccept, c.Expires); !errors.Is(err, ErrLinkExpired) {
		t.Errorf("at expiry: %v", err)
	}
	if _, err := readToken(testKey, tok, rma.EstimateDecline, now); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("the accept token as a decline: %v", err)
	}
	if _, err := readToken([]byte("another key of thirty-two bytes!"), tok, rma.EstimateAccept, now); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("another key: %v", err)
	}
	later := c
	later.Expires = c.Expires.Add(365 * 24 * time.Hour)
	forged := strings.Split(makeToken([]byte("x"), later, rma.EstimateAccept), ".")[0] + "." + strings.Split(tok, ".")[1]
	if _, err := readToken(testKey, forged, rma.EstimateAccept, now); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("a later expiry under the old MAC: %v", err)
	}
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 0x01
		if _, err := readToken(testKey, string(b), rma.EstimateAccept, now); err == nil {
			t.Errorf("token changed at %d reads as valid", i)
		}
	}
	if u := linkURL("https://rma.example.com/base/", tok, rma.EstimateDecline); u != "https://rma.example.com/base/estimate/"+tok+"/decline" {
		t.Errorf("linkURL = %s", u)
	}
}

// FuzzReadToken: any text is refused or read, never a panic.
func FuzzReadToken(f *testing.F) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	f.Add(makeToken(testKey, linkClaims{Partner: "P", Number: "RMA/1/SR/2026", EstimateID: "a", Expires: now.Add(time.Hour)}, rma.EstimateAccept))
	f.Add("")
	f.Add(".")
	f.Add("fA.fA")
	f.Fuzz(func(t *testing.T, tok string) {
		if c, err := readToken(testKey, tok, rma.EstimateAccept, now); err == nil && c.Number == "" && c.Partner == "" && tok != "" {
			// A valid MAC over an empty payload can only come from our own key.
			if _, err2 := readToken([]byte("another key of thirty-two bytes!"), tok, rma.EstimateAccept, now); err2 == nil {
				t.Fatalf("%q valid under two keys", tok)
			}
		}
	})
}
