package daemon_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
)

// A mail with blank lines, a BOM or an mbox "From " line above its header is read by the parser
// and answered; the IMAP side files it by its header block, so it must go to the processed folder
// too, not to the rejected one (Dovecot itself sees an empty header in such a mail).
func TestMailWithJunkAboveHeaderIsFiledAsProcessed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := startHarness(t)
	name := "01-gr-body-router.eml"
	raw, _ := fixtureMail(t, name)
	for i, above := range []string{"\r\n\r\n", "\xef\xbb\xbfFrom returns@example.gr Mon Nov  2 09:04:00 2026\r\n"} {
		own := bytes.Replace(raw, []byte("Message-ID: <"), []byte("Message-ID: <junk-"+strconv.Itoa(i)+"-"), 1)
		orig := readHeader(t, name, own)
		mail := append([]byte(above), own...)
		if replies := partnerReplies(t, orig, h.deliver(ctx, t, name, mail)); len(replies) != 1 {
			t.Fatalf("after %q: %d replies, want 1", above, len(replies))
		}
		if n := h.box.count(h.box.done); n != i+1 {
			t.Errorf("after %q: %d mails in the processed folder, want %d (rejected: %d)", above, n, i+1, h.box.count(h.box.rejected))
		}
	}
	if n := h.box.count(h.box.rejected); n != 0 {
		t.Errorf("%d mails in the rejected folder", n)
	}
	h.checkNoDeadLetters(ctx, t)
}
