package console

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

func TestSignInContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	p := c.get("/console/")
	wantStatus(t, p, http.StatusSeeOther)
	if loc := p.header.Get("Location"); loc != "/console/login" {
		t.Fatalf("redirect to %q", loc)
	}
	p = c.get("/console/login")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, `name="username"`, `name="password"`, `name="csrf" value="`+c.csrf+`"`)
	for h, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'", "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff",
	} {
		if got := p.header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s: %q", h, got)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP allows script: %q", csp)
	}

	// Unknown user and wrong password: the same answer.
	wrong := c.post("/console/login", "username", "ann", "password", "nope")
	unknown := c.post("/console/login", "username", "nobody", "password", "nope")
	wantStatus(t, wrong, http.StatusUnauthorized)
	wantStatus(t, unknown, http.StatusUnauthorized)
	wantIn(t, wrong, "Unknown username or wrong password.")
	wantIn(t, unknown, "Unknown username or wrong password.")
	// Without the login token: refused.
	wantStatus(t, c.post("/console/login", "username", "ann", "password", annPassword, "csrf", "forged"), http.StatusForbidden)

	p = c.post("/console/login", "username", "Ann", "password", annPassword)
	wantStatus(t, p, http.StatusSeeOther)
	if p.header.Get("Location") != "/console/" {
		t.Fatalf("after sign-in: %q", p.header.Get("Location"))
	}
	var cookie string
	for _, sc := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			cookie = sc
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/console"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("Secure on a loopback console: %q", cookie)
	}
	p = c.get("/console/")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, `<meta name="csrf-token" content="`+c.csrf+`">`, "Ann Agent")
	if !strings.Contains(e.logs.String(), `"action":"login"`) || !strings.Contains(e.logs.String(), `"component":"console"`) {
		t.Errorf("sign-in not logged: %s", e.logs.String())
	}

	// Sign out needs the token; a POST replayed after sign-out is refused.
	num := e.newRMA(item{serial: "SO-1"})
	oldToken := c.csrf
	wantStatus(t, c.post("/console/logout", "csrf", "wrong"), http.StatusForbidden)
	p = c.post("/console/logout")
	wantStatus(t, p, http.StatusSeeOther)
	wantStatus(t, c.get("/console/"), http.StatusSeeOther)
	p = c.post(rmaLink(num)+"/status", "status", "received", "csrf", oldToken)
	wantStatus(t, p, http.StatusForbidden)
	if r := e.record(num); r.Status != rma.StatusAwaitingGoods {
		t.Fatalf("replayed POST changed the RMA: %s", r.Status)
	}
}

func TestSessionSecureOffLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Listen = "0.0.0.0:8080" })
	c := e.client()
	c.get("/console/login")
	p := c.post("/console/login", "username", "ann", "password", annPassword)
	if sc := strings.Join(p.header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "Secure") {
		t.Fatalf("no Secure flag off loopback: %s", sc)
	}
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	c.get("/console/login")
	for range maxFailures {
		wantStatus(t, c.post("/console/login", "username", "ann", "password", "guess"), http.StatusUnauthorized)
	}
	// Now even the right password is refused for a while.
	p := c.post("/console/login", "username", "ann", "password", annPassword)
	wantStatus(t, p, http.StatusTooManyRequests)
	wantIn(t, p, "Too many failed sign-ins")
	// The same address trying other usernames is throttled too (the per-address count is full).
	wantStatus(t, c.post("/console/login", "username", "root", "password", rootPassword), http.StatusTooManyRequests)
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Console.SessionIdle = 2 * time.Second; c.Console.SessionMax = 2 * time.Hour })
	c := e.signedIn("ann", annPassword)
	// Idle: Redis forgets a session unused for session_idle.
	time.Sleep(3 * time.Second)
	wantStatus(t, c.get("/console/"), http.StatusSeeOther)

	// Max: a session in use still ends session_max after sign-in.
	e2 := newEnv(t, func(c *Config) { c.Console.SessionMax = 2 * time.Hour })
	c2 := e2.signedIn("ann", annPassword)
	e2.advance(time.Hour)
	wantStatus(t, c2.get("/console/"), http.StatusOK)
	e2.advance(time.Hour + time.Minute)
	wantStatus(t, c2.get("/console/"), http.StatusSeeOther)
}

func TestDisabledAccountLosesSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.signedIn("ann", annPassword)
	f := e.c.staffFile()
	f.Staff[0].Disabled = true
	if err := f.Save(e.staff); err != nil {
		t.Fatal(err)
	}
	e.c.staffMu.Lock()
	e.c.staffAt = time.Time{} // skip the re-read pause
	e.c.staffMod = time.Time{}
	e.c.staffMu.Unlock()
	wantStatus(t, c.get("/console/"), http.StatusSeeOther)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	num := e.newRMA(item{serial: "CS-1"})
	c := e.signedIn("ann", annPassword)
	for _, tok := range []string{"", "wrong"} {
		wantStatus(t, c.post(rmaLink(num)+"/status", "status", "received", "csrf", tok), http.StatusForbidden)
		wantStatus(t, c.post("/console/receive", "code", num, "csrf", tok), http.StatusForbidden)
		wantStatus(t, c.post("/console/bulk", "rma", num, "status", "received", "csrf", tok), http.StatusForbidden)
	}
	// Another session's token is no good either.
	other := e.signedIn("root", rootPassword)
	wantStatus(t, c.post(rmaLink(num)+"/status", "status", "received", "csrf", other.csrf), http.StatusForbidden)
	if r := e.record(num); r.Status != rma.StatusAwaitingGoods || len(r.History) != 1 {
		t.Fatalf("a refused POST changed the RMA: %+v", r)
	}
}

func TestWorklistFiltersAndSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	gr := e.newRMA(item{partner: "P-GR-001", serial: "GR-SER-1", own: "GR-OWN-1"})
	ro := e.newRMA(item{partner: "P-RO-002", serial: "RO-SER-1", own: "SAME-OWN"})
	dji := e.newRMA(item{partner: "P-RO-002", serial: "DJI-1", brand: "DJI", model: "Mini 4 Pro", handling: rma.HandlingForward})
	c := e.signedIn("ann", annPassword)

	p := c.get("/console/")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, gr, ro, dji, "Alfa Computers", "Nova IT SRL", "Awaiting the goods")
	// Counts per status link to the status's list.
	wantIn(t, p, `href="/console/?status=awaiting_goods"`)

	// A partner's filter never shows another partner's RMA, also when searching.
	p = c.get("/console/?partner=P-RO-002")
	wantIn(t, p, ro, dji)
	wantNotIn(t, p, gr)
	p = c.get("/console/?partner=P-RO-002&q=GR-SER-1")
	wantNotIn(t, p, gr)
	wantIn(t, p, "No RMA matches.")
	p = c.get("/console/?partner=P-GR-001&q=SAME-OWN")
	wantNotIn(t, p, ro)

	// Search: serial (any case and spacing), own number, RMA number.
	for q, want := range map[string]string{"gr-ser-1": gr, "SAME-OWN": ro, ro: ro, "dji-1": dji} {
		p = c.get("/console/?q=" + url.QueryEscape(q))
		wantIn(t, p, want)
	}
	p = c.get("/console/?brand=dji")
	wantIn(t, p, dji)
	wantNotIn(t, p, gr, ro)
	p = c.get("/console/?handling=in_house&status=awaiting_goods")
	wantIn(t, p, gr, ro)
	wantNotIn(t, p, dji)

	// Overdue: awaiting goods beyond policy.awaiting_goods_days.
	e.advance(time.Duration(e.cfg.Policy.AwaitingGoodsDays+1) * 24 * time.Hour)
	c = e.signedIn("ann", annPassword) // the first session is past session_max
	p = c.get("/console/?overdue=1")
	wantIn(t, p, gr, ro, "overdue")
	wantNotIn(t, p, dji)
}

