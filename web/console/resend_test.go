package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// composer is the daemon's composer as the tests' daemon would have it.
func (e *env) composer() *outbound.Composer {
	return &outbound.Composer{From: "RMA <rma@distributor.example>", Centers: e.cfg.ServiceCenters}
}

// partnerMail is a partner's mail about number, for the answers the tests compose.
func (e *env) partnerMail(number, subject string) (rma.Submission, rma.Partner) {
	rec := e.record(number)
	p, _ := e.partners.ByID(rec.PartnerID)
	d := rec.Decision
	return rma.Submission{Kind: rma.KindSubmission, PartnerID: rec.PartnerID, From: p.Emails[0], Subject: subject, Date: e.clock(),
		Items: []rma.Item{d.Item}, Source: rec.Source}, p
}

// keepReply composes the partner's reply about number as the daemon does and keeps it as the
// daemon's pipeline does (Composer.KeepSent).
func (e *env) keepReply(number string) outbound.Message {
	e.t.Helper()
	sub, p := e.partnerMail(number, "RMA router")
	rec := e.record(number)
	d := rec.Decision
	d.Number = rec.Number
	m, err := e.composer().Reply(sub, p, []rma.Decision{d}, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.composer().KeepSent(e.t.Context(), e.store, rec.PartnerID, []string{rec.Number}, m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// keepFollowUpAnswer composes and keeps the answer to a partner's follow-up about number.
func (e *env) keepFollowUpAnswer(number string) outbound.Message {
	e.t.Helper()
	sub, p := e.partnerMail(number, "Tracking for the router")
	sub.Source.MessageID = "fu-" + sub.Source.MessageID
	m, err := e.composer().FollowUpAnswer(sub, p, []string{number}, outbound.FollowUpNews{Acknowledge: true}, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.composer().KeepSent(e.t.Context(), e.store, p.ID, []string{number}, m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// sameMail fails unless m (as the SMTP sink got it) is orig again: subject, body, threading and
// attachments byte for byte, except the parcel labels, which are rendered again: their
// barcodes must read the same RMA numbers.
func sameMail(t *testing.T, m sandbox.Read, orig outbound.Message) {
	t.Helper()
	want, err := sandbox.Mail{From: orig.From, To: orig.To, Data: orig.Raw}.Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == orig.ID || m.Subject != want.Subject || m.Body != want.Body || len(m.Files) != len(want.Files) ||
		m.To[0] != orig.To[0] || strings.Join(m.Refs, " ") != strings.Join(want.Refs, " ") {
		t.Fatalf("re-sent %q to %v, subject %q, %d files; the original %q to %v, subject %q, %d files", m.ID, m.To, m.Subject, len(m.Files), orig.ID, orig.To, want.Subject, len(want.Files))
	}
	for name, data := range want.Files {
		if name == label.Filename {
			if got, want := codes128(t, m.Files[name]), codes128(t, data); !slices.Equal(got, want) || len(got) == 0 {
				t.Fatalf("labels re-sent for %v, sent first for %v", got, want)
			}
			continue
		}
		if string(m.Files[name]) != string(data) {
			t.Fatalf("attachment %s differs", name)
		}
	}
}

func codes128(t *testing.T, pdf []byte) []string {
	var out []string
	for _, b := range testenv.Barcodes(t, pdf) {
		if b.Type == "CODE-128" {
			out = append(out, b.Data)
		}
	}
	return out
}

// Staff re-send a partner mail in a real browser: the RMA page lists the RMA's kept partner
// mails newest first (kind, subject, date); "re-send the newest" sends the newest (here the
// answer to a follow-up, not the reply before it), "re-send this one" the one on its row (the
// reply, its parcel labels rendered again from the record): each the same mail (body and the
// other attachments byte for byte, subject, threading) over SMTP through the outbox, under a
// Message-ID of its own that the thread index knows; the history says who re-sent which. An RMA
// without a kept mail says so, and a POST naming a mail not kept for it is refused; nothing is sent.
func TestBrowserResendPartnerMail(t *testing.T) {
	var out *mailOut
	e := newEnv(t, func(c *Config) {
		c.Outbox = func(ctx context.Context, m outbound.Message) error { return out.put(ctx, m) }
	})
	out = newMailOut(t, e.prefix)
	num := e.newRMA(item{partner: "P-RO-002", serial: "RS-1"})
	none := e.newRMA(item{serial: "RS-2"})
	reply := e.keepReply(num)
	e.advance(2 * 24 * time.Hour)
	answer := e.keepFollowUpAnswer(num)
	e.advance(time.Hour)

	b := newBrowser(t)
	base := e.srv.URL
	b.signIn(base, "ann", annPassword)
	b.run("no mail kept", chromedp.Navigate(base+rmaLink(none)), chromedp.WaitVisible(`#resend-none`, chromedp.ByQuery))
	if got := b.text(`#resend-none`); !strings.Contains(got, "No partner mail is kept") {
		t.Fatalf("no mail: %q", got)
	}
	b.run("the kept mails", chromedp.Navigate(base+rmaLink(num)), chromedp.WaitVisible(`#resend`, chromedp.ByQuery))
	var rows []string
	b.run("rows", chromedp.Evaluate(`[...document.querySelectorAll("table.kept-mails tbody tr")].map(r => r.dataset.messageId + " | " + r.innerText)`, &rows))
	if len(rows) != 2 || !strings.HasPrefix(rows[0], answer.ID+" | Answer to a follow-up") || !strings.HasPrefix(rows[1], reply.ID+" | Reply to the request") ||
		!strings.Contains(rows[0], "Re: Tracking for the router") || !strings.Contains(rows[1], "Re: RMA router") {
		t.Fatalf("kept mails shown: %q", rows)
	}
	if got := b.text(`table.kept-mails tr.newest .date`); got != e.clock().Add(-time.Hour).In(e.cfg.Location).Format("2006-01-02 15:04") {
		t.Fatalf("the newest's date: %q", got)
	}
	b.run("re-send the newest", chromedp.Click(`#resend`, chromedp.ByQuery), chromedp.WaitVisible(`table.history .resent`, chromedp.ByQuery))
	if got := b.text(`table.history`); !strings.Contains(got, "Mail re-sent") || !strings.Contains(got, "staff:ann") {
		t.Fatalf("history: %q", got)
	}
	mails := out.wait(t, 1)
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	sameMail(t, mails[0], answer)
	rec := e.record(num)
	last := rec.History[len(rec.History)-1]
	if last.Actor != "staff:ann" || last.Extra[extraResent] != mails[0].ID || last.Extra["message_id"] != answer.ID || last.Extra["kind"] != "followup" {
		t.Fatalf("history event: %+v", last)
	}
	if ns, err := e.store.ThreadNumbers(t.Context(), rec.PartnerID, []string{mails[0].ID}); err != nil || len(ns) != 1 || ns[0] != num {
		t.Fatalf("thread of the resend: %v %v", ns, err)
	}

	b.run("re-send the reply", chromedp.Click(`tr[data-message-id="`+reply.ID+`"] button`, chromedp.ByQuery))
	mails = out.wait(t, 2)
	var again sandbox.Read
	for _, m := range mails {
		if local, _, _ := strings.Cut(reply.ID, "@"); strings.HasPrefix(m.ID, local+".") {
			again = m
		}
	}
	sameMail(t, again, reply)
	if !strings.Contains(e.logs.String(), `"action":"resend"`) || !strings.Contains(e.logs.String(), `"kind":"reply"`) {
		t.Fatal("no audit log line")
	}
	b.noErrors()

	// A mail not kept for this RMA (another's, made up) is refused; a forged POST sends nothing.
	c := e.signedIn("ann", annPassword)
	p := c.post(rmaLink(none)+"/resend", "mail", answer.ID)
	wantStatus(t, p, http.StatusConflict)
	wantIn(t, p, "No partner mail is kept")
	wantStatus(t, c.post(rmaLink(num)+"/resend", "mail", "made-up@distributor.example"), http.StatusConflict)
	wantStatus(t, c.post(rmaLink(num)+"/resend", "csrf", "wrong"), http.StatusForbidden)
	if n := out.sink.Count(); n != 2 {
		t.Fatalf("%d mails after refused POSTs", n)
	}
}

// What a kept partner mail costs in Redis (MEMORY USAGE of its copy and of its RMAs' lists),
// against the whole mail as JSON (what rmad kept before: the labels' PDF in base64 twice over).
// The figures go in the README's "Redis memory per RMA"; the test holds the kept reply of one
// item (deflated with the dictionary of Greek sample mails) within 1 KB and at most a
// twentieth of the whole mail.
func TestKeptMailMemory(t *testing.T) {
	e := newEnv(t)
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := t.Context()
	p, _ := e.partners.ByID("P-GR-001")
	for _, n := range []int{1, 10, 100} {
		prefix := e.prefix + fmt.Sprintf("mem%d:", n)
		st := store.New(rc, prefix)
		var ds []rma.Decision
		var numbers []string
		for i := 1; i <= n; i++ {
			num := fmt.Sprintf("RMA/%d/SR/2026", 1000+i)
			ri := rma.Item{Line: i, EAN: "5204001000013", Serial: fmt.Sprintf("SN-%06d", i), PurchaseDate: "2026-02-10", Description: "no power after a firmware update"}
			ds = append(ds, rma.Decision{Line: i, Item: ri, Result: rma.ResultAccepted, Number: num, Route: rma.Route{Handling: rma.HandlingInHouse},
				Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: time.Date(2029, 2, 10, 0, 0, 0, 0, time.UTC)},
				Product:  &rma.Product{EAN: ri.EAN, Brand: "TP-Link", Model: "Archer AX55"}, ClaimType: "defective", Quantity: 1})
			numbers = append(numbers, num)
		}
		sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: p.ID, From: p.Emails[0], Subject: "RMA routers", Date: e.clock(),
			Source: rma.Source{Channel: "mail", MessageID: fmt.Sprintf("mem-%d@alfa.gr", n)}}
		for _, d := range ds {
			sub.Items = append(sub.Items, d.Item)
		}
		reply, err := e.composer().Reply(sub, p, ds, e.clock())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.composer().KeepSent(ctx, st, p.ID, numbers, reply); err != nil {
			t.Fatal(err)
		}
		usage, err := store.MemoryUsage(ctx, rc, prefix)
		if err != nil {
			t.Fatal(err)
		}
		var kept, lists int64
		for _, u := range usage {
			switch u.Kind {
			case "mail":
				kept += u.Bytes
			case "mails":
				lists += u.Bytes
			}
		}
		whole, _ := json.Marshal(reply)
		oldKey := prefix + "old"
		rc.Set(ctx, oldKey, whole, time.Hour)
		before := rc.MemoryUsage(ctx, oldKey).Val()
		t.Logf("%d items: mail %d B (labels PDF %d B in it): kept copy %d B + RMA lists %d B = %d B, %d B per RMA; the whole mail as JSON %d B",
			n, len(reply.Raw), len(pdfOf(t, reply)), kept, lists, kept+lists, (kept+lists)/int64(n), before)
		if n == 1 && (kept+lists > 1024 || (kept+lists)*20 > before) {
			t.Errorf("one item: a kept reply costs %d B (the whole mail %d B)", kept+lists, before)
		}
	}
}

func pdfOf(t *testing.T, m outbound.Message) []byte {
	t.Helper()
	r, err := sandbox.Mail{From: m.From, To: m.To, Data: m.Raw}.Read()
	if err != nil {
		t.Fatal(err)
	}
	return r.Files[label.Filename]
}
