package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/mailbox"
	"github.com/rmad/rmad/mailauth"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

func init() {
	register(&command{
		name:  "doctor",
		short: "check that rmad can work: config, data files, Redis, every IMAP mailbox, OAuth tokens and SMTP (sends nothing)",
		run:   runDoctor,
	})
}

// doctorTimeout bounds each network check.
const doctorTimeout = 30 * time.Second

// doctor prints one line per check, ✓ or ✗ with what to do, and counts the failures.
type doctor struct {
	w      io.Writer
	failed int
}

func (d *doctor) ok(what, format string, args ...any) {
	fmt.Fprintf(d.w, "✓ %s: %s\n", what, fmt.Sprintf(format, args...))
}

func (d *doctor) fail(what string, err error, todo string) {
	d.failed++
	line := fmt.Sprintf("✗ %s: %v", what, err)
	if todo != "" {
		line += " — " + todo
	}
	fmt.Fprintln(d.w, line)
}

// runDoctor runs every check even after a failure, so the admin sees all there is to fix at
// once; it exits 1 when any check failed.
func runDoctor(env *cliEnv, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "rmad doctor: unexpected arguments: %s\n", strings.Join(args, " "))
		return 2
	}
	d := &doctor{w: env.stdout}
	cfg, err := config.Load(env.configPath)
	if err != nil {
		var cerrs *config.Errors
		if errors.As(err, &cerrs) {
			for _, e := range cerrs.List {
				d.fail("config", errors.New(e.Error()), "")
			}
		} else {
			d.fail("config", err, "")
		}
		fmt.Fprintf(env.stdout, "doctor: %s NOT OK (fix the config first: rmad check-config lists the same problems)\n", plural(d.failed, "problem"))
		return 1
	}
	d.ok("config", "%s loads", cfg.Path)
	d.dataFiles(cfg)
	d.redis(cfg)
	for _, m := range cfg.IMAP {
		d.imap(m)
	}
	d.smtp(cfg.SMTP)
	if d.failed > 0 {
		fmt.Fprintf(env.stdout, "doctor: %s; rmad will not work until they are fixed\n", plural(d.failed, "problem"))
		return 1
	}
	fmt.Fprintln(env.stdout, "doctor: everything rmad needs works; start it with systemctl start rmad")
	return 0
}

func (d *doctor) dataFiles(cfg *config.Config) {
	data, err := rules.LoadData(cfg)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			d.fail("data files", errors.New(line), "fix the file, then run rmad doctor again")
		}
		return
	}
	sales := "no sales file"
	if cfg.SalesFile != "" {
		sales = plural(data.Sales.Len(), "sales record")
	}
	d.ok("data files", "%s, %s, %s", plural(data.Partners.Len(), "partner"), plural(data.Catalog.Len(), "product"), sales)
}

func (d *doctor) redis(cfg *config.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), doctorTimeout)
	defer cancel()
	rdb, err := store.Connect(ctx, cfg.Redis)
	if err != nil {
		d.fail("redis", err, "check redis.url (or sentinel/cluster) and the password, and that Redis runs")
		return
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		d.fail("redis", fmt.Errorf("PING: %w", err), "check redis.url and the password, and that Redis runs")
		return
	}
	d.ok("redis", "answers PING")
	if err := store.CheckPersistence(ctx, rdb, false); err != nil {
		if cfg.Redis.AllowVolatile {
			d.ok("redis", "no AOF persistence, allowed by redis.allow_volatile (tests and demos only)")
		} else {
			d.fail("redis", err, "")
		}
	} else {
		d.ok("redis", "AOF persistence is on")
	}
	switch policy, err := store.MemoryPolicy(ctx, rdb); {
	case err != nil:
		d.fail("redis", err, "check that rmad's Redis user may run CONFIG GET or INFO")
	case policy != "noeviction":
		d.fail("redis", fmt.Errorf("maxmemory-policy is %s, so a full Redis would evict queued mail and RMA records", policy),
			"set it to noeviction: redis-cli CONFIG SET maxmemory-policy noeviction, then redis-cli CONFIG REWRITE (or maxmemory-policy noeviction in redis.conf)")
	default:
		d.ok("redis", "maxmemory-policy is noeviction")
	}
}

