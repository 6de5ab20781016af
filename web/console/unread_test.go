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

	// "Unread only": the counts bar's link, then the filter's checkbox, by mouse.
	e.advance(time.Minute)
	e.partnerNote(quiet, "service@alfa.gr", "Two more units to return.", "a3@alfa.gr")
	b.run("the worklist", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(`#unread-filter`, chromedp.ByQuery))
	if got := b.text(`#unread-filter b`); got != "1" {
		t.Fatalf("unread count in the counts bar: %q", got)
	}
	b.run("unread only", chromedp.Click(`#unread-filter`, chromedp.ByQuery))
	b.waitFor(`location.search.includes("unread=1") && document.readyState === "complete"`)
	if got := b.text(`table.worklist tbody`); !strings.Contains(got, quiet) || strings.Contains(got, noted) {
		t.Fatalf("unread only: %q", got)
	}
	if got := b.text(`table.worklist tbody .unread-n`); got != "1" {
		t.Fatalf("the row's unread count: %q", got)
	}
	var checked bool
	b.run("the filter's box", chromedp.Evaluate(`document.querySelector("#unread-only").checked`, &checked))
	if !checked {
		t.Fatal("the unread-only box is not ticked on the filtered page")
	}
	b.run("untick it", chromedp.Click(`#unread-only`, chromedp.ByQuery), chromedp.Click(`#apply`, chromedp.ByQuery))
	b.waitFor(`!location.search.includes("unread=1") && document.readyState === "complete"`)
	if got := b.text(`table.worklist tbody`); !strings.Contains(got, quiet) || !strings.Contains(got, noted) {
		t.Fatalf("all again: %q", got)
	}
	b.noErrors()
}

// The worklist's "unread only" filter (handler): only the RMAs with partner notes this staff
// member has not opened, with the other filters applied, the count in the counts bar and per
// row the number of unread notes; opening one takes it off that user's list, not a colleague's.
func TestWorklistUnreadOnly(t *testing.T) {
	e := newEnv(t)
	two := e.newRMA(item{serial: "UO-TWO"})
	e.advance(time.Minute)
	one := e.newRMA(item{serial: "UO-ONE", partner: "P-RO-002"})
	quiet := e.newRMA(item{serial: "UO-QUIET"})
	e.advance(time.Hour)
	e.partnerNote(two, "service@alfa.gr", "first answer", "u1@alfa.gr")
	e.advance(time.Minute)
	e.partnerNote(two, "service@alfa.gr", "second answer", "u2@alfa.gr")
	e.partnerNote(one, "rma@beta.ro", "one answer", "u3@beta.ro")
	if err := e.store.AddEvent(t.Context(), quiet, rma.Event{At: e.clock(), Actor: "staff:root", Note: "staff's own note"}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)

	ann := e.signedIn("ann", annPassword)
	p := ann.get("/console/")
	wantIn(t, p, `id="unread-filter"`, `href="/console/?unread=1"`, "Unread <b>2</b>")
	p = ann.get("/console/?unread=1")
	if p.status != 200 {
		t.Fatalf("unread only: %d", p.status)
	}
	wantIn(t, p, "UO-TWO", "UO-ONE", `name="unread" value="1" id="unread-only" checked`, "1–2 of 2")
	wantNotIn(t, p, "UO-QUIET")
	if !strings.Contains(p.body, `<b class="unread-n">2</b>`) || !strings.Contains(p.body, `<b class="unread-n">1</b>`) {
		t.Errorf("per-row unread counts missing:\n%s", p.body)
	}
	// Combined with the other filters and with a search.
	p = ann.get("/console/?unread=1&partner=P-RO-002")
	wantIn(t, p, "UO-ONE")
	wantNotIn(t, p, "UO-TWO", "UO-QUIET")
	p = ann.get("/console/?unread=1&status=received")
	wantNotIn(t, p, "UO-TWO", "UO-ONE")
	p = ann.get("/console/?unread=1&q=UO-QUIET")
	wantNotIn(t, p, `href="`+rmaLink(quiet)+`"`)
	p = ann.get("/console/?unread=1&q=UO-TWO")
	wantIn(t, p, `href="`+rmaLink(two)+`"`)

	// Opened by ann: off ann's list, still on root's.
	ann.get(rmaLink(two))
	p = ann.get("/console/?unread=1")
	wantIn(t, p, "UO-ONE", "Unread <b>1</b>")
	wantNotIn(t, p, "UO-TWO")
	root := e.signedIn("root", rootPassword)
	p = root.get("/console/?unread=1")
	wantIn(t, p, "UO-TWO", "UO-ONE", "Unread <b>2</b>")

	// A newer note after ann's look counts alone.
	e.advance(time.Minute)
	e.partnerNote(two, "service@alfa.gr", "third answer", "u4@alfa.gr")
	p = ann.get("/console/?unread=1&sort=newest")
	wantIn(t, p, "UO-TWO", "UO-ONE")
	if i, j := strings.Index(p.body, "UO-TWO"), strings.Index(p.body, "UO-ONE"); i < 0 || j < 0 || i < j {
		t.Errorf("sort=newest: the RMA in its status longest is not last (%d, %d)", i, j)
	}
	p = ann.get("/console/?unread=1")
	if i, j := strings.Index(p.body, "UO-TWO"), strings.Index(p.body, "UO-ONE"); i < 0 || j < 0 || i > j {
		t.Errorf("longest in status first: (%d, %d)", i, j)
	}
	table := p.body[strings.Index(p.body, `<table class="worklist">`):]
	row := table[strings.Index(table, `href="`+rmaLink(two)+`"`):]
	row = row[:strings.Index(row, "</td>")]
	if !strings.Contains(row, `<b class="unread-n">1</b>`) {
		t.Errorf("after ann's look only the new note is unread: %s", row)
	}
}
