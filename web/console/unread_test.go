package console

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rmad/rmad/rma"
)

// partnerNote writes a partner's answer on an RMA as the daemon's follow-up does (actor: the
// sender's address, once per mail).
func (e *env) partnerNote(number, from, text, mailID string) {
	e.t.Helper()
	ev := rma.Event{At: e.clock(), Actor: from, Note: text, Extra: map[string]string{"source": "mail", "message_id": mailID}}
	if _, err := e.store.AddEventOnce(e.t.Context(), number, "followup:"+mailID, ev); err != nil {
		e.t.Fatal(err)
	}
}

// Unread partner notes per staff member, in a real browser: a partner's answer shows as unread
// to each staff user (a count and a link on the worklist, the note marked on the RMA page)
// until that user opens the RMA; a colleague's count stays; staff's own notes never count; a
// later answer is unread again.
func TestBrowserUnreadPartnerNotes(t *testing.T) {
	e := newEnv(t)
	noted := e.newRMA(item{serial: "UN-1"})
	quiet := e.newRMA(item{serial: "UN-2"})
	e.advance(time.Hour)
	e.partnerNote(noted, "service@alfa.gr", "The parcel left today with DHL.", "a1@alfa.gr")
	if err := e.store.AddEvent(t.Context(), quiet, rma.Event{At: e.clock(), Actor: "staff:root", Note: "called the partner"}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)

	b := newBrowser(t)
	base := e.srv.URL
	b.signIn(base, "ann", annPassword)
	b.run("the worklist's count", chromedp.WaitVisible(`#unread-notes`, chromedp.ByQuery))
	if got := b.text(`#unread-count`); got != "1" {
		t.Fatalf("ann's unread count: %q", got)
	}
	if got := b.text(`#unread-notes ul`); !strings.Contains(got, noted) || strings.Contains(got, quiet) {
		t.Fatalf("ann's unread list: %q", got)
	}
	b.run("open it from the list", chromedp.Click(`#unread-notes a.unread-link`, chromedp.ByQuery), chromedp.WaitVisible(`table.history`, chromedp.ByQuery))
	if got := b.text(`#unread-notes`); !strings.HasPrefix(got, "1 partner note") {
		t.Fatalf("the RMA page's unread line: %q", got)
	}
	if got := b.text(`table.history tr.unread`); !strings.Contains(got, "The parcel left today with DHL.") || !strings.Contains(got, "service@alfa.gr") {
		t.Fatalf("the unread note: %q", got)
	}
	b.run("back to the worklist", chromedp.Click(`nav a[href="/console/"]`, chromedp.ByQuery), chromedp.WaitVisible(`table.worklist`, chromedp.ByQuery))
	var n int
	b.run("read once", chromedp.Evaluate(`document.querySelectorAll("#unread-notes, .unread-mark").length`, &n))
	if n != 0 {
		t.Fatalf("after opening it ann still has %d unread marks", n)
	}
	b.run("the page again", chromedp.Navigate(base+rmaLink(noted)), chromedp.WaitVisible(`table.history`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#unread-notes, tr.unread").length`, &n))
	if n != 0 {
		t.Fatalf("a second look still marks %d unread", n)
	}

	// Root has not opened it: still unread for root.
	root := e.signedIn("root", rootPassword)
	p := root.get("/console/")
	wantIn(t, p, `id="unread-count">1<`, rmaLink(noted))

	// A later answer is unread again for ann.
	e.advance(time.Hour)
	e.partnerNote(noted, "service@alfa.gr", "Tracking: 1234567890", "a2@alfa.gr")
	b.run("a new answer", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(`#unread-count`, chromedp.ByQuery))
	if got := b.text(`#unread-count`); got != "1" {
		t.Fatalf("after a new answer: %q", got)
	}
	b.run("open it from its row", chromedp.Click(`table.worklist a[href="`+rmaLink(noted)+`"]`, chromedp.ByQuery), chromedp.WaitVisible(`#unread-notes`, chromedp.ByQuery))
	if got := b.text(`table.history tr.unread`); !strings.Contains(got, "Tracking: 1234567890") || strings.Contains(got, "DHL") {
		t.Fatalf("only the new note is unread: %q", got)
	}
	b.noErrors()
}
