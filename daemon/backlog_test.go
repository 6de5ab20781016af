package daemon_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/queue"
)

// With limits.inbox_backlog reached the watcher stops fetching and the mail waits in IMAP
// (Dovecot, real Redis): here the SMTP relay refuses everything, so the replies pile up in the
// outbox and hold the intake. The inbox stream never holds more than the limit; once the relay
// is back everything drains, the watcher resumes by itself, every mail is answered once, and a
// mail appended afterwards still comes in through IDLE (polling is an hour).
func TestBacklogLimitKeepsMailInIMAP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, harnessOptions{poll: time.Hour})
	const total, limit = 14, 3
	h.cfg.Limits.InboxBacklog = limit
	h.sink.SetFailure(true)

	fixture, orig := fixtureMail(t, "01-gr-body-router.eml")
	ids := make([]string, total+1)
	mailNo := func(i int) []byte {
		ids[i] = fmt.Sprintf("backlog-%d-%s", i, orig.MessageID)
		return []byte(strings.Replace(string(fixture), "<"+orig.MessageID+">", "<"+ids[i]+">", 1))
	}
	for i := range total {
		h.box.append(t, mailNo(i))
	}
	answered := func(n int) bool { // the first n mails have a reply each
		sent := h.sink.Mails()
		for _, id := range ids[:n] {
			if len(partnerReplies(t, mailHeader{MessageID: id, From: orig.From}, sent)) == 0 {
				return false
			}
		}
		return true
	}
	h.start(t)

	var inboxMax int64
	testenv.Eventually(t, waitLong, "what was fetched is decided, its replies held, the intake paused", func() bool {
		inboxMax = max(inboxMax, h.depth(ctx, t, queue.Inbox))
		return h.depth(ctx, t, queue.Inbox) == 0 && h.depth(ctx, t, queue.Outbox) > 0 && healthz(t, h, "paused")
	})
	// Fetching resumes only once the outbox (an entry per mail) is down to limit/2: a few mails came in, the rest waits in IMAP.
	if n := h.box.count(h.box.in); n < total-2*limit {
		t.Errorf("INBOX holds %d of %d mails while paused, want at least %d", n, total, total-2*limit)
	}

	h.sink.SetFailure(false)
	testenv.Eventually(t, waitLong, "every mail taken in and answered", func() bool {
		inboxMax = max(inboxMax, h.depth(ctx, t, queue.Inbox))
		p, err := h.d.Pending(ctx)
		return err == nil && p == 0 && h.box.count(h.box.in) == 0 && answered(total)
	})
	if inboxMax > limit {
		t.Errorf("the inbox stream held %d entries, limit %d", inboxMax, limit)
	}
	testenv.Eventually(t, waitLong, "not paused any more", func() bool { return !healthz(t, h, "paused") })

	h.box.append(t, mailNo(total))
	testenv.Eventually(t, waitLong, "the mail after the backlog answered", func() bool {
		p, err := h.d.Pending(ctx)
		return err == nil && p == 0 && h.box.count(h.box.in) == 0 && answered(total+1)
	})
	sent := h.sink.Mails()
	for i, id := range ids {
		if n := len(partnerReplies(t, mailHeader{MessageID: id, From: orig.From}, sent)); n != 1 {
			t.Errorf("mail %d (%s): %d replies, want 1", i, id, n)
		}
	}
	checkSentOnce(t, sent)
	h.checkNoDeadLetters(ctx, t)
}

// healthz reports whether GET /healthz's body holds word.
func healthz(t testing.TB, h *harness, word string) bool {
	t.Helper()
	w := httptest.NewRecorder()
	h.d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	return strings.Contains(w.Body.String(), word)
}
