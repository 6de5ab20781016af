package daemon_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/daemon/sandbox"
	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/schedule"
	"github.com/rmad/rmad/store"
)

const estPartner = "service@alfa-computers.gr"

// routerMail is a Greek body-form submission of one router with serial, with its invoice.
func routerMail(id, serial, own string) []byte {
	body := "Καλημέρα σας,\n\nΚωδικός EAN: 5204001000013\nΣειριακός αριθμός: " + serial +
		"\nΗμερομηνία αγοράς: 2026-02-10\nΠεριγραφή προβλήματος: Το router κάνει επανεκκίνηση κάθε λίγα λεπτά.\n" +
		"Αριθμός αίτησης: " + own + "\n\nΕυχαριστώ\n"
	var b strings.Builder
	fmt.Fprintf(&b, "From: Alfa Computers <%s>\r\nTo: RMA Service <rma@distributor.example>\r\nSubject: RMA %s\r\n", estPartner, own)
	fmt.Fprintf(&b, "Date: Mon, 02 Nov 2026 09:01:00 +0000\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n", id)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte(body)) + "\r\n--b1\r\n")
	b.WriteString("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n")
	b.WriteString(base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")) + "\r\n--b1--\r\n")
	return []byte(b.String())
}

// estEnv is a running daemon with a settable clock, the estimate service `rmad estimate`
// uses, and the reminder job `rmad run-job reminders` runs.
type estEnv struct {
	h     *harness
	st    *store.Store
	svc   *estimate.Service
	sched *schedule.Schedule
}

