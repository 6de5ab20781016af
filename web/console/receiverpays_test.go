package console

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// Staff answer a receiver-pays request on the RMA page: the answer is recorded in the history and
// an approval shows on the parcel label (in the partner's language, read back with pdftotext);
// a later refusal takes it off again.
func TestBrowserReceiverPays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	num := e.newRMA(item{serial: "RP-1"})
	labelText := func() string {
		t.Helper()
		p := e.signedIn("ann", annPassword).get(rmaLink(num) + "/label.pdf")
		wantStatus(t, p, 200)
		return strings.Join(strings.Fields(strings.Join(testenv.PDFText(t, []byte(p.body)), " ")), " ")
	}
	const approvedEL = "Χρέωση παραλήπτη: εγκρίθηκε" // the label of a Greek partner
	if text := labelText(); strings.Contains(text, approvedEL) {
		t.Fatalf("approved before anyone answered:\n%s", text)
	}

	b := newBrowser(t)
	b.run("sign in",
		chromedp.Navigate(e.srv.URL+"/console/login"),
		chromedp.WaitVisible(`#signin`, chromedp.ByQuery),
		chromedp.SendKeys(`#username`, "ann", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, annPassword, chromedp.ByQuery),
		chromedp.Click(`#signin`, chromedp.ByQuery),
		chromedp.WaitVisible(`table.worklist`, chromedp.ByQuery),
	)
	b.run("open the RMA", chromedp.Navigate(e.srv.URL+rmaLink(num)), chromedp.WaitVisible(`#rp-approve`, chromedp.ByQuery))
	if got := b.text(`#receiver-pays`); got != "not requested" {
		t.Fatalf("before: %q", got)
	}
	b.run("approve", chromedp.Click(`#rp-approve`, chromedp.ByQuery))
	if got := b.waitText(`#receiver-pays`, "approved"); got != "approved" {
		t.Fatalf("after approving the page says %q", got)
	}
	if got := b.text(`table.history`); !strings.Contains(got, "Receiver pays: approved") || !strings.Contains(got, "staff:ann") {
		t.Fatalf("history: %q", got)
	}
	r := e.record(num)
	if ev := r.History[len(r.History)-1]; ev.Extra[rma.ExtraReceiverPays] != rma.ReceiverPaysApproved || ev.Actor != "staff:ann" || ev.Status != r.Status {
		t.Fatalf("stored event %+v", ev)
	}
	if text := labelText(); !strings.Contains(text, approvedEL) {
		t.Errorf("approval not on the label:\n%s", text)
	}

	b.run("refuse", chromedp.Click(`#rp-refuse`, chromedp.ByQuery))
	if got := b.waitText(`#receiver-pays`, "refused"); got != "refused" {
		t.Fatalf("after refusing the page says %q", got)
	}
	if text := labelText(); strings.Contains(text, approvedEL) {
		t.Errorf("refused, still on the label:\n%s", text)
	}
	// A forged answer is refused beside the form.
	p := e.signedIn("ann", annPassword).post(rmaLink(num)+"/receiver-pays", "answer", "maybe")
	wantStatus(t, p, 422)
	wantIn(t, p, "Choose approve or refuse.")
}
