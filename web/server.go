package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/internal/recovered"
	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Store is what the HTTP side needs of the RMA store (store.Store implements it).
type Store interface {
	webhook.Responses
	Get(ctx context.Context, number string) (rma.Record, error)
	Lookup(ctx context.Context, partnerID, query string) ([]rma.Record, error)
	ChangeStatus(ctx context.Context, c store.StatusChange) (store.StatusChanged, error)
}

// Submitter runs a submission through the daemon's pipeline, the same one mail takes: rules
// evaluate it, the store numbers, deduplicates and records it, and with notify the partner's
// reply email is queued. It returns the decisions as stored (numbers set; on a replay of the
// same delivery, the first decisions). It counts the submission in the metrics; the HTTP side
// does not, so nothing is counted twice.
type Submitter interface {
	Submit(ctx context.Context, sub rma.Submission, notify bool) ([]rma.Decision, error)
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes int64 = 10 << 20 // a submission with a few scanned invoices, base64-encoded
	vendorBodyBytes     int64 = 64 << 10 // a vendor status is a few hundred bytes
	maxHeaderBytes            = 64 << 10
	maxConcurrentBodies       = 16               // large bodies read at once: bounds memory under a flood
	smallBody           int64 = 64 << 10         // bodies up to this size are read without a slot
	defaultBodyWait           = 10 * time.Second // for a slot to read a large body
	healthTimeout             = 3 * time.Second
	shutdownGrace             = 15 * time.Second
)

// HealthDown is the Health status for which GET /healthz answers 503.
const HealthDown = "down"

// Config is what New needs. Store, Submitter and the partner look-ups are required for the
// routes that use them; a missing one makes those routes answer 503.
type Config struct {
	HTTP    config.HTTP
	Sources []config.WebhookSource

	Store     Store
	Submitter Submitter
	// PartnerByToken finds the partner whose api_token_sha256 is the given hex digest, comparing
	// in constant time ((*rules.Partners).ByTokenSHA256 does).
	PartnerByToken func(sha256hex string) (rma.Partner, bool)
	// PartnerByID finds a partner by id ((*rules.Partners).ByID).
	PartnerByID func(id string) (rma.Partner, bool)
	// Health reports each component (Redis, SMTP, mailboxes, queues) and the overall status:
	// "ok", "degraded" (200 all the same) or HealthDown (503); nil means always "ok".
	Health func(ctx context.Context) (status string, checks map[string]any)

	// Console serves /console/ (the staff console); nil: no console.
	Console http.Handler
	// Estimates answers the partners' signed estimate links under /estimate/; nil: 503.
	Estimates EstimateLinks

	Metrics *metrics.Metrics // nil: a private one (GET /metrics still works)
	Log     zerolog.Logger
	Now     func() time.Time // nil: time.Now

	MaxBodyBytes int64         // submission bodies; 0: DefaultMaxBodyBytes
	MaxItems     int           // limits.max_items_per_submission; 0: config.DefaultMaxItems
	Tolerance    time.Duration // webhook timestamp window; 0: DefaultTolerance
}

// Server is rmad's HTTP server.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	sources  map[string]*webhook.Source
	guard    webhook.Guard
	bodies   chan struct{}
	bodyWait time.Duration
	handler  http.Handler
}

// New builds the server. A source with a configuration error is logged and its deliveries are
// answered 500 "source misconfigured" (config.Load refuses such a configuration anyway).
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = config.DefaultMaxItems
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log.With().Str("component", "http").Logger(),
		sources:  map[string]*webhook.Source{},
		bodies:   make(chan struct{}, maxConcurrentBodies),
		bodyWait: defaultBodyWait,
		guard:    webhook.Guard{Responses: cfg.Store},
	}
	for _, sc := range cfg.Sources {
		src := webhook.NewSource(sc, cfg.Tolerance, cfg.Now)
		if src.Err != nil {
			s.log.Error().Err(src.Err).Str("source", sc.Name).Msg("webhook source unusable: its deliveries will be refused with 500")
		} else if n := src.ShortestKey(); n < webhook.MinKeyBytes {
			s.log.Warn().Str("source", sc.Name).Int("key_bytes", n).
				Msgf("webhook secret is short: use at least %d random bytes (openssl rand -base64 32)", webhook.MinKeyBytes)
		}
		s.sources[sc.Name] = src
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/{source}", s.handleWebhook)
	mux.Handle("POST /api/v1/submissions", s.apiHandler(s.apiSubmission))
	mux.Handle("GET /api/v1/rmas", s.apiHandler(s.apiLookup))
	mux.HandleFunc("GET /estimate/{token}/{answer}", s.handleEstimateLink)
	mux.HandleFunc("POST /estimate/{token}/{answer}", s.handleEstimateLink)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", cfg.Metrics.Handler())
	if cfg.Console != nil {
		mux.Handle("/console/", cfg.Console)
	}
	s.handler = s.recoverPanics(problemRouting(mux))
	return s
}

// Handler is the whole HTTP API (for httptest and for embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops accepting, lets
// requests in flight finish for up to 15 s, then closes what is left.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.httpServer(ctx, s.handler)
	errc := make(chan error, 1)
	// Slow clients must not hold connections: the header within 10 s, a whole (large)
	// submission within a minute.
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info().Str("listen", ln.Addr().String()).Msg("http server listening")
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("http requests still running after the grace period: closing them")
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", serr)
	}
	s.log.Info().Msg("http server stopped")
	return nil
}

