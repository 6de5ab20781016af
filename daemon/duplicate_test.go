package daemon_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// The same mail taken in twice at once (a partner's client appending it twice, a copy in two
// folders) gives two inbox entries, and so two outbox entries for one reply; the couriers claim
// its Message-ID before SMTP, so the partner gets the reply once and every mail is sent once.
func TestSameMailTwiceBackToBackRepliesOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	h.start(t)
	name := "01-gr-body-router.eml"
	raw, err := os.ReadFile(filepath.Join("../testdata/mails", name))
	if err != nil {
		t.Fatal(err)
	}
	orig := readHeader(t, name, raw)
	h.box.append(t, raw)
	h.box.append(t, raw)
	testenv.Eventually(t, waitLong, "both copies taken in and answered", func() bool {
		if h.box.count(h.box.in) != 0 {
			return false
		}
		p, err := h.d.Pending(ctx)
		return err == nil && p == 0
	})
	sent := h.sink.Mails()
	if replies := partnerReplies(t, orig, sent); len(replies) != 1 {
		t.Errorf("%d replies to the partner, want 1", len(replies))
	}
	ids := map[string]int{}
	for _, m := range sent {
		ids[parseSent(t, m).MessageID]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("message %s sent %d times", id, n)
		}
	}
	h.checkNoDeadLetters(ctx, t)

	// Both copies count as mails taken in and filed as processed.
	w := httptest.NewRecorder()
	h.d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`rmad_mails_processed_total{disposition="processed",mailbox="partners"} 2`,
		`rmad_mails_processed_total{disposition="rejected",mailbox="partners"} 0`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
