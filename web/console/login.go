package console

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/rmad/rmad/web/console/staff"
)

// loginData is the sign-in form.
type loginData struct {
	Username string
}

// loginForm serves GET /console/login. Before a session exists, the form's CSRF token is a
// random value also set as a SameSite=Strict cookie; the POST must bring both, equal.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if v, err := c.session(w, r); err == nil && v != nil {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "login", c.loginView(w, r, ""), "")
}

func (c *Console) loginView(w http.ResponseWriter, r *http.Request, username string) *view {
	token := ""
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 100 {
		token = ck.Value
	} else {
		token = randomToken()
		http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/console", HttpOnly: true,
			Secure: c.secure, SameSite: http.SameSiteStrictMode})
	}
	return &view{CSRF: token, Locale: c.locale(), Data: loginData{Username: username}}
}

// login serves POST /console/login: 303 to the worklist with a session cookie, or the form
// again with one message for every failure (401), or 429 while throttled.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "login", c.loginView(w, r, ""), "error.bad_form")
		return
	}
	username := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	if len(username) > 64 {
		username = username[:64]
	}
	password := r.PostForm.Get("password")
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		c.render(w, http.StatusForbidden, "login", c.loginView(w, r, username), "error.csrf")
		return
	}
	ctx := r.Context()
	keys := []string{"user:" + username, "ip:" + clientIP(r)}
	for _, k := range keys {
		n, err := c.cfg.Store.Failures(ctx, k)
		if err != nil {
			c.log.Error().Err(err).Msg("login throttle")
			c.render(w, http.StatusServiceUnavailable, "login", c.loginView(w, r, username), "error.unavailable")
			return
		}
		if n >= maxFailures {
			c.log.Warn().Str("user", username).Str("remote", clientIP(r)).Str("action", "login").Msg("sign-in throttled")
			c.render(w, http.StatusTooManyRequests, "login", c.loginView(w, r, username), "login.throttled")
			return
		}
	}
	f := c.staffFile()
	if f == nil {
		f = &staff.File{}
	}
	acct, ok := f.Authenticate(username, password)
	if !ok {
		for _, k := range keys {
			if _, err := c.cfg.Store.AddFailure(ctx, k, failureWindow); err != nil {
				c.log.Error().Err(err).Msg("login throttle")
			}
		}
		c.log.Warn().Str("user", username).Str("remote", clientIP(r)).Str("action", "login").Msg("sign-in failed")
		c.render(w, http.StatusUnauthorized, "login", c.loginView(w, r, username), "login.failed")
		return
	}
	for _, k := range keys {
		_ = c.cfg.Store.ClearFailures(ctx, k)
	}
	if _, err := c.newSession(w, r, acct); err != nil {
		c.log.Error().Err(err).Msg("session")
		c.render(w, http.StatusServiceUnavailable, "login", c.loginView(w, r, username), "error.unavailable")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/console", MaxAge: -1})
	c.log.Info().Str("user", acct.Username).Str("action", "login").Msg("signed in")
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// logout serves POST /console/logout.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *view) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.cfg.Store.EndSession(r.Context(), ck.Value); err != nil {
			c.log.Error().Err(err).Msg("sign out")
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true,
		Secure: c.secure, SameSite: http.SameSiteStrictMode})
	c.log.Info().Str("user", v.User.Username).Str("action", "logout").Msg("signed out")
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}
