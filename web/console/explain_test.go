package console

import (
	"bytes"
	"html"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/explain"
	"github.com/rmad/rmad/rules"
)

// withExplainer gives the console the explain page's parser and rules on the testdata files,
// with limits.max_message_bytes set to maxBytes (0: the default).
func withExplainer(t testing.TB, maxBytes int64) envOption {
	cfg := config.Defaults()
	dir, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	cfg.PartnersFile, cfg.CatalogFile, cfg.SalesFile = filepath.Join(dir, "partners.yaml"), filepath.Join(dir, "catalog.csv"), filepath.Join(dir, "sales.csv")
	if maxBytes > 0 {
		cfg.Limits.MaxMessageBytes = maxBytes
	}
	data, err := rules.LoadData(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ex := explain.New(&cfg, data)
	ex.Now = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
	return func(c *Config) { c.Explainer = ex }
}

// upload posts a multipart form: the csrf field (the client's token unless csrf is given),
// then the file under field (none when field is "").
func (c *client) upload(path, csrf, field, filename string, content []byte) page {
	c.e.t.Helper()
	if csrf == "" {
		csrf = c.csrf
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", csrf)
	if field != "" {
		fw, err := mw.CreateFormFile(field, filename)
		if err != nil {
			c.e.t.Fatal(err)
		}
		_, _ = fw.Write(content)
	}
	_ = mw.Close()
	req, err := http.NewRequest("POST", c.e.srv.URL+path, &body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req)
}

var explainText = regexp.MustCompile(`(?s)<pre id="explain-text">(.*?)</pre>`)

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("../../testdata/mails", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExplainUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withExplainer(t, 0))
	c := e.signedIn("ann", annPassword)
	p := c.get("/console/explain")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, `enctype="multipart/form-data"`, `name="mail"`, `name="csrf" value="`+c.csrf+`"`)

	// A submission: the same text rmad explain prints, and its rows.
	mail := readFixture(t, "01-gr-body-router.eml")
	p = c.upload("/console/explain", "", "mail", "01.eml", mail)
	wantStatus(t, p, http.StatusOK)
	var want strings.Builder
	res, err := e.cfg.Explainer.Explain("01.eml", bytes.NewReader(mail))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Explainer.WriteText(&want, res)
	wantIn(t, p, "pub-1-a1@alfa-computers.gr", "kind:       submission", `class="row-accepted"`)
	if m := explainText.FindStringSubmatch(p.body); m == nil || html.UnescapeString(m[1]) != want.String() {
		t.Errorf("page's text is not rmad explain's:\n%s\nwant\n%s", m, want.String())
	}
	if !strings.Contains(e.logs.String(), `"action":"explain"`) {
		t.Errorf("no audit line: %s", e.logs.String())
	}

	// An automatic mail: ignored, and why.
	p = c.upload("/console/explain", "", "mail", "auto.eml", readFixture(t, "10-auto-reply.eml"))
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, "ignored", "rmad never answers automatic mail")

	// Nothing stored: the explain page never numbers an RMA.
	if n, _ := e.store.BuildWorklistIndex(t.Context(), true); n != 0 {
		t.Errorf("%d RMAs stored by explain", n)
	}
}

func TestExplainBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withExplainer(t, 4096))
	c := e.signedIn("ann", annPassword)
	fieldError := func(p page, status int, msg string) {
		t.Helper()
		wantStatus(t, p, status)
		wantIn(t, p, `id="mail-error">`+msg)
	}
	fieldError(c.upload("/console/explain", "", "", "", nil), http.StatusUnprocessableEntity, "Choose a mail file (.eml) to upload.")
	fieldError(c.upload("/console/explain", "", "other", "x.eml", []byte("x")), http.StatusUnprocessableEntity, "Choose a mail file")
	fieldError(c.upload("/console/explain", "", "mail", "empty.eml", []byte("\r\n ")), http.StatusUnprocessableEntity, "The file is empty")
	big := append([]byte("Subject: big\r\nFrom: a@b.example\r\n\r\n"), bytes.Repeat([]byte("x"), 5000)...)
	fieldError(c.upload("/console/explain", "", "mail", "big.eml", big), http.StatusRequestEntityTooLarge, "The file is too big: at most 4 KiB (limits.max_message_bytes).")
	fieldError(c.upload("/console/explain", "", "mail", "bin.eml", []byte("\x00\x01\x02 not a header\r\n\r\n")), http.StatusUnprocessableEntity, "The file cannot be read as a mail")

	// CSRF: missing or wrong → 403; a file before the token counts as missing.
	wantStatus(t, c.upload("/console/explain", "forged", "mail", "m.eml", []byte("Subject: x\r\n\r\nx")), http.StatusForbidden)
	// Signed out: refused.
	c.post("/console/logout")
	wantStatus(t, c.upload("/console/explain", "", "mail", "m.eml", []byte("Subject: x\r\n\r\nx")), http.StatusForbidden)
}

// TestExplainXSS: the subject, sender, filenames and body a partner writes are shown as text.
func TestExplainXSS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withExplainer(t, 0))
	c := e.signedIn("ann", annPassword)
	mail := "From: \"<b>x</b>\" <service@alfa-computers.gr>\r\nTo: rma@distributor.example\r\nSubject: <script>alert(1)</script>\r\n" +
		"Message-ID: <\"><img src=x onerror=alert(2)>@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nEAN: <svg onload=alert(3)>\r\n--B\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename=\"<img src=y onerror=alert(4)>.pdf\"\r\n\r\n%PDF-1.4\r\n--B--\r\n"
	p := c.upload("/console/explain", "", "mail", `<img src=z onerror=alert(5)>.eml`, []byte(mail))
	wantStatus(t, p, http.StatusOK)
	wantNotIn(t, p, "<script>alert", "<img src=", "<svg onload", "<b>x</b>")
	wantIn(t, p, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=y onerror=alert(4)&gt;.pdf")
}
