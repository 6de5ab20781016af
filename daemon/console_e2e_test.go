package daemon_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/web/console/staff"
)

var csrfToken = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// The console inside the real daemon (Dovecot, Redis, the SMTP sink): a partner's mail is
// answered, then staff open its original from the processed folder (text and the invoice
// attachment, byte for byte) and re-send the reply, which the couriers deliver again with the
// same content under a new Message-ID.
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
		string(again.CSV) != string(reply.CSV) || string(again.Labels) != string(reply.Labels) || len(again.CSV) == 0 {
		t.Fatalf("re-sent %q %q, the reply %q %q", again.MessageID, again.Subject, reply.MessageID, reply.Subject)
	}
	if _, _, body := do("GET", page, nil); !strings.Contains(body, strings.Trim(again.MessageID, "<>")) || !strings.Contains(body, "staff:ann") {
		t.Fatal("the RMA's history lacks the resend")
	}
}
