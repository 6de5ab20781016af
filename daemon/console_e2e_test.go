package daemon_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/web/console/staff"
)

var csrfToken = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// The console inside the real daemon (Dovecot, Redis, the SMTP sink): a partner's mail is
// answered, then staff open its original from the processed folder (text and the invoice
// attachment, byte for byte) and re-send the reply, which the couriers deliver again with the
// same content (its parcel labels rendered again from the record) under a new Message-ID. Then
// the partner answers in the thread and gets rmad's follow-up answer: the RMA page names that
// answer as the newest partner mail, and re-sending it sends the answer, not the reply; the same
// for the repair estimate staff send next from the page's form.
func TestConsoleOriginalAndResend(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	h.cfg.Console.Enabled = true
	h.cfg.Console.StaffFile = filepath.Join(t.TempDir(), "staff.yaml")
	hash, err := staff.Hash("ann-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&staff.File{Staff: []staff.Account{{Username: "ann", Name: "Ann", Role: staff.RoleAgent, PasswordHash: hash}}}).Save(h.cfg.Console.StaffFile); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	raw, _ := fixtureMail(t, "01-gr-body-router.eml")
	sent := h.deliver(ctx, t, "01-gr-body-router.eml", raw)
	var reply sentMail
	for _, m := range sent {
		if r := parseSent(t, m); strings.Contains(r.Subject, "RMA/") && r.AutoSubmitted == "auto-replied" {
			reply = r
		}
	}
	num := regexp.MustCompile(`RMA/(\d+)/SR/(\d{4})`).FindStringSubmatch(reply.Subject)
	if num == nil {
		t.Fatalf("no reply with a number among %d mails", len(sent))
	}
	page := "/console/rmas/" + num[2] + "/" + num[1]

	srv := httptest.NewServer(h.d.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var csrf string
	do := func(method, path string, form url.Values) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			form.Set("csrf", csrf)
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := csrfToken.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	do("GET", "/console/login", nil)
	if st, _, body := do("POST", "/console/login", url.Values{"username": {"ann"}, "password": {"ann-password-1"}}); st != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", st, body)
	}
	do("GET", page, nil)

	st, _, body := do("GET", page+"/original", nil)
	if st != http.StatusOK || !strings.Contains(body, "invoice.pdf") || !strings.Contains(body, `id="orig-text"`) {
		t.Fatalf("original page: %d\n%s", st, body)
	}
	st, hdr, pdf := do("GET", page+"/original/0", nil)
	if st != http.StatusOK || !strings.HasPrefix(pdf, "%PDF") || !strings.Contains(hdr.Get("Content-Disposition"), "invoice.pdf") {
		t.Fatalf("attachment: %d %q %.20q", st, hdr.Get("Content-Disposition"), pdf)
	}

	before := len(h.sink.Mails())
	if st, _, body := do("POST", page+"/resend", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("resend: %d\n%s", st, body)
	}
	var again sentMail
	testenv.Eventually(t, waitLong, "the re-sent reply", func() bool {
		ms := h.sink.Mails()
		if len(ms) <= before {
			return false
		}
		again = parseSent(t, ms[before])
		return true
	})
	if again.MessageID == reply.MessageID || again.Subject != reply.Subject || again.Text != reply.Text ||
		string(again.CSV) != string(reply.CSV) || len(again.CSV) == 0 {
		t.Fatalf("re-sent %q %q, the reply %q %q", again.MessageID, again.Subject, reply.MessageID, reply.Subject)
	}
	// The labels were left out of the kept copy and rendered again from the record.
	if got, want := labelText(t, again.Labels), labelText(t, reply.Labels); got != want || !strings.Contains(got, num[0]) {
		t.Fatalf("re-sent labels:\n%s\nthe reply's:\n%s", got, want)
	}
	if _, _, body := do("GET", page, nil); !strings.Contains(body, strings.Trim(again.MessageID, "<>")) || !strings.Contains(body, "staff:ann") {
		t.Fatal("the RMA's history lacks the resend")
	}

	// newest re-sends the newest partner mail the page names (its kind and subject shown)
	// and checks the copy delivered is that mail again.
	newest := func(what, kind string, orig sentMail) {
		t.Helper()
		_, _, body := do("GET", page, nil)
		m := keptRow.FindStringSubmatch(body)
		if m == nil || m[1] != strings.Trim(orig.MessageID, "<>") || !strings.Contains(m[2], kind) || !strings.Contains(m[3], html.EscapeString(orig.Subject)) {
			t.Fatalf("%s: the newest kept mail shown is %q, want %s %q %q", what, m, kind, orig.MessageID, orig.Subject)
		}
		before := len(h.sink.Mails())
		if st, _, body := do("POST", page+"/resend", url.Values{"mail": {m[1]}}); st != http.StatusSeeOther {
			t.Fatalf("%s: resend: %d\n%s", what, st, body)
		}
		var got sentMail
		testenv.Eventually(t, waitLong, "the re-sent "+what, func() bool {
			ms := h.sink.Mails()
			if len(ms) <= before {
				return false
			}
			got = parseSent(t, ms[before])
			return true
		})
		if got.MessageID == orig.MessageID || got.Subject != orig.Subject || got.Text != orig.Text || string(got.CSV) != string(orig.CSV) || len(got.Labels) != len(orig.Labels) {
			t.Fatalf("%s: re-sent %q %q:\n%s\nwant %q %q:\n%s", what, got.MessageID, got.Subject, got.Text, orig.MessageID, orig.Subject, orig.Text)
		}
		if got.Subject == reply.Subject && got.Text == reply.Text {
			t.Fatalf("%s: the submission's reply was re-sent", what)
		}
	}

	// A follow-up: the partner's tracking in the thread gets an answer, now the newest mail.
	const partnerAddr = "service@alfa-computers.gr"
	fu := followUpMail("Alfa Computers <"+partnerAddr+">", "e2e-fu-1@alfa-computers.gr", reSubject(reply.Subject),
		strings.Trim(reply.MessageID, "<>"), []string{"pub-1-a1@alfa-computers.gr", strings.Trim(reply.MessageID, "<>")},
		"Καλησπέρα,\n\nΑριθμός αποστολής: ACS 7012345678\n\n"+quote(reply.Text)+"\n")
	toPartner, _ := sentTo(t, h.deliver(ctx, t, "follow-up", fu), partnerAddr)
	if len(toPartner) != 1 || !strings.Contains(toPartner[0].Text, "ACS 7012345678") {
		t.Fatalf("follow-up: %d answers to the partner", len(toPartner))
	}
	newest("follow-up answer", "Answer to a follow-up", toPartner[0])

	// A repair estimate from the console's form: the estimate mail is the newest now.
	for _, st := range []string{"received", "diagnosing"} {
		if code, _, body := do("POST", page+"/status", url.Values{"status": {st}, "note": {""}}); code != http.StatusSeeOther {
			t.Fatalf("to %s: %d\n%s", st, code, body)
		}
	}
	before = len(h.sink.Mails())
	if code, _, body := do("POST", page+"/estimate", url.Values{"parts": {"80.00"}, "labour": {"45.50"}, "shipping": {"9"}, "currency": {"EUR"}, "note": {"Φουσκωμένη μπαταρία"}}); code != http.StatusSeeOther {
		t.Fatalf("estimate: %d\n%s", code, body)
	}
	var est sentMail
	testenv.Eventually(t, waitLong, "the estimate mail", func() bool {
		for _, m := range h.sink.Mails()[before:] {
			if p := parseSent(t, m); slices.Contains(p.To, partnerAddr) {
				est = p
				return true
			}
		}
		return false
	})
	if !strings.Contains(est.Text, "80") || !strings.Contains(est.Text, "/estimate/") {
		t.Fatalf("estimate mail:\n%s", est.Text)
	}
	newest("estimate", "Repair estimate", est)
}

// keptRow is the RMA page's newest kept partner mail: its Message-ID, kind and subject.
var keptRow = regexp.MustCompile(`(?s)<tr class="kept-mail newest" data-message-id="([^"]+)"><td class="kind">([^<]*)</td><td class="subject">([^<]*)</td>`)

// labelText is the text of a labels PDF, without the whitespace pdftotext varies.
func labelText(t *testing.T, pdf []byte) string {
	t.Helper()
	if len(pdf) == 0 {
		t.Fatal("no labels")
	}
	return strings.Join(strings.Fields(strings.Join(testenv.PDFText(t, pdf), " ")), " ")
}