// httpServer is the net/http server for h, with its timeouts and its own messages (TLS noise,
// superfluous WriteHeader calls, a handler's panic) in the JSON log.
func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// Slow clients must not hold connections: the header within 10 s, a whole (large)
		// submission within a minute.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      webhook.ProcessTimeout + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(errorLogWriter{s.log}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// errorLogWriter turns each line net/http logs into a warning of component http.
type errorLogWriter struct{ log zerolog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// recoverPanics turns a panic into a 500 problem: bad input must never take the daemon down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("method", r.Method).Str("path", r.URL.Path).Interface("panic", v).Msg("http handler panicked")
				recovered.Panic(v)
				pkInternal.with("the request could not be handled; it has been logged").write(w)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// problemRouting answers requests no route matches (404, 405) with problem+json rather than
// ServeMux's text/plain.
func problemRouting(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, pattern := mux.Handler(r); pattern == "" {
			h.ServeHTTP(&routeMissWriter{ResponseWriter: w, r: r}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// routeMissWriter replaces ServeMux's plain-text 404 and 405 with problems, keeping the
// Allow header of a 405. Other statuses (redirects to a cleaned path) pass through.
type routeMissWriter struct {
	http.ResponseWriter
	r       *http.Request
	swapped bool
}

func (w *routeMissWriter) WriteHeader(code int) {
	var a answer
	switch code {
	case http.StatusNotFound:
		a = pkNotFound.with(fmt.Sprintf("no route for %s %s; the routes are POST /webhooks/{source}, POST /api/v1/submissions, GET /api/v1/rmas?q=, GET and POST /estimate/{token}/{accept|decline}, GET /healthz, GET /metrics", w.r.Method, w.r.URL.Path))
	case http.StatusMethodNotAllowed:
		a = pkMethod.with(fmt.Sprintf("%s is not allowed on %s; allowed: %s", w.r.Method, w.r.URL.Path, w.Header().Get("Allow")))
	default:
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.swapped = true
	w.Header().Del("Content-Type")
	a.write(w.ResponseWriter)
}

func (w *routeMissWriter) Write(b []byte) (int, error) {
	if w.swapped {
		return len(b), nil // ServeMux's own text; the problem is already written
	}
	return w.ResponseWriter.Write(b)
}

// readBody reads a request body up to limit bytes. Bodies beyond smallBody bytes are read in
// at most maxConcurrentBodies requests at once, so a flood of large bodies cannot exhaust
// memory before their signatures are checked; small bodies (vendor statuses, most
// submissions) never wait for that, so slow large uploads cannot hold them up.
func (s *Server) readBody(r *http.Request, limit int64) ([]byte, *answer) {
	if r.ContentLength > limit {
		a := pkTooLarge.with(fmt.Sprintf("the body is %d bytes; the limit is %d bytes", r.ContentLength, limit))
		return nil, &a
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, smallBody)))
	}
	body := io.LimitReader(r.Body, limit+1)
	_, err := buf.ReadFrom(io.LimitReader(body, smallBody))
	if err == nil && int64(buf.Len()) == smallBody {
		wait := time.NewTimer(s.bodyWait)
		select {
		case s.bodies <- struct{}{}:
			wait.Stop()
			_, err = buf.ReadFrom(body)
			<-s.bodies
		case <-wait.C:
			a := pkUnavailable.with("too many large requests are being received right now; retry in a minute")
			a.retryAfter = 60
			return nil, &a
		case <-r.Context().Done():
			a := pkUnavailable.with("the request was cancelled while waiting to be read")
			return nil, &a
		}
	}
	if err != nil {
		a := pkBadBody.with("reading the body failed: " + err.Error())
		return nil, &a
	}
	if int64(buf.Len()) > limit {
		a := pkTooLarge.with(fmt.Sprintf("the body is larger than the limit of %d bytes", limit))
		return nil, &a
	}
	return buf.Bytes(), nil
}

// checkJSONType accepts a JSON media type, or none (some senders leave it out).
func checkJSONType(r *http.Request) *answer {
	ct := r.Header.Get("Content-Type")
	if ct == "" || ct == "application/json" { // the usual header needs no parse (its map of parameters)
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	a := pkMediaType.with(fmt.Sprintf("Content-Type %q: send the body as application/json", webhook.Clip(ct, 80)))
	return &a
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	status, details := "ok", map[string]any{}
	if s.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		status, details = s.cfg.Health(ctx)
		cancel()
	}
	if status == HealthDown {
		a := problemAnswer(Problem{Type: problemTypePrefix + pkUnavailable.slug, Title: pkUnavailable.title,
			Status: pkUnavailable.status, Detail: "rmad cannot take or answer mail now; see checks", Checks: details})
		a.write(w)
		return
	}
	jsonAnswer(http.StatusOK, map[string]any{"status": status, "checks": details}).write(w)
}

// unavailable answers for a route whose dependency was not wired in.
func unavailable(what string) answer {
	return pkUnavailable.with(what + " is not available on this instance")
}
