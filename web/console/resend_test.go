package console

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// keepReply composes the partner's reply about number as the daemon does and keeps it as the
// daemon's pipeline does (store.KeepReply with the JSON of the message).
func (e *env) keepReply(number string) outbound.Message {
	e.t.Helper()
	rec := e.record(number)
	p, _ := e.partners.ByID(rec.PartnerID)
	d := rec.Decision
	d.Number = rec.Number
	sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: rec.PartnerID, From: p.Emails[0], Subject: "RMA router", Date: e.clock(),
		Items: []rma.Item{d.Item}, Source: rec.Source}
	comp := &outbound.Composer{From: "RMA <rma@distributor.example>"}
	m, err := comp.Reply(sub, p, []rma.Decision{d}, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	if err := e.store.KeepReply(e.t.Context(), rec.PartnerID, []string{rec.Number}, m.ID, b); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// Staff re-send the partner's last reply in a real browser: the same mail (body and
// attachments byte for byte, subject, threading) reaches the partner again over SMTP through the
// outbox, under a Message-ID of its own that the thread index knows; the history says who re-sent
// it. An RMA without a kept reply says so beside the button; nothing is sent.
func TestBrowserResendLastReply(t *testing.T) {
	var out *mailOut
	e := newEnv(t, func(c *Config) {
		c.Outbox = func(ctx context.Context, m outbound.Message) error { return out.put(ctx, m) }
	})
	out = newMailOut(t, e.prefix)
	num := e.newRMA(item{partner: "P-RO-002", serial: "RS-1"})
	none := e.newRMA(item{serial: "RS-2"})
	orig := e.keepReply(num)
	e.advance(2 * 24 * time.Hour)

	b := newBrowser(t)
	base := e.srv.URL
	b.signIn(base, "ann", annPassword)
	b.expect(409, base+rmaLink(none)+"/resend")
	b.run("no reply kept", chromedp.Navigate(base+rmaLink(none)), chromedp.WaitVisible(`#resend`, chromedp.ByQuery),
		chromedp.Click(`#resend`, chromedp.ByQuery), chromedp.WaitVisible(`#resend-error`, chromedp.ByQuery))
	if got := b.text(`#resend-error`); !strings.Contains(got, "No reply is kept") {
		t.Fatalf("no reply: %q", got)
	}
	b.run("re-send", chromedp.Navigate(base+rmaLink(num)), chromedp.WaitVisible(`#resend`, chromedp.ByQuery),
		chromedp.Click(`#resend`, chromedp.ByQuery), chromedp.WaitVisible(`table.history .resent`, chromedp.ByQuery))
	if got := b.text(`table.history`); !strings.Contains(got, "Last reply re-sent") || !strings.Contains(got, "staff:ann") {
		t.Fatalf("history: %q", got)
	}
	mails := out.wait(t, 1)
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	want, err := sandbox.Mail{From: orig.From, To: orig.To, Data: orig.Raw}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == orig.ID || m.Subject != want.Subject || m.Body != want.Body || len(m.Files) != len(want.Files) || len(m.Files) == 0 ||
		m.To[0] != orig.To[0] || strings.Join(m.Refs, " ") != strings.Join(want.Refs, " ") {
		t.Fatalf("re-sent %q to %v, subject %q, %d files; the original %q to %v, subject %q, %d files", m.ID, m.To, m.Subject, len(m.Files), orig.ID, orig.To, want.Subject, len(want.Files))
	}
	for name, data := range want.Files {
		if string(m.Files[name]) != string(data) {
			t.Fatalf("attachment %s differs", name)
		}
	}
	rec := e.record(num)
	last := rec.History[len(rec.History)-1]
	if last.Actor != "staff:ann" || last.Extra[extraResent] != m.ID {
		t.Fatalf("history event: %+v", last)
	}
	if ns, err := e.store.ThreadNumbers(t.Context(), rec.PartnerID, []string{m.ID}); err != nil || len(ns) != 1 || ns[0] != num {
		t.Fatalf("thread of the resend: %v %v", ns, err)
	}
	if !strings.Contains(e.logs.String(), `"action":"resend"`) {
		t.Fatal("no audit log line")
	}
	b.noErrors()

	// A POST without the CSRF token sends nothing.
	c := e.signedIn("ann", annPassword)
	wantStatus(t, c.post(rmaLink(num)+"/resend", "csrf", "wrong"), http.StatusForbidden)
	if n := out.sink.Count(); n != 1 {
		t.Fatalf("%d mails after a forged POST", n)
	}
}
