// Package console is the staff console under /console/: sign-in, the worklist, the RMA page
// with its actions, bulk status changes and goods receipt by barcode scan. Pages are
// server-rendered html/template with embedded CSS; every action is a plain form POST, so
// the console works without JavaScript (it has none).
//
// Security: sessions live in Redis (a random 256-bit id in an HttpOnly, SameSite=Strict
// cookie on /console, Secure unless the console listens on loopback); every POST carries the
// session's CSRF token in the field csrf (403 without it); failed sign-ins are throttled per
// username and per client address; every answer has a CSP without script, frame-ancestors
// 'none', Referrer-Policy same-origin and nosniff. Behind a reverse proxy that signs users
// in, console.trusted_proxy_header names the user, honoured only from
// console.trusted_proxies.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/explain"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
	"github.com/rmad/rmad/web/console/staff"
)

//go:embed templates/*.html templates/parts/*.html static/*
var assets embed.FS

// Throttling of failed sign-ins.
const (
	maxFailures     = 5
	failureWindow   = 15 * time.Minute
	sessionCookie   = "rmad_session"
	loginCookie     = "rmad_login"
	requestTimeout  = 20 * time.Second
	maxFormBytes    = 64 << 10
	maxNoteLen      = 2000
	maxTrackingLen  = 200
	maxCodeLen      = 200
	pageSize        = 50
	maxBulk         = 200
	staffFileReread = 2 * time.Second
)

// Config is what New needs.
type Config struct {
	Console config.Console
	Listen  string // http.listen: the Secure cookie flag is left off on loopback only
	Store   *store.Store
	// Partner finds a partner by id; Partners lists them (for the filter).
	Partner  func(id string) (rma.Partner, bool)
	Partners func() []rma.Partner
	Policy   config.Policy // the reminder thresholds mark RMAs overdue
	// ServiceCenters and Labels make the RMA page's parcel label, as the reply's.
	ServiceCenters config.ServiceCenters
	Labels         config.Labels
	Location       *time.Location // schedule.timezone: every time shown
	// DeadLetters are the queues whose dead letters admins see and retry (inbox, outbox).
	DeadLetters []*queue.Queue
	// Jobs runs the digest and the reminders by hand (admins; the daemon's schedule).
	Jobs JobRunner
	// Explainer is the explain page's parser and rules (the daemon's, so a reload is seen).
	Explainer *explain.Explainer
	// Originals fetches the partner's original mail of an RMA (nil: the RMA page says it
	// cannot be shown).
	Originals Originals
	// Outbox queues a mail for the couriers (the re-sent reply); nil: no re-send.
	Outbox func(ctx context.Context, m outbound.Message) error
	// Estimates sends repair estimates from the RMA page; nil: no estimate form.
	Estimates EstimateSender
	Log       zerolog.Logger   // component=console is added
	Now       func() time.Time // nil: time.Now
}

// Console serves /console/.
type Console struct {
	cfg      Config
	log      zerolog.Logger
	pages    map[string]*template.Template
	mux      *http.ServeMux
	proxies  []netip.Prefix
	secure   bool
	staffMu  sync.Mutex
	staff    *staff.File
	staffMod time.Time
	staffAt  time.Time
}