func (d *doctor) imap(m config.Mailbox) {
	what := "imap " + m.Name
	var tokens *mailauth.Tokens
	if config.UsesOAuth(m.Auth) {
		tokens = mailauth.NewTokens(*m.OAuth2, nil)
		if !d.token(what, tokens, m.OAuth2) {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), doctorTimeout)
	defer cancel()
	res, err := mailbox.Probe(ctx, m, tokens)
	if err != nil {
		d.fail(what, err, loginAdvice(err, m.Auth, what, "IMAP.AccessAsApp"))
		return
	}
	d.ok(what, "logged in to %s as %s (auth %s, tls %s)", m.Address, m.Username, m.Auth, m.TLS)
	var caps []string
	for _, c := range []struct {
		name string
		has  bool
	}{{"IDLE", res.IDLE}, {"MOVE", res.MOVE}, {"UIDPLUS", res.UIDPLUS}} {
		if c.has {
			caps = append(caps, c.name)
		}
	}
	switch {
	case !res.MOVE && !res.UIDPLUS:
		d.fail(what, mailbox.ErrNoSafeMove, "use a server (or a setting of it) that offers MOVE or UIDPLUS")
	case !res.IDLE && m.UseIDLE():
		d.ok(what, "capabilities %s; no IDLE, so rmad polls every %s (imap[].poll_interval)", strings.Join(caps, " "), m.PollInterval)
	default:
		d.ok(what, "capabilities %s", strings.Join(caps, " "))
	}
	for _, f := range res.Folders {
		switch {
		case f.Err != nil && f.Key == "mailbox":
			d.fail(what, fmt.Errorf("folder %q does not exist: %w", f.Name, f.Err), "fix imap[].mailbox or create the folder")
		case f.Err != nil:
			d.fail(what, fmt.Errorf("folder %q (%s) is missing and cannot be made: %w", f.Name, f.Key, f.Err), "create it, or name a folder the login may make")
		case f.Created:
			d.ok(what, "folder %q (%s) was missing and is made now", f.Name, f.Key)
		default:
			d.ok(what, "folder %q (%s) exists", f.Name, f.Key)
		}
	}
}

func (d *doctor) smtp(s config.SMTP) {
	sender := outbound.NewSender(s, zerolog.Nop())
	sender.Timeout = doctorTimeout
	if tokens := sender.Tokens(); tokens != nil && !d.token("smtp", tokens, s.OAuth2) {
		return
	}
	tlsOn, exts, err := sender.Probe(context.Background())
	if err != nil {
		d.fail("smtp", err, loginAdvice(err, s.Auth, "smtp", "SMTP.SendAsApp"))
		return
	}
	how := "without logging in (smtp.username is empty)"
	if s.Username != "" {
		how = fmt.Sprintf("logged in as %s (auth %s)", s.Username, s.Auth)
	}
	tlsText := "no TLS (loopback)"
	if tlsOn {
		tlsText = "TLS"
	}
	d.ok("smtp", "%s: %s, %s, offers %s; nothing sent", s.Address, how, tlsText, strings.Join(exts, " "))
}

// token gets an access token and says so; it reports whether one came.
func (d *doctor) token(what string, tokens *mailauth.Tokens, o *config.OAuth2) bool {
	ctx, cancel := context.WithTimeout(context.Background(), doctorTimeout)
	defer cancel()
	if _, err := tokens.Token(ctx); err != nil {
		d.fail(what, err, "check oauth2.token_url, client_id, the client secret and scopes (README: Microsoft 365 and Google)")
		return false
	}
	d.ok(what, "got an OAuth token (%s grant) from %s for %s", tokens.Grant(), o.TokenURL, strings.Join(o.Scopes, " "))
	return true
}

// loginAdvice says what to do about a failed connection or login to what ("imap NAME", "smtp").
func loginAdvice(err error, auth, what, permission string) string {
	var refused *mailauth.RefusedError
	switch {
	case errors.As(err, &refused):
		return "the token is valid but the mailbox does not accept it: Microsoft 365 needs " + permission +
			" with admin consent, the app's service principal registered in Exchange and FullAccess on the mailbox; " +
			"Google needs the scope https://mail.google.com/ and the mailbox's own refresh token"
	case strings.Contains(err.Error(), "connect"), strings.Contains(err.Error(), "greeting"):
		return "check the address and tls of " + what + ", and that the server is reachable from here"
	case config.UsesOAuth(auth):
		return "check the username (the mailbox's address) and auth of " + what
	}
	return "check the username and password of " + what
}