// The overdue mark and filter follow the reminder rules: an item repaired or replaced by the
// manufacturer (forwarded) never waits here for collection; one of ours, or of a vendor
// ticket, does after policy.uncollected_days.
func TestWorklistOverdueRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ours := e.newRMA(item{serial: "OD-OURS"})
	ticket := e.newRMA(item{serial: "OD-TICKET", handling: rma.HandlingVendorTicket})
	vendor := e.newRMA(item{serial: "OD-VENDOR", handling: rma.HandlingForward})
	ctx := t.Context()
	for _, n := range []string{ours, ticket} {
		if _, err := e.store.SetStatus(ctx, n, rma.StatusReceived, "staff:ann", "", nil, e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	for n, st := range map[string]rma.Status{ours: rma.StatusRepaired, ticket: rma.StatusReplaced, vendor: rma.StatusRepaired} {
		if _, err := e.store.SetStatus(ctx, n, st, "staff:ann", "", nil, e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	e.advance(time.Duration(e.cfg.Policy.UncollectedDays+1) * 24 * time.Hour)
	c := e.signedIn("ann", annPassword)
	p := c.get("/console/?overdue=1")
	wantIn(t, p, ours, ticket, "1–2 of 2")
	wantNotIn(t, p, vendor+"<")
	p = c.get("/console/?status=repaired")
	wantIn(t, p, vendor)
	if strings.Count(p.body, "⚠") != 1 {
		t.Errorf("repaired: %d overdue marks, want 1 (ours, not the manufacturer's)", strings.Count(p.body, "⚠"))
	}
	wantNotIn(t, c.get(rmaLink(vendor)), "overdue-mark")
	wantIn(t, c.get(rmaLink(ours)), "overdue-mark")
}

func TestWorklistPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var nums []string
	for i := range pageSize + 3 {
		nums = append(nums, e.newRMA(item{serial: "PG-" + string(rune('A'+i%26)) + strings.Repeat("x", i/26)}))
		e.advance(time.Minute)
	}
	c := e.signedIn("ann", annPassword)
	p := c.get("/console/")
	wantIn(t, p, "1–50 of 53", nums[0]+"<", `rel="next"`)
	wantNotIn(t, p, nums[52]+"<")
	p = c.get("/console/?page=2")
	wantIn(t, p, "51–53 of 53", nums[52]+"<", `rel="prev"`)
	p = c.get("/console/?sort=newest")
	wantIn(t, p, nums[52]+"<")
}

// Every field a partner controls is shown as text, never as markup.
func TestPartnerFieldsEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	num := e.newRMA(item{serial: "XSS" + x, own: "OWN" + x, description: "broken " + x, contents: "cable " + x, model: "M" + x})
	c := e.signedIn("ann", annPassword)
	for _, path := range []string{"/console/", rmaLink(num), "/console/?q=" + url.QueryEscape("XSS"+x)} {
		p := c.get(path)
		wantStatus(t, p, http.StatusOK)
		wantNotIn(t, p, "<script>", "<img src=x")
		wantIn(t, p, "&lt;script&gt;")
	}
	p := c.post("/console/receive", "code", "OWN"+x)
	wantNotIn(t, p, "<script>", "<img src=x")
	wantIn(t, p, "&lt;script&gt;", "✓")
}

// The subject of a kept partner mail comes from the partner's own subject: the re-send list
// shows it as text.
func TestKeptMailSubjectEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.Outbox = func(context.Context, outbound.Message) error { return nil }
	})
	x := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	num := e.newRMA(item{serial: "XSS-KEPT"})
	sub, p := e.partnerMail(num, "RMA "+x)
	d := e.record(num).Decision
	d.Number = num
	m, err := e.composer().Reply(sub, p, []rma.Decision{d}, e.clock())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.composer().KeepSent(t.Context(), e.store, p.ID, []string{num}, m); err != nil {
		t.Fatal(err)
	}
	page := e.signedIn("ann", annPassword).get(rmaLink(num))
	wantStatus(t, page, http.StatusOK)
	wantIn(t, page, `class="kept-mail newest"`, "RMA &lt;script&gt;alert(1)&lt;/script&gt;")
	wantNotIn(t, page, "<script>", "<img src=x")
}