// New builds the console. It fails when its templates do not parse or a trusted proxy is not
// a CIDR (config.Load checks both too).
func New(cfg Config) (*Console, error) {
	if err := i18n.ConsoleErr(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Partner == nil {
		cfg.Partner = func(string) (rma.Partner, bool) { return rma.Partner{}, false }
	}
	if cfg.Partners == nil {
		cfg.Partners = func() []rma.Partner { return nil }
	}
	c := &Console{cfg: cfg, log: cfg.Log.With().Str("component", "console").Logger(), pages: map[string]*template.Template{}}
	for _, p := range cfg.Console.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("console.trusted_proxies: %q is not a CIDR", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		c.proxies = append(c.proxies, pfx)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	c.secure = err != nil || !isLoopback(host)
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(c.funcs()).ParseFS(assets, "templates/layout.html", "templates/parts/*.html", n)
		if err != nil {
			return fmt.Errorf("console template %s: %w", n, err)
		}
		c.pages[base] = t
	}
	return nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/login", c.loginForm)
	m.HandleFunc("POST /console/login", c.login)
	m.Handle("POST /console/logout", c.auth(c.logout))
	m.Handle("GET /console/{$}", c.auth(c.worklist))
	m.Handle("POST /console/bulk", c.auth(c.bulk))
	m.Handle("GET /console/rmas/{year}/{n}", c.auth(c.rmaPage))
	m.Handle("GET /console/rmas/{year}/{n}/label.pdf", c.auth(c.labelPDF))
	m.Handle("GET /console/rmas/{year}/{n}/original", c.auth(c.originalPage))
	m.Handle("GET /console/rmas/{year}/{n}/original/{i}", c.auth(c.originalFile))
	m.Handle("POST /console/rmas/{year}/{n}/resend", c.auth(c.resend))
	m.Handle("POST /console/rmas/{year}/{n}/status", c.auth(c.setStatus))
	m.Handle("POST /console/rmas/{year}/{n}/note", c.auth(c.addNote))
	m.Handle("POST /console/rmas/{year}/{n}/tracking", c.auth(c.setTracking))
	m.Handle("POST /console/rmas/{year}/{n}/receiver-pays", c.auth(c.setReceiverPays))
	m.Handle("POST /console/rmas/{year}/{n}/estimate", c.auth(c.sendEstimate))
	m.Handle("GET /console/receive", c.auth(c.receiveForm))
	m.Handle("POST /console/receive", c.auth(c.receive))
	m.Handle("GET /console/explain", c.auth(c.explainForm))
	m.Handle("POST /console/explain", c.auth(c.explain))
	m.Handle("GET /console/jobs", c.auth(c.admin(c.jobsPage)))
	m.Handle("POST /console/jobs/run", c.auth(c.admin(c.runJob)))
	m.Handle("GET /console/dead-letters", c.auth(c.admin(c.deadLetters)))
	m.Handle("GET /console/dead-letters/{stream}/{id}", c.auth(c.admin(c.deadLetter)))
	m.Handle("POST /console/dead-letters/retry", c.auth(c.admin(c.retryDeadLetter)))
	m.Handle("/console/", c.auth(func(w http.ResponseWriter, r *http.Request, v *view) {
		c.render(w, http.StatusNotFound, "error", v, "error.not_found")
	}))
	c.mux = m
}

// ServeHTTP serves every /console/ request with the security headers, a bounded body and a
// recovered panic (a stack trace never reaches a page).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.log.Error().Str("path", r.URL.Path).Interface("panic", v).Msg("console handler panicked")
			http.Error(w, "internal error; it has been logged", http.StatusInternalServerError)
		}
	}()
	r.Body = http.MaxBytesReader(w, r.Body, c.bodyLimit(r))
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	c.mux.ServeHTTP(w, r.WithContext(ctx))
}

// view is what every page template gets.
type view struct {
	User   staff.Account
	CSRF   string
	Locale string
	Title  string
	Data   any
	Flash  string
	Error  string
	upload *multipart.Part // a multipart POST's file, unread
	ctx    context.Context // the request's
}

// context is the request's context (Background for a page rendered outside a request).
func (v *view) context() context.Context {
	if v.ctx == nil {
		return context.Background()
	}
	return v.ctx
}

func (v *view) Admin() bool { return v.User.IsAdmin() }

// actor is the staff member as an RMA history's actor.
func (v *view) actor() string { return "staff:" + v.User.Username }

type authed func(w http.ResponseWriter, r *http.Request, v *view)

// auth finds the session (or signs in the trusted proxy's user), checks the CSRF token of a
// POST, and sends everyone else to the sign-in page.
func (c *Console) auth(next authed) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := c.session(w, r)
		if err != nil {
			c.log.Error().Err(err).Msg("session")
			http.Error(w, c.word("error.unavailable"), http.StatusServiceUnavailable)
			return
		}
		if v == nil {
			if r.Method == http.MethodPost {
				// A POST replayed after sign-out: refused, not redirected into a form.
				http.Error(w, c.word("error.signed_out"), http.StatusForbidden)
				return
			}
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			var err error
			if isMultipart(r) {
				v.upload, err = readMultipart(r)
			} else {
				err = r.ParseForm()
			}
			if err != nil {
				c.render(w, http.StatusBadRequest, "error", v, "error.bad_form")
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(v.CSRF)) != 1 {
				c.log.Warn().Str("user", v.User.Username).Str("path", r.URL.Path).Msg("csrf token missing or wrong")
				c.render(w, http.StatusForbidden, "error", v, "error.csrf")
				return
			}
		}
		v.ctx = r.Context()
		next(w, r, v)
	})
}