func newEstEnv(t *testing.T) *estEnv {
	t.Helper()
	clock := testenv.NewClock(fixturesDay)
	h := newHarness(t, harnessOptions{clock: clock})
	h.start(t)
	e := &estEnv{h: h, st: h.st}
	log := config.NewLogger(h.cfg.Log, h.logs)
	svc, closeOutbox, err := daemon.OpenEstimates(context.Background(), h.cfg, h.rdb, clock.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeOutbox)
	e.svc = svc
	data, err := rules.LoadData(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ob := daemon.NewOutbox(h.rdb, h.cfg, log)
	t.Cleanup(ob.Close)
	if e.sched, err = schedule.New(schedule.Config{Store: e.st, Partner: data.Partners.ByID, Composer: outbound.NewComposer(h.cfg),
		Policy: h.cfg.Policy, Schedule: h.cfg.Schedule, Outbox: ob, Now: clock.Now, Log: log}); err != nil {
		t.Fatal(err)
	}
	return e
}

// sent waits until the queues are empty and returns the mails sent since before.
func (e *estEnv) sent(ctx context.Context, t *testing.T, what string, before int) []sandbox.Mail {
	t.Helper()
	testenv.Eventually(t, waitLong, what, func() bool {
		p, err := e.h.d.Pending(ctx)
		return err == nil && p == 0
	})
	return e.h.sink.Mails()[before:]
}

// open submits a router and moves its RMA to diagnosing, as the service desk does.
func (e *estEnv) open(ctx context.Context, t *testing.T, id, serial, own string) (string, sentMail) {
	t.Helper()
	toPartner, _ := sentTo(t, e.h.deliver(ctx, t, "submission "+own, routerMail(id, serial, own)), estPartner)
	if len(toPartner) != 1 {
		t.Fatalf("submission %s: %d replies", own, len(toPartner))
	}
	nums := ingest.SubjectNumbers(toPartner[0].Subject)
	if len(nums) != 1 {
		t.Fatalf("submission %s: reply %q names no single RMA:\n%s", own, toPartner[0].Subject, toPartner[0].Text)
	}
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusDiagnosing} {
		if _, err := e.st.SetStatus(ctx, nums[0], st, "staff:test", "", nil, e.h.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return nums[0], toPartner[0]
}

// send sends an estimate and returns the partner's mail.
func (e *estEnv) send(ctx context.Context, t *testing.T, number string) sentMail {
	t.Helper()
	before := len(e.h.sink.Mails())
	sent, err := e.svc.Send(ctx, number, estimate.Offer{Parts: 8000, Labour: 4550, Shipping: 900, Note: "Φουσκωμένη μπαταρία"}, "cli:test")
	if err != nil {
		t.Fatalf("estimate %s: %v", number, err)
	}
	toPartner, _ := sentTo(t, e.sent(ctx, t, "estimate "+number, before), estPartner)
	if len(toPartner) != 1 || toPartner[0].MessageID != sent.Mail.ID {
		t.Fatalf("estimate %s: %d mails to the partner, want its one", number, len(toPartner))
	}
	return toPartner[0]
}

func (e *estEnv) status(ctx context.Context, t *testing.T, number string) rma.Record {
	t.Helper()
	r, err := e.st.Get(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var linkRe = regexp.MustCompile(`https?://\S+/estimate/\S+/(accept|decline)`)

func links(t *testing.T, m sentMail) (accept, decline string) {
	t.Helper()
	for _, l := range linkRe.FindAllString(m.Text, -1) {
		if strings.HasSuffix(l, "/accept") {
			accept = l
		} else {
			decline = l
		}
	}
	if accept == "" || decline == "" {
		t.Fatalf("estimate mail without its two links:\n%s", m.Text)
	}
	return accept, decline
}

func httpDo(t *testing.T, method, link string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, link, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestEstimates runs the real daemon: staff send repair estimates (as `rmad estimate` does),
// the partner accepts one by replying to the mail, declines one through its link, leaves one
// unanswered until the reminder job reminds and then returns it; another partner's answer
// changes nothing.
func TestEstimates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEstEnv(t)
	h := e.h
	numA, _ := e.open(ctx, t, "est-a@alfa-computers.gr", "RT-70001", "ALFA-E1")
	numB, _ := e.open(ctx, t, "est-b@alfa-computers.gr", "RT-70002", "ALFA-E2")
	numC, _ := e.open(ctx, t, "est-c@alfa-computers.gr", "RT-70003", "ALFA-E3")

	// The estimate mail: in Greek, the amounts and their total, how to answer, the links.
	mailA := e.send(ctx, t, numA)
	for _, want := range []string{"80.00 EUR", "45.50 EUR", "9.00 EUR", "134.50 EUR", "ΑΠΟΔΟΧΗ", "ΑΡΝΗΣΗ", "Φουσκωμένη μπαταρία", numA} {
		if !strings.Contains(mailA.Text+mailA.Subject, want) {
			t.Errorf("estimate mail lacks %q:\n%s", want, mailA.Text)
		}
	}
	t.Logf("estimate mail %q:\n%s", mailA.Subject, mailA.Text)
	if r := e.status(ctx, t, numA); r.Status != rma.StatusEstimateSent {
		t.Fatalf("%s after the estimate: %s", numA, r.Status)
	}
	// Sending the same estimate again (a retry) sends nothing twice; another one is refused.
	before := len(h.sink.Mails())
	if s, err := e.svc.Send(ctx, numA, estimate.Offer{Parts: 8000, Labour: 4550, Shipping: 900, Note: "Φουσκωμένη μπαταρία"}, "cli:test"); err != nil || !s.Again {
		t.Errorf("the same estimate again: again %v, err %v", s.Again, err)
	}
	if _, err := e.svc.Send(ctx, numA, estimate.Offer{Parts: 1, Currency: "EUR"}, "cli:test"); err == nil {
		t.Error("a second, different estimate while one waits was accepted")
	}
	if n := len(e.sent(ctx, t, "estimate again", before)); n != 0 {
		t.Errorf("the same estimate again sent %d mails", n)
	}

	// 1. Another partner answers ACCEPT in the estimate's thread: ordinary new mail, no effect.
	sent := h.deliver(ctx, t, "other partner accepts", followUpMail("rma@nova-it.ro", "est-other@nova-it.ro", reSubject(mailA.Subject),
		mailA.MessageID, []string{mailA.MessageID}, "ACCEPT\n"))
	toOther, toStaff := sentTo(t, sent, "rma@nova-it.ro")
	if len(toStaff) != 0 || len(toOther) != 1 || strings.Contains(toOther[0].Text, "134.50") {
		t.Errorf("another partner's ACCEPT: %d mails to it, %d to staff", len(toOther), len(toStaff))
	}
	if r := e.status(ctx, t, numA); r.Status != rma.StatusEstimateSent {
		t.Fatalf("another partner's ACCEPT moved %s to %s", numA, r.Status)
	}

	// 2. The partner accepts by mail: first word of its own text, any case, accents, the
	// quoted estimate below (which holds the other word too).
	accept := followUpMail("Alfa Computers <"+estPartner+">", "est-accept@alfa-computers.gr", reSubject(mailA.Subject),
		mailA.MessageID, []string{"est-a@alfa-computers.gr", mailA.MessageID}, "αποδοχή, ευχαριστούμε\n\nΣτις 2/11/2026, RMA Service έγραψε:\n"+quote(mailA.Text))
	toPartner, toStaff := sentTo(t, h.deliver(ctx, t, "accept by mail", accept), estPartner)
	if len(toPartner) != 1 || len(toStaff) != 1 {
		t.Fatalf("accept by mail: %d mails to the partner, %d to staff; want 1 and 1", len(toPartner), len(toStaff))
	}
	if !strings.Contains(toPartner[0].Text, "αποδεχτήκατε") || !slices.Contains(toPartner[0].InReplyTo, "est-accept@alfa-computers.gr") {
		t.Errorf("accept confirmation:\n%s", toPartner[0].Text)
	}
	if !strings.Contains(toStaff[0].Subject, "accepted") || !strings.Contains(toStaff[0].Text, "ευχαριστούμε") {
		t.Errorf("staff mail %q:\n%s", toStaff[0].Subject, toStaff[0].Text)
	}
	r := e.status(ctx, t, numA)
	// The console's re-send offers the confirmation, then the estimate, then the reply; not the
	// staff mail.
	kept, err := e.st.KeptMails(ctx, r.PartnerID, numA)
	if err != nil || len(kept) != 3 || kept[0].ID != strings.Trim(toPartner[0].MessageID, "<>") || kept[0].Kind != "estanswer" ||
		kept[1].ID != strings.Trim(mailA.MessageID, "<>") || kept[1].Kind != "estimate" || kept[2].Kind != "reply" {
		t.Errorf("kept partner mails of %s: %+v %v", numA, kept, err)
	}
	last := r.History[len(r.History)-1]
	if r.Status != rma.StatusRepairing || last.Actor != estPartner || last.Extra[rma.ExtraAnsweredVia] != "mail" ||
		last.Extra[rma.ExtraMessageID] != "est-accept@alfa-computers.gr" {
		t.Fatalf("after the accepting mail: %s, last event %+v", r.Status, last)
	}
	// The same mail again (a crash before its ack): nothing twice.
	if n := len(h.deliver(ctx, t, "accept again", accept)); n != 0 {
		t.Errorf("the same accepting mail again sent %d mails", n)
	}
	// Another answer to the answered estimate: says so, changes nothing.
	late := followUpMail(estPartner, "est-late2@alfa-computers.gr", reSubject(mailA.Subject), mailA.MessageID,
		[]string{mailA.MessageID}, "Άρνηση\n")
	toPartner, _ = sentTo(t, h.deliver(ctx, t, "late decline", late), estPartner)
	if len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "δεν περιμένει πλέον") {
		t.Fatalf("late decline: %d answers %v", len(toPartner), toPartner)
	}
	if r2 := e.status(ctx, t, numA); r2.Status != rma.StatusRepairing || len(r2.History) != len(r.History) {
		t.Errorf("a late decline changed %s: %s, %d events (were %d)", numA, r2.Status, len(r2.History), len(r.History))
	}

	// 3. Declined by link: GET shows one form and changes nothing, POST decides.
	mailB := e.send(ctx, t, numB)
	acceptB, declineB := links(t, mailB)
	code, page := httpDo(t, http.MethodGet, declineB)
	if code != http.StatusOK || strings.Count(page, "<form") != 1 || !strings.Contains(page, `method="post"`) || !strings.Contains(page, "134.50 EUR") {
		t.Fatalf("GET decline link: %d\n%s", code, page)
	}
	for range 2 { // a GET twice (mail scanners prefetch links): still nothing
		httpDo(t, http.MethodGet, declineB)
	}
	if r := e.status(ctx, t, numB); r.Status != rma.StatusEstimateSent {
		t.Fatalf("GET changed %s to %s", numB, r.Status)
	}
	// Tampered: another character in the token, the token under the other answer's path.
	u, _ := url.Parse(declineB)
	parts := strings.Split(u.Path, "/")
	tok := []byte(parts[len(parts)-2])
	tok[len(tok)/2] ^= 1
	if tok[len(tok)/2] == '.' || tok[len(tok)/2] == '/' {
		tok[len(tok)/2] = 'A'
	}
	tampered := strings.Replace(declineB, parts[len(parts)-2], string(tok), 1)
	swapped := strings.TrimSuffix(acceptB, "/accept") + "/decline"
	for _, l := range []string{tampered, swapped} {
		if code, page := httpDo(t, http.MethodPost, l); code != http.StatusNotFound || !strings.Contains(page, "δεν είναι έγκυρος") && !strings.Contains(page, "not valid") {
			t.Errorf("POST %s: %d, want 404 not valid\n%s", l, code, page)
		}
	}
	if r := e.status(ctx, t, numB); r.Status != rma.StatusEstimateSent {
		t.Fatalf("a tampered link changed %s to %s", numB, r.Status)
	}
	before = len(h.sink.Mails())
	code, page = httpDo(t, http.MethodPost, declineB)
	if code != http.StatusOK || !strings.Contains(page, "Αρνηθήκατε") {
		t.Fatalf("POST decline link: %d\n%s", code, page)
	}
	toPartner, toStaff = sentTo(t, e.sent(ctx, t, "decline by link", before), estPartner)
	if len(toPartner) != 1 || len(toStaff) != 1 || !strings.Contains(toStaff[0].Subject, "declined") {
		t.Errorf("decline by link: %d mails to the partner, %d to staff", len(toPartner), len(toStaff))
	}
	r = e.status(ctx, t, numB)
	last = r.History[len(r.History)-1]
	if r.Status != rma.StatusReturnedUnrepaired || last.Extra[rma.ExtraAnsweredVia] != "link" || last.Actor != "partner:P-GR-001" {
		t.Fatalf("after the decline link: %s, last event %+v", r.Status, last)
	}
	// Second use, and the other link afterwards: refused, nothing changes, nothing is mailed.
	before = len(h.sink.Mails())
	if code, page := httpDo(t, http.MethodPost, declineB); code != http.StatusConflict || !strings.Contains(page, "έχει ήδη χρησιμοποιηθεί") {
		t.Errorf("second use: %d\n%s", code, page)
	}
	if code, _ := httpDo(t, http.MethodPost, acceptB); code != http.StatusConflict {
		t.Errorf("accept after decline: %d", code)
	}
	if n := len(e.sent(ctx, t, "second use", before)); n != 0 {
		t.Errorf("a second use mailed %d", n)
	}
	if r2 := e.status(ctx, t, numB); r2.Status != rma.StatusReturnedUnrepaired || len(r2.History) != len(r.History) {
		t.Errorf("second use changed %s: %s, %d events (were %d)", numB, r2.Status, len(r2.History), len(r.History))
	}

	// 4. Unanswered: after estimate_reminder_days one reminder, after twice that returned
	// unrepaired and staff told; its link has expired by then.
	mailC := e.send(ctx, t, numC)
	acceptC, _ := links(t, mailC)
	sentAt := h.clock.Now()
	run := func(at time.Time) []sandbox.Mail {
		t.Helper()
		h.clock.Set(at)
		before := len(h.sink.Mails())
		if _, err := e.sched.RunTick(ctx, schedule.JobReminders, at); err != nil {
			t.Fatalf("reminders at %s: %v", at, err)
		}
		return e.sent(ctx, t, "reminders", before)
	}
	days := h.cfg.Policy.EstimateReminderDays
	if n := len(run(sentAt.Add(time.Duration(days)*24*time.Hour - time.Hour))); n != 0 {
		t.Errorf("reminders before %d days sent %d mails", days, n)
	}
	toPartner, toStaff = sentTo(t, run(sentAt.Add(time.Duration(days)*24*time.Hour+time.Hour)), estPartner)
	if len(toPartner) != 1 || len(toStaff) != 0 || !strings.Contains(toPartner[0].Text, "134.50 EUR") || !strings.Contains(toPartner[0].Subject, "Υπενθύμιση") {
		t.Fatalf("reminder: %d to the partner, %d to staff: %v", len(toPartner), len(toStaff), toPartner)
	}
	if n := len(run(sentAt.Add(time.Duration(days)*24*time.Hour + 3*time.Hour))); n != 0 {
		t.Errorf("a second reminder run sent %d mails", n)
	}
	if r := e.status(ctx, t, numC); r.Status != rma.StatusEstimateSent {
		t.Fatalf("the reminder moved %s to %s", numC, r.Status)
	}
	h.clock.Set(sentAt.Add(time.Duration(2*days)*24*time.Hour + time.Hour))
	if code, page := httpDo(t, http.MethodPost, acceptC); code != http.StatusGone {
		t.Errorf("expired link: %d\n%s", code, page)
	}
	if r := e.status(ctx, t, numC); r.Status != rma.StatusEstimateSent {
		t.Fatalf("an expired link moved %s to %s", numC, r.Status)
	}
	toPartner, toStaff = sentTo(t, run(h.clock.Now()), estPartner)
	if len(toPartner) != 1 || len(toStaff) != 1 || !strings.Contains(toStaff[0].Subject, "Return unrepaired") {
		t.Fatalf("expiry: %d to the partner, %d to staff", len(toPartner), len(toStaff))
	}
	if r := e.status(ctx, t, numC); r.Status != rma.StatusReturnedUnrepaired {
		t.Fatalf("%s after twice the reminder days: %s", numC, r.Status)
	}
	h.checkNoDeadLetters(ctx, t)
}

// TestEstimateAnswerCrashBeforeConfirmation: an attempt that recorded a partner's answer to an
// estimate and died before its confirmation was on the outbox (here: the real estimate service
// whose outbox refuses the mail, as a process killed at that point leaves Redis) is retried —
// the same mail fetched again, the same link's POST again. The retry applies nothing twice
// (one answer event, the status as the first attempt set it) and the confirmation and the
// staff mail go once; a third try sends nothing.
func TestEstimateAnswerCrashBeforeConfirmation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEstEnv(t)
	h := e.h
	key, err := estimate.Key(ctx, h.cfg.HTTP.LinkSecret, e.st)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rules.LoadData(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	errCrash := fmt.Errorf("killed before the outbox")
	crashing, err := estimate.New(estimate.Config{
		Store: e.st, Composer: outbound.NewComposer(h.cfg), Partner: data.Partners.ByID, Key: key, BaseURL: h.cfg.HTTP.BaseURL(),
		ReminderDays: h.cfg.Policy.EstimateReminderDays, Now: h.clock.Now, Log: config.NewLogger(h.cfg.Log, h.logs),
		Put: func(context.Context, outbound.Message) error { return errCrash },
	})
	if err != nil {
		t.Fatal(err)
	}
	answers := func(number string) int {
		n := 0
		for _, ev := range e.status(ctx, t, number).History {
			if ev.Extra[rma.ExtraEstimateAnswer] != "" {
				n++
			}
		}
		return n
	}

	// By mail: ACCEPT recorded by the crashed attempt, then the mail handled again.
	numA, _ := e.open(ctx, t, "crash-a@alfa-computers.gr", "RT-71001", "ALFA-C1")
	mailA := e.send(ctx, t, numA)
	accept := followUpMail("Alfa Computers <"+estPartner+">", "crash-accept@alfa-computers.gr", reSubject(mailA.Subject),
		mailA.MessageID, []string{mailA.MessageID}, "ACCEPT\n\n"+quote(mailA.Text))
	sub, err := (&ingest.Parser{}).ParseMail(strings.NewReader(string(accept)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crashing.Decide(ctx, estimate.Answer{Number: numA, Answer: rma.EstimateAccept, Via: estimate.ViaMail, Who: estPartner, Mail: &sub}); !errors.Is(err, errCrash) {
		t.Fatalf("crashed attempt: %v, want the outbox refusing", err)
	}
	if r := e.status(ctx, t, numA); r.Status != rma.StatusRepairing || answers(numA) != 1 {
		t.Fatalf("after the crashed attempt: %s with %d answers, want repairing with 1", r.Status, answers(numA))
	}
	toPartner, toStaff := sentTo(t, h.deliver(ctx, t, "accept after the crash", accept), estPartner)
	if len(toPartner) != 1 || len(toStaff) != 1 || !strings.Contains(toPartner[0].Text, "αποδεχτήκατε") ||
		!slices.Contains(toPartner[0].InReplyTo, "crash-accept@alfa-computers.gr") {
		t.Fatalf("retry of the accepting mail: %d confirmations, %d staff mails; want 1 and 1", len(toPartner), len(toStaff))
	}
	if r := e.status(ctx, t, numA); r.Status != rma.StatusRepairing || answers(numA) != 1 {
		t.Errorf("after the retry: %s with %d answers, want repairing with 1", r.Status, answers(numA))
	}
	if n := len(h.deliver(ctx, t, "accept a third time", accept)); n != 0 {
		t.Errorf("a third try sent %d mails", n)
	}

	// By link: DECLINE recorded by the crashed attempt, then the POST again.
	numB, _ := e.open(ctx, t, "crash-b@alfa-computers.gr", "RT-71002", "ALFA-C2")
	mailB := e.send(ctx, t, numB)
	_, declineB := links(t, mailB)
	u, err := url.Parse(declineB)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(u.Path, "/")
	if _, err := crashing.AnswerLink(ctx, parts[len(parts)-2], "decline"); !errors.Is(err, errCrash) {
		t.Fatalf("crashed link attempt: %v, want the outbox refusing", err)
	}
	if r := e.status(ctx, t, numB); r.Status != rma.StatusReturnedUnrepaired || answers(numB) != 1 {
		t.Fatalf("after the crashed link attempt: %s with %d answers", r.Status, answers(numB))
	}
	for i, wantMails := range []int{2, 0} {
		before := len(h.sink.Mails())
		if code, _ := httpDo(t, http.MethodPost, declineB); code != http.StatusConflict {
			t.Errorf("POST %d after the crash: %d, want 409 (already used)", i+1, code)
		}
		toPartner, toStaff := sentTo(t, e.sent(ctx, t, "decline link again", before), estPartner)
		if len(toPartner)+len(toStaff) != wantMails || wantMails > 0 && (len(toPartner) != 1 || !strings.Contains(toStaff[0].Subject, "declined")) {
			t.Errorf("POST %d after the crash: %d confirmations, %d staff mails; want %d mails in all", i+1, len(toPartner), len(toStaff), wantMails)
		}
	}
	if r := e.status(ctx, t, numB); r.Status != rma.StatusReturnedUnrepaired || answers(numB) != 1 {
		t.Errorf("after the link retries: %s with %d answers, want returned_unrepaired with 1", r.Status, answers(numB))
	}
	h.checkNoDeadLetters(ctx, t)
}
