package console

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// withEstimates gives the console the estimate service, its mails going out through out.
func withEstimates(t testing.TB, out **mailOut) envOption {
	return func(c *Config) {
		svc, err := estimate.New(estimate.Config{
			Store: c.Store, Partner: c.Partner, Key: []byte("a console test key of 32 bytes!!"), BaseURL: "https://rma.example.com",
			Composer: &outbound.Composer{From: "RMA <rma@distributor.example>"}, Now: c.Now,
			Put: func(ctx context.Context, m outbound.Message) error { return (*out).put(ctx, m) },
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Estimates = svc
	}
}

// Staff fill in a repair estimate in a real browser, one field wrong first: the message is
// beside the field and nothing goes out; corrected, the partner's mail leaves over SMTP (the
// outbox stream, a go-smtp sink) in the partner's language with the amounts, and the RMA
// page shows estimate_sent with the pending estimate.
func TestBrowserEstimate(t *testing.T) {
	var out *mailOut
	e := newEnv(t, withEstimates(t, &out))
	out = newMailOut(t, e.prefix)
	num := e.newRMA(item{partner: "P-GR-001", serial: "BR-EST-1", own: "PO-EST"})
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusDiagnosing} {
		if _, err := e.store.SetStatus(t.Context(), num, st, "staff:ann", "", nil, e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t)
	base := e.srv.URL
	b.signIn(base, "ann", annPassword)
	b.run("open the RMA", chromedp.Navigate(base+rmaLink(num)), chromedp.WaitVisible(`#estimate-form`, chromedp.ByQuery))
	b.expect(422, base+rmaLink(num)+"/estimate")
	b.run("a wrong amount",
		chromedp.SendKeys(`#est-parts`, "80,50", chromedp.ByQuery),
		chromedp.SendKeys(`#est-labour`, "45.5.0", chromedp.ByQuery),
		chromedp.SendKeys(`#est-shipping`, "9", chromedp.ByQuery),
		chromedp.SendKeys(`#est-note`, "new fan and battery", chromedp.ByQuery),
		chromedp.Click(`#send-estimate`, chromedp.ByQuery),
		chromedp.WaitVisible(`#est-labour-error`, chromedp.ByQuery),
	)
	if got := b.text(`#est-labour-error`); !strings.Contains(got, "two decimals") && !strings.Contains(got, "amount") {
		t.Fatalf("labour's message: %q", got)
	}
	if r := e.record(num); r.Status != rma.StatusDiagnosing || out.sink.Count() != 0 {
		t.Fatalf("a wrong field sent something: %s, %d mails", r.Status, out.sink.Count())
	}
	var parts string
	b.run("the other fields are kept", chromedp.Value(`#est-parts`, &parts, chromedp.ByQuery))
	if parts != "80,50" {
		t.Fatalf("parts after the error: %q", parts)
	}
	b.run("correct it and send",
		chromedp.Clear(`#est-labour`, chromedp.ByQuery),
		chromedp.SendKeys(`#est-labour`, "45.50", chromedp.ByQuery),
		chromedp.Click(`#send-estimate`, chromedp.ByQuery),
		chromedp.WaitVisible(`#estimate-pending`, chromedp.ByQuery),
	)
	if got := b.text(`#status`); got != i18n.StatusName("en", rma.StatusEstimateSent) {
		t.Fatalf("status shown: %q", got)
	}
	if got := b.text(`#estimate-pending`); !strings.Contains(got, "135.00 EUR") {
		t.Fatalf("pending estimate: %q", got)
	}
	if got := b.text(`table.history`); !strings.Contains(got, "staff:ann") {
		t.Fatalf("history: %q", got)
	}
	mails := out.wait(t, 1)
	m := mails[0]
	if len(m.To) != 1 || m.Lang != "el" || !strings.Contains(m.Subject, num) || !strings.Contains(m.Body, "135.00") ||
		!strings.Contains(m.Body, "new fan and battery") || !strings.Contains(m.Body, "https://rma.example.com/estimate/") {
		t.Fatalf("the partner's mail: to %v, lang %q, subject %q\n%s", m.To, m.Lang, m.Subject, m.Body)
	}
	if r := e.record(num); r.Status != rma.StatusEstimateSent {
		t.Fatalf("stored status %s", r.Status)
	}
	b.noErrors()
}
