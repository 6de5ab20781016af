package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rmad/rmad/rma"
)

// browser starts Debian's chromium (RMAD_TEST_CHROMIUM, set by scripts/test.sh) headless with a
// fresh profile, and collects everything the page logs as an error.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
	// expected are answers the test provokes on purpose (the HTTP contract's 409 for an
	// illegal move), which Chromium logs as failed loads: "<status> <url>".
	expected []string
}

func (b *browser) expect(status int, url string) {
	b.mu.Lock()
	b.expected = append(b.expected, fmt.Sprintf("%d %s", status, url))
	b.mu.Unlock()
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := os.Getenv("RMAD_TEST_CHROMIUM")
	if exe == "" {
		t.Fatal("RMAD_TEST_CHROMIUM is not set: run the tests with `make test` (scripts/test.sh installs chromium)")
	}
	// A fresh profile, removed once the browser is gone (t.TempDir would race with Chromium's
	// last writes).
	profile, err := os.MkdirTemp("", "rmad-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTimeout()
		cancel()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &browser{t: t, ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				msg = fmt.Sprintf("console.%s: %v", ev.Type, ev.Args)
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				msg = fmt.Sprintf("log %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
				b.mu.Lock()
				for _, x := range b.expected {
					status, url, _ := strings.Cut(x, " ")
					if ev.Entry.Source == cdplog.SourceNetwork && ev.Entry.URL == url && strings.Contains(ev.Entry.Text, "status of "+status) {
						msg = ""
					}
				}
				b.mu.Unlock()
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx, runtime.Enable(), cdplog.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// waitText waits until the element's text is want (a form POST is loading the next page),
// and returns the text it last saw.
func (b *browser) waitText(sel, want string) string {
	b.t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var s string
		err := chromedp.Run(b.ctx, chromedp.Evaluate(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : "" })()`, sel), &s))
		if err == nil {
			got = s
			if got == want {
				break
			}
		}
	}
	return got
}

// waitFor waits until the JavaScript expression is true (a form POST or GET is loading the
// next page, so an evaluation may fail meanwhile).
func (b *browser) waitFor(expr string) {
	b.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if chromedp.Run(b.ctx, chromedp.Evaluate(expr, &ok)) == nil && ok {
			return
		}
	}
	b.t.Fatalf("waited 10 s for %s", expr)
}

// focused returns the id of the element with the focus once it is want, or what has it after
// 5 s. autofocus is applied at the page's first rendering, a moment after its text is
// there, so one look right after a form POST can come too early on a loaded machine.
func (b *browser) focused(want string) string {
	b.t.Helper()
	var id string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b.run("focus", chromedp.Evaluate(`document.activeElement ? document.activeElement.id : ""`, &id))
		if id == want {
			break
		}
	}
	return id
}

// signIn signs in through the form.
func (b *browser) signIn(base, user, password string) {
	b.t.Helper()
	b.run("sign in as "+user,
		chromedp.Navigate(base+"/console/login"),
		chromedp.WaitVisible(`#signin`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, user, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`#signin`, chromedp.ByQuery),
		chromedp.WaitVisible(`#signout`, chromedp.ByQuery),
	)
}

// noErrors fails the test when the browser logged an error it was not told to expect.
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		b.t.Fatalf("the browser logged errors:\n%s", strings.Join(b.errs, "\n"))
	}
}

// screenshot writes docs/<name>.png when RMAD_UPDATE_SCREENSHOTS is set (the README shows them).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("RMAD_UPDATE_SCREENSHOTS") == "" {
		return
	}
	var png []byte
	b.run("screenshot", chromedp.CaptureScreenshot(&png))
	if err := os.WriteFile(filepath.Join("..", "..", "docs", name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// A service-desk morning in a real browser, by mouse and keyboard like a person: sign in,
// find an RMA by serial, receive it with a note, bulk-expire two, scan three parcels with the
// keyboard only, see an illegal move refused, explain an uploaded mail, sign out; the browser logs no error.
func TestBrowserWorkday(t *testing.T) {
	e := newEnv(t, withExplainer(t, 0))
	find := e.newRMA(item{serial: "BR-SER-0042", own: "PO-7781", description: "no power after firmware update", contents: "router, PSU"})
	bulkA := e.newRMA(item{partner: "P-RO-002", serial: "BR-B1", brand: "QNAP", model: "TS-264"})
	bulkB := e.newRMA(item{partner: "P-FR-003", serial: "BR-B2"})
	scans := []string{e.newRMA(item{serial: "BR-S1", contents: "drone, 2 batteries", brand: "DJI", model: "Mini 4 Pro"}),
		e.newRMA(item{partner: "P-EN-004", serial: "BR-S2", own: "CY-PO-3"}),
		e.newRMA(item{serial: "BR-S3"})}
	stale := e.newRMA(item{serial: "BR-STALE"})
	for i := range 6 { // a fuller worklist for the screenshot
		e.advance(26 * time.Hour)
		e.newRMA(item{partner: []string{"P-GR-001", "P-RO-002", "P-FR-003"}[i%3], serial: fmt.Sprintf("SN-%04d", 3100+i*7)})
	}
	e.advance(15 * 24 * time.Hour) // some are overdue now
	// Partners answered on two RMAs (unread in the screenshot: the count and per row).
	e.partnerNote(bulkB, "sav@telecom-pro.fr", "Le colis est parti ce matin.", "wd1@telecom-pro.fr")
	e.partnerNote(bulkB, "sav@telecom-pro.fr", "Suivi : 1Z999AA10123456784", "wd2@telecom-pro.fr")
	e.partnerNote(bulkA, "rma@nova-it.ro", "Serial corectat: BR-B1", "wd3@nova-it.ro")
	b := newBrowser(t)
	base := e.srv.URL

	b.run("sign in",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(`#signin`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, "ann", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, annPassword, chromedp.ByQuery),
		chromedp.Click(`#signin`, chromedp.ByQuery),
		chromedp.WaitVisible(`table.worklist`, chromedp.ByQuery),
	)
	if got := b.text(`header .user`); !strings.Contains(got, "Ann Agent") {
		t.Fatalf("signed in as %q", got)
	}
	if got := b.text(`#unread-filter b`); got != "2" {
		t.Fatalf("unread count in the counts bar: %q", got)
	}
	b.screenshot("console-worklist")

	b.run("find by serial",
		chromedp.SendKeys(`#q`, "br-ser-0042\r", chromedp.ByQuery),
	)
	// The worklist was there before the search: wait for the search's page.
	b.waitFor(`location.search.includes("q=br-ser-0042") && document.readyState === "complete"`)
	b.run("search page", chromedp.WaitVisible(`.shown`, chromedp.ByQuery))
	if got := b.text(`table.worklist tbody`); !strings.Contains(got, find) || strings.Contains(got, bulkA) {
		t.Fatalf("search result: %q", got)
	}
	b.run("open the RMA",
		chromedp.Click(`table.worklist tbody a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#to-received`, chromedp.ByQuery),
		chromedp.SendKeys(`#note`, "parcel arrived complete", chromedp.ByQuery),
	)
	b.screenshot("console-rma")
	b.run("move to received", chromedp.Click(`#to-received`, chromedp.ByQuery), chromedp.WaitVisible(`#to-diagnosing`, chromedp.ByQuery))
	if got := b.text(`#status`); got != "Received" {
		t.Fatalf("status shown: %q", got)
	}
	if got := b.text(`table.history`); !strings.Contains(got, "parcel arrived complete") || !strings.Contains(got, "staff:ann") {
		t.Fatalf("history: %q", got)
	}
	if r := e.record(find); r.Status != rma.StatusReceived || r.History[len(r.History)-1].Note != "parcel arrived complete" {
		t.Fatalf("stored: %s %+v", r.Status, r.History)
	}

	b.run("bulk-move two",
		chromedp.Navigate(base+"/console/?status=awaiting_goods"),
		chromedp.WaitVisible(`table.worklist`, chromedp.ByQuery),
		chromedp.Click(`input[name="rma"][value="`+bulkA+`"]`, chromedp.ByQuery),
		chromedp.Click(`input[name="rma"][value="`+bulkB+`"]`, chromedp.ByQuery),
		chromedp.SetValue(`#bulk-status`, string(rma.StatusExpired), chromedp.ByQuery),
		chromedp.SendKeys(`#bulk-note`, "no parcel after 30 days", chromedp.ByQuery),
		chromedp.Click(`#bulk-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`.bulk-results`, chromedp.ByQuery),
	)
	if got := b.text(`.bulk-results`); strings.Count(got, "✓") != 2 || !strings.Contains(got, bulkA) || !strings.Contains(got, bulkB) {
		t.Fatalf("bulk results: %q", got)
	}
	for _, n := range []string{bulkA, bulkB} {
		if r := e.record(n); r.Status != rma.StatusExpired {
			t.Fatalf("%s: %s", n, r.Status)
		}
	}

	// Goods receipt: the input has the focus; a scanner types the code and Enter.
	b.run("receive page", chromedp.Navigate(base+"/console/receive"), chromedp.WaitVisible(`#code`, chromedp.ByQuery))
	codes := []string{scans[0], "CY-PO-3", "br-s3"}
	for i, code := range codes {
		if f := b.focused("code"); f != "code" {
			t.Fatalf("scan %d: the focus is on %q, not the code input", i+1, f)
		}
		want := "✓ " + scans[i] + " received."
		b.run("scan "+code, chromedp.KeyEvent(code+"\r"))
		if got := b.waitText("#result-line", want); got != want {
			t.Fatalf("scan %d (%s): the page says %q, want %q", i+1, code, got, want)
		}
		if i == 0 {
			b.screenshot("console-receive")
		}
	}
	for _, n := range scans {
		if r := e.record(n); r.Status != rma.StatusReceived || r.History[len(r.History)-1].Actor != "staff:ann" {
			t.Fatalf("%s: %s", n, r.Status)
		}
	}

	// An illegal move: the page was opened, then a colleague received the parcel; "Expired"
	// is no longer a legal move and is refused with the reason.
	b.run("open a page", chromedp.Navigate(base+rmaLink(stale)), chromedp.WaitVisible(`#to-expired`, chromedp.ByQuery))
	if _, err := e.store.SetStatus(t.Context(), stale, rma.StatusReceived, "staff:bob", "", nil, e.clock()); err != nil {
		t.Fatal(err)
	}
	b.expect(409, base+rmaLink(stale)+"/status")
	b.run("illegal move", chromedp.Click(`#to-expired`, chromedp.ByQuery), chromedp.WaitVisible(`#refused`, chromedp.ByQuery))
	if got := b.text(`#refused`); !strings.Contains(got, "Refused") || !strings.Contains(got, "Expired") {
		t.Fatalf("refusal: %q", got)
	}
	if r := e.record(stale); r.Status != rma.StatusReceived {
		t.Fatalf("illegal move applied: %s", r.Status)
	}

	// Explain: choose a saved mail in the file dialog, upload it, read the decision.
	eml, err := filepath.Abs("../../testdata/mails/05-en-grandstream-ticket.eml")
	if err != nil {
		t.Fatal(err)
	}
	b.run("explain a mail",
		chromedp.Click(`nav a[href="/console/explain"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#mail`, chromedp.ByQuery),
		chromedp.SetUploadFiles(`#mail`, []string{eml}, chromedp.ByQuery),
		chromedp.Click(`#explain-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#explained`, chromedp.ByQuery),
	)
	if got := b.text(`#explain-text`); !strings.Contains(got, "05-en-grandstream-ticket.eml") || !strings.Contains(got, "kind:       submission") {
		t.Fatalf("explained: %q", got)
	}
	b.screenshot("console-explain")

	b.run("sign out", chromedp.Click(`#signout`, chromedp.ByQuery), chromedp.WaitVisible(`#signin`, chromedp.ByQuery))
	var loc string
	b.run("after sign-out", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(`#signin`, chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/console/login") {
		t.Fatalf("after sign-out /console/ shows %s", loc)
	}

	b.noErrors()
}
