package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
	"github.com/rmad/rmad/web/console/staff"
)

// testNow is the console's clock in the tests.
var testNow = time.Date(2026, 6, 1, 9, 30, 0, 0, time.UTC)

// Passwords of the test accounts.
const (
	annPassword  = "ann-secret-password"
	rootPassword = "root-secret-password"
)

// env is a console on the test Redis with two staff accounts and the testdata partners.
type env struct {
	t        testing.TB
	c        *Console
	srv      *httptest.Server
	store    *store.Store
	prefix   string // the store's key prefix
	partners *rules.Partners
	cfg      Config
	staff    string // the staff file
	time     *testenv.Clock
	logs     *testenv.SyncBuffer
	seq      int
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = rc.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":"
	st := store.New(rc, prefix)
	ps, err := rules.LoadPartners("../../testdata/partners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, prefix: prefix, partners: ps, time: testenv.NewClock(testNow), logs: &testenv.SyncBuffer{}}
	e.staff = filepath.Join(t.TempDir(), "staff.yaml")
	f := &staff.File{}
	for _, a := range []struct{ user, name, role, pw string }{
		{"ann", "Ann Agent", staff.RoleAgent, annPassword},
		{"root", "Rita Admin", staff.RoleAdmin, rootPassword},
	} {
		h, err := staff.Hash(a.pw)
		if err != nil {
			t.Fatal(err)
		}
		f.Staff = append(f.Staff, staff.Account{Username: a.user, Name: a.name, Role: a.role, PasswordHash: h})
	}
	if err := f.Save(e.staff); err != nil {
		t.Fatal(err)
	}
	loc := testenv.Athens
	e.cfg = Config{
		Console: config.Console{Enabled: true, StaffFile: e.staff, Locale: "en", SessionIdle: time.Hour, SessionMax: 24 * time.Hour},
		Listen:  "127.0.0.1:0",
		Store:   st, Partner: ps.ByID, Partners: ps.All,
		Policy:   config.Defaults().Policy,
		Location: loc,
		Log:      zerolog.New(e.logs),
		Now:      e.clock,
	}
	for _, o := range opts {
		o(&e.cfg)
	}
	e.c, err = New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.c)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) clock() time.Time { return e.time.Now() }

func (e *env) advance(d time.Duration) { e.time.Advance(d) }

// item is what a partner sends; newRMA commits it as rules would accept it.
type item struct {
	partner, serial, own, brand, model, description, contents string
	handling                                                  rma.Handling
	messageID                                                 string              // the mail's; made up when empty
	decide                                                    func(*rma.Decision) // changes the made-up decision
}

func (e *env) newRMA(it item) string {
	e.t.Helper()
	e.seq++
	if it.partner == "" {
		it.partner = "P-GR-001"
	}
	if it.brand == "" {
		it.brand, it.model = "TP-Link", "Archer AX55"
	}
	if it.handling == "" {
		it.handling = rma.HandlingInHouse
	}
	if it.messageID == "" {
		it.messageID = fmt.Sprintf("m%d-%s@test", e.seq, hex.EncodeToString([]byte(it.serial)))
	}
	ri := rma.Item{Line: 1, EAN: "5204001000013", Serial: it.serial, OwnNumber: it.own, Description: it.description,
		PurchaseDate: "2026-02-10", Contents: it.contents}
	d := rma.Decision{Line: 1, Item: ri, Result: rma.ResultAccepted, Route: rma.Route{Handling: it.handling},
		Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: time.Date(2029, 2, 10, 0, 0, 0, 0, time.UTC)},
		Product:  &rma.Product{EAN: ri.EAN, Brand: it.brand, Model: it.model}, ClaimType: "defective", Quantity: 1}
	if it.decide != nil {
		it.decide(&d)
	}
	sub := rma.Submission{Kind: rma.KindSubmission, PartnerID: it.partner, Items: []rma.Item{ri},
		Source: rma.Source{Channel: "mail", Mailbox: "partners", MessageID: it.messageID,
			RawSHA256: strings.Repeat("ab", 32)}}
	out, err := e.store.Commit(context.Background(), sub, []rma.Decision{d}, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	if out.Decisions[0].Number == "" {
		e.t.Fatalf("not numbered: %+v", out.Decisions[0])
	}
	return out.Decisions[0].Number
}

func (e *env) record(number string) rma.Record {
	e.t.Helper()
	r, err := e.store.Get(context.Background(), number)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// client is a browser-like HTTP client: a cookie jar, redirects not followed.
type client struct {
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

func (c *client) do(method, path string, form url.Values) page {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.send(req)
}

// send sends a request and reads its page (and the page's CSRF token).
func (c *client) send(req *http.Request) page {
	c.e.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if m := csrfMeta.FindStringSubmatch(p.body); m != nil && m[1] != "" {
		c.csrf = m[1]
	}
	return p
}

func (c *client) get(path string) page { return c.do("GET", path, nil) }

// post sends a form with the current CSRF token (unless the form sets csrf itself).
func (c *client) post(path string, kv ...string) page {
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, form)
}

func (c *client) login(user, password string) page {
	c.e.t.Helper()
	c.get("/console/login")
	return c.post("/console/login", "username", user, "password", password)
}

func (e *env) signedIn(user, password string) *client {
	e.t.Helper()
	c := e.client()
	if p := c.login(user, password); p.status != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d\n%s", user, p.status, p.body)
	}
	c.get("/console/")
	return c
}

func wantStatus(t testing.TB, p page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d\n%s", p.status, status, p.body)
	}
}

func wantIn(t testing.TB, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

func wantNotIn(t testing.TB, p page, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(p.body, s) {
			t.Errorf("page has %q", s)
		}
	}
}