// The RMA page says what its warranty rests on: the purchase date and where it came from, the
// catalog's months, and a sales record that disagrees with the partner's date.
func TestRMAPageWarrantyBasis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	fromSales := e.newRMA(item{serial: "WB-1", decide: func(d *rma.Decision) {
		d.Item.PurchaseDate, d.Purchase, d.Product.WarrantyMonths = "", day("2025-03-04"), 24
		d.Notes = []rma.Note{{Key: rma.NoteDateFromSales, Params: map[string]string{"date": "2025-03-04"}}}
	}})
	differs := e.newRMA(item{serial: "WB-2", decide: func(d *rma.Decision) {
		d.Purchase, d.Product.WarrantyMonths = day("2026-02-10"), 36
		d.Notes = []rma.Note{{Key: rma.NoteDateDiffersFromSale, Params: map[string]string{"given": "2026-02-10", "sales": "2026-01-28"}}}
	}})
	noDate := e.newRMA(item{serial: "WB-3", decide: func(d *rma.Decision) {
		d.Item.PurchaseDate, d.Product = "", nil
		d.Warranty = rma.Warranty{Status: rma.WarrantyUnknown}
	}})
	c := e.signedIn("ann", annPassword)
	for num, want := range map[string]string{
		fromSales: "purchase 2025-03-04 (from our sales record) + 24 months' warranty (catalog)",
		differs:   "purchase 2026-02-10 (as the partner gave it) + 36 months' warranty (catalog); our sales record says 2026-01-28",
		noDate:    "no valid purchase date",
	} {
		p := c.get(rmaLink(num))
		wantStatus(t, p, http.StatusOK)
		wantIn(t, p, `<dd id="warranty-basis">`+html.EscapeString(want)+`</dd>`)
	}
}

func TestRMAPageAndStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	num := e.newRMA(item{serial: "ST-1", description: "no power after update", contents: "PSU, antennas"})
	c := e.signedIn("ann", annPassword)
	wantStatus(t, c.get("/console/rmas/2026/99999"), http.StatusNotFound)
	wantStatus(t, c.get("/console/rmas/x/1"), http.StatusNotFound)
	p := c.get(rmaLink(num))
	wantStatus(t, p, http.StatusOK)
	// Item, partner, warranty, history, one button per legal next status.
	wantIn(t, p, "no power after update", "PSU, antennas", "Alfa Computers", "EL094019245", "service@alfa-computers.gr",
		"in_warranty", "2029-02-10", `value="received"`, `value="expired"`, `value="closed"`, "rmad")
	wantNotIn(t, p, `value="repaired"`)
	// Times are in schedule.timezone (Athens is UTC+3 in June).
	wantIn(t, p, "2026-06-01 12:30")

	p = c.post(rmaLink(num)+"/status", "status", "received", "note", "parcel complete", "visibility", "partner")
	wantStatus(t, p, http.StatusSeeOther)
	if p.header.Get("Location") != rmaLink(num) {
		t.Fatalf("redirect %q", p.header.Get("Location"))
	}
	r := e.record(num)
	ev := r.History[len(r.History)-1]
	if r.Status != rma.StatusReceived || ev.Actor != "staff:ann" || ev.Note != "parcel complete" {
		t.Fatalf("after the move: %s %+v", r.Status, ev)
	}
	// An internal note is kept out of the partner-visible note.
	wantStatus(t, c.post(rmaLink(num)+"/status", "status", "diagnosing", "note", "smells burnt", "visibility", "internal"), http.StatusSeeOther)
	r = e.record(num)
	ev = r.History[len(r.History)-1]
	if ev.Note != "" || ev.Extra[extraInternalNote] != "smells burnt" || r.LastNote() != "parcel complete" {
		t.Fatalf("internal note: %+v", ev)
	}
	p = c.get(rmaLink(num))
	wantIn(t, p, "smells burnt", "[internal]", "parcel complete", "staff:ann")

	// Illegal: the page again with the reason, nothing changed.
	p = c.post(rmaLink(num)+"/status", "status", "closed", "note", "x")
	wantStatus(t, p, http.StatusConflict)
	wantIn(t, p, "Refused", "Being diagnosed", "Closed")
	if e.record(num).Status != rma.StatusDiagnosing {
		t.Fatal("illegal move applied")
	}
	// Bad fields: a message beside the field.
	p = c.post(rmaLink(num)+"/status", "status", "flying", "note", "x")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, "Choose one of the statuses offered.")
	p = c.post(rmaLink(num)+"/status", "status", "repaired", "note", strings.Repeat("a", maxNoteLen+1))
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, "at most 2000 characters")

	// Note and tracking keep the status; tracking becomes searchable.
	wantStatus(t, c.post(rmaLink(num)+"/note", "note", "called the partner", "visibility", "internal"), http.StatusSeeOther)
	wantStatus(t, c.post(rmaLink(num)+"/note", "note", " "), http.StatusUnprocessableEntity)
	wantStatus(t, c.post(rmaLink(num)+"/tracking", "tracking", "1Z 999 AA1"), http.StatusSeeOther)
	p = c.post(rmaLink(num)+"/tracking", "tracking", "")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, "Enter the tracking number.")
	r = e.record(num)
	if r.Status != rma.StatusDiagnosing || len(r.History) != 5 || r.History[4].Extra[extraTracking] != "1Z 999 AA1" {
		t.Fatalf("history %+v", r.History)
	}
	wantIn(t, c.get("/console/?q=1z999aa1"), num)
	logs := e.logs.String()
	for _, want := range []string{`"action":"status"`, `"action":"status_refused"`, `"action":"note"`, `"action":"tracking"`, `"rma":"` + num + `"`, `"user":"ann"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}

func TestBulk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.newRMA(item{serial: "BK-1"})
	b := e.newRMA(item{serial: "BK-2"})
	f := e.newRMA(item{serial: "BK-3", brand: "DJI", handling: rma.HandlingForward})
	c := e.signedIn("ann", annPassword)
	p := c.post("/console/bulk", "rma", a, "rma", b, "rma", f, "status", "expired", "note", "no parcel", "back", "?status=awaiting_goods")
	wantStatus(t, p, http.StatusOK)
	wantIn(t, p, a+"</a>: ✓", b+"</a>: ✓", f+"</a>: ✗ Refused")
	for _, n := range []string{a, b} {
		if r := e.record(n); r.Status != rma.StatusExpired || r.History[1].Actor != "staff:ann" {
			t.Fatalf("%s: %s", n, r.Status)
		}
	}
	if e.record(f).Status != rma.StatusForwardedToVendor {
		t.Fatal("illegal bulk move applied")
	}
	p = c.post("/console/bulk", "status", "expired")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, "Select at least one RMA.")
}

func TestReceive(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	byNum := e.newRMA(item{serial: "RC-1", own: "PO-1", contents: "charger"})
	byOwn := e.newRMA(item{serial: "RC-2", own: "PO-2"})
	bySer := e.newRMA(item{serial: "RC-3"})
	fwd := e.newRMA(item{serial: "RC-4", brand: "DJI", handling: rma.HandlingForward})
	twinA := e.newRMA(item{partner: "P-GR-001", serial: "TWIN"})
	twinB := e.newRMA(item{partner: "P-RO-002", serial: "TWIN"})
	c := e.signedIn("ann", annPassword)
	p := c.get("/console/receive")
	wantIn(t, p, `name="code"`, "autofocus")
	for code, num := range map[string]string{byNum: byNum, "po-2": byOwn, "rc-3": bySer} {
		p = c.post("/console/receive", "code", code)
		wantStatus(t, p, http.StatusOK)
		wantIn(t, p, "✓ "+num+" received.", "Archer AX55", "defective", "Alfa Computers")
		if e.record(num).Status != rma.StatusReceived {
			t.Fatalf("%s not received", num)
		}
	}
	wantIn(t, c.post("/console/receive", "code", byNum), "charger")
	p = c.post("/console/receive", "code", byNum)
	wantIn(t, p, "✗ "+byNum+" was already received; nothing changed.")
	if n := len(e.record(byNum).History); n != 2 {
		t.Fatalf("second scan changed the history: %d entries", n)
	}
	// forwarded_to_vendor → received is legal (the vendor sends it back), so a forwarded RMA scans fine;
	// a closed one cannot be received.
	wantIn(t, c.post("/console/receive", "code", fwd), "✓")
	closed := e.newRMA(item{serial: "RC-5"})
	if _, err := e.store.SetStatus(t.Context(), closed, rma.StatusClosed, "test", "", nil, testNow); err != nil {
		t.Fatal(err)
	}
	wantIn(t, c.post("/console/receive", "code", closed), "✗ "+closed+" is in status Closed")
	wantIn(t, c.post("/console/receive", "code", "NO-SUCH-CODE"), "✗ Unknown code")
	p = c.post("/console/receive", "code", "twin")
	wantIn(t, p, "✗ 2 RMAs match", twinA, twinB, "Receive this one")
	wantIn(t, c.post("/console/receive", "code", twinB), "✓ "+twinB)
	wantIn(t, c.post("/console/receive", "code", ""), "Scan or type a code")
}

func TestTrustedProxySignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.Console.TrustedProxyHeader = "X-Remote-User"
		c.Console.TrustedProxies = []string{"127.0.0.0/8"}
	})
	req, _ := http.NewRequest("GET", e.srv.URL+"/console/", nil)
	req.Header.Set("X-Remote-User", "root")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("trusted proxy user: %d", resp.StatusCode)
	}
	// An unknown user named by the proxy is nobody.
	req.Header.Set("X-Remote-User", "mallory")
	resp, _ = e.client().http.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unknown proxy user: %d", resp.StatusCode)
	}

	// From an address outside trusted_proxies the header is ignored.
	e2 := newEnv(t, func(c *Config) {
		c.Console.TrustedProxyHeader = "X-Remote-User"
		c.Console.TrustedProxies = []string{"10.0.0.0/8"}
	})
	req, _ = http.NewRequest("GET", e2.srv.URL+"/console/", nil)
	req.Header.Set("X-Remote-User", "root")
	resp, _ = e2.client().http.Do(req)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("header from an untrusted address honoured: %d", resp.StatusCode)
	}
}

func TestGreekConsole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Console.Locale = "el" })
	e.newRMA(item{serial: "EL-1"})
	c := e.signedIn("ann", annPassword)
	p := c.get("/console/")
	wantIn(t, p, `lang="el"`, "Λίστα εργασιών", "Αναμονή παραλαβής")
}

// The RMA page links the parcel label, the same PDF the reply carried; an RMA the manufacturer
// handles has none.
func TestRMAPageLabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.ServiceCenters = config.ServiceCenters{Default: "GR",
			Centers: map[string]config.ServiceCenter{"GR": {Name: "Service Athens", Address: "Leoforos 1, Athens"}}}
	})
	num := e.newRMA(item{serial: "LBL-1"})
	fwd := e.newRMA(item{serial: "LBL-2", handling: rma.HandlingForward})
	c := e.signedIn("ann", annPassword)
	wantIn(t, c.get(rmaLink(num)), `id="label-link"`, rmaLink(num)+"/label.pdf")
	wantNotIn(t, c.get(rmaLink(fwd)), `id="label-link"`)

	p := c.get(rmaLink(num) + "/label.pdf")
	wantStatus(t, p, http.StatusOK)
	if ct := p.header.Get("Content-Type"); ct != "application/pdf" {
		t.Fatalf("content type %q", ct)
	}
	text := strings.Join(testenv.PDFText(t, []byte(p.body)), "\n")
	for _, want := range []string{num, "Alfa Computers", "LBL-1", "Service Athens"} {
		if !strings.Contains(text, want) {
			t.Errorf("label text lacks %q:\n%s", want, text)
		}
	}
	codes := testenv.Barcodes(t, []byte(p.body))
	if len(codes) == 0 {
		t.Fatal("no barcode read from the label")
	}
	for _, b := range codes {
		if b.Data != num {
			t.Errorf("barcode %+v, want %s", b, num)
		}
	}
	wantStatus(t, c.get(rmaLink(fwd)+"/label.pdf"), http.StatusNotFound)
	wantStatus(t, c.get("/console/rmas/2026/99999/label.pdf"), http.StatusNotFound)
	// Signed out: no label.
	anon := e.client()
	if p := anon.get(rmaLink(num) + "/label.pdf"); p.status != http.StatusSeeOther {
		t.Fatalf("signed out: %d", p.status)
	}
}