// session returns the signed-in user's view, nil when nobody is signed in.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*view, error) {
	ctx := r.Context()
	if user := c.proxyUser(r); user != "" {
		return c.proxySession(w, r, user)
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return nil, nil
	}
	sess, err := c.cfg.Store.TouchSession(ctx, ck.Value, c.cfg.Console.SessionIdle)
	if errors.Is(err, store.ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.cfg.Now().Sub(sess.Created) > c.cfg.Console.SessionMax {
		return nil, c.cfg.Store.EndSession(ctx, ck.Value)
	}
	acct, ok := c.account(sess.User)
	if !ok { // disabled or removed since sign-in
		return nil, c.cfg.Store.EndSession(ctx, ck.Value)
	}
	return &view{User: acct, CSRF: sess.CSRF, Locale: c.locale()}, nil
}

// proxyUser is the user a trusted reverse proxy names, or "".
func (c *Console) proxyUser(r *http.Request) string {
	if c.cfg.Console.TrustedProxyHeader == "" {
		return ""
	}
	user := strings.ToLower(strings.TrimSpace(r.Header.Get(c.cfg.Console.TrustedProxyHeader)))
	if user == "" {
		return ""
	}
	a, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return ""
	}
	for _, p := range c.proxies {
		if p.Contains(a.Unmap()) {
			return user
		}
	}
	c.log.Warn().Str("remote", r.RemoteAddr).Msg("trusted proxy header from an untrusted address: ignored")
	return ""
}

// proxySession keeps a session for the proxy's user (the CSRF token needs one).
func (c *Console) proxySession(w http.ResponseWriter, r *http.Request, user string) (*view, error) {
	acct, ok := c.account(user)
	if !ok {
		return nil, nil
	}
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		sess, err := c.cfg.Store.TouchSession(r.Context(), ck.Value, c.cfg.Console.SessionIdle)
		if err == nil && sess.User == acct.Username && c.cfg.Now().Sub(sess.Created) <= c.cfg.Console.SessionMax {
			return &view{User: acct, CSRF: sess.CSRF, Locale: c.locale()}, nil
		}
	}
	sess, err := c.newSession(w, r, acct)
	if err != nil {
		return nil, err
	}
	return &view{User: acct, CSRF: sess.CSRF, Locale: c.locale()}, nil
}

func (c *Console) newSession(w http.ResponseWriter, r *http.Request, acct staff.Account) (store.Session, error) {
	id, csrf := randomToken(), randomToken()
	sess := store.Session{User: acct.Username, Role: acct.Role, CSRF: csrf, Created: c.cfg.Now().UTC()}
	if err := c.cfg.Store.PutSession(r.Context(), id, sess, c.cfg.Console.SessionIdle); err != nil {
		return sess, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/console", HttpOnly: true,
		Secure: c.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(c.cfg.Console.SessionMax.Seconds())})
	return sess, nil
}

// account returns an enabled account from the staff file, re-read when it changed, so that
// `rmad staff add|passwd|disable` takes effect without a restart.
func (c *Console) account(user string) (staff.Account, bool) {
	f := c.staffFile()
	if f == nil {
		return staff.Account{}, false
	}
	a, ok := f.Find(user)
	if !ok || a.Disabled {
		return staff.Account{}, false
	}
	return *a, true
}

func (c *Console) staffFile() *staff.File {
	c.staffMu.Lock()
	defer c.staffMu.Unlock()
	now := time.Now()
	if c.staff != nil && now.Sub(c.staffAt) < staffFileReread {
		return c.staff
	}
	c.staffAt = now
	path := c.cfg.Console.StaffFile
	st, err := os.Stat(path)
	if err == nil && c.staff != nil && st.ModTime().Equal(c.staffMod) {
		return c.staff
	}
	f, err := staff.Load(path)
	if err != nil {
		c.log.Error().Err(err).Msg("staff file unreadable: keeping the accounts read before")
		return c.staff
	}
	if st != nil {
		c.staffMod = st.ModTime()
	}
	c.staff = f
	return f
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clientIP is the address the request came from (the proxy's, behind a proxy).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Console) locale() string {
	if c.cfg.Console.Locale == "" {
		return "en"
	}
	return c.cfg.Console.Locale
}

// render writes a page; msgKey (for the error page) is a word key.
func (c *Console) render(w http.ResponseWriter, status int, page string, v *view, msgKey string) {
	t, ok := c.pages[page]
	if !ok {
		http.Error(w, "no page "+page, http.StatusInternalServerError)
		return
	}
	if v == nil {
		v = &view{Locale: c.locale()}
	}
	if msgKey != "" {
		v.Error = c.wordIn(v.Locale, msgKey)
	}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error().Err(err).Str("page", page).Msg("render")
		http.Error(w, c.word("error.internal"), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// audit logs a console action.
func (c *Console) audit(v *view, action, number string) *zerolog.Event {
	return c.log.Info().Str("user", v.User.Username).Str("action", action).Str("rma", number)
}
