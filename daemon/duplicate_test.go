package daemon_test

import (
	"context"
	"encoding/base64"
	"mime/quotedprintable"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
)

// The same mail taken in twice at once (a partner's client appending it twice, a copy in two
// folders) gives two inbox entries, and so two outbox entries for one reply; the couriers claim
// its Message-ID before SMTP, so the partner gets the reply once and every mail is sent once.
func TestSameMailTwiceBackToBackRepliesOnce(t *testing.T) {
	ctx := context.Background()
	h := startHarness(t)
	name := "01-gr-body-router.eml"
	raw, orig := fixtureMail(t, name)
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
	checkSentOnce(t, sent)
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

// The same mail again with another Date, MIME boundary and transfer encoding (a client's resend,
// a copy relayed once more) is the same mail: processed and answered once. Another content under
// the same Message-ID is a new mail, answered as such.
func TestSameMailReencodedIsOneMailReusedIDIsNot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := startHarness(t)
	name := "01-gr-body-router.eml"
	raw, orig := fixtureMail(t, name)
	first := partnerReplies(t, orig, h.deliver(ctx, t, "first", raw))
	if len(first) != 1 {
		t.Fatalf("%d replies to the first copy, want 1", len(first))
	}

	// Same decoded content: another Date and boundary, the text part quoted-printable instead
	// of base64.
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	const boundary = "===============7886328394093027240=="
	head, rest, _ := strings.Cut(text, "Content-Transfer-Encoding: base64\n\n")
	b64, tail, _ := strings.Cut(rest, "\n\n")
	plain, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(b64, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	var qp strings.Builder
	w := quotedprintable.NewWriter(&qp)
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// qp ends with the text's last line break; the boundary's own line break follows.
	again := head + "Content-Transfer-Encoding: quoted-printable\n\n" + qp.String() + "\n" + tail
	again = strings.ReplaceAll(again, boundary, "=_resent_boundary_42")
	again = strings.Replace(again, "Date: Mon, 02 Nov 2026 09:01:00 +0000", "Date: Mon, 02 Nov 2026 09:31:00 +0000", 1)
	if again == text {
		t.Fatal("the resend is byte for byte the same")
	}
	if sent := h.deliver(ctx, t, "re-encoded copy", []byte(strings.ReplaceAll(again, "\n", "\r\n"))); len(sent) != 0 {
		for _, m := range sent {
			t.Errorf("the re-encoded copy was answered: %q", parseSent(t, m).Subject)
		}
	}

	// Another content (another serial) under the same Message-ID: a new mail with its own RMA.
	other := strings.ReplaceAll(again, qp.String(), strings.ReplaceAll(qp.String(), "RT-88812", "RT-90001"))
	if other == again {
		t.Fatal("serial RT-88812 not found in the quoted-printable text")
	}
	replies := partnerReplies(t, orig, h.deliver(ctx, t, "reused Message-ID", []byte(strings.ReplaceAll(other, "\n", "\r\n"))))
	if len(replies) != 1 || replies[0].MessageID == first[0].MessageID || !strings.Contains(replies[0].Text, "RT-90001") {
		t.Fatalf("a reused Message-ID with other content: %d replies, want one new reply about RT-90001", len(replies))
	}
	h.checkNoDeadLetters(ctx, t)
}
