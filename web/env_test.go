package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// testNow is the clock of every test: the fixtures' purchases (spring 2026) are in warranty.
var testNow = time.Date(2026, 6, 1, 9, 30, 0, 0, time.UTC)

// API tokens of the test partners; their digests replace the fixture's in a copy of
// testdata/partners.yaml (the fixture's tokens themselves are unknown).
const (
	tokenGR = "token-of-alfa-computers"
	tokenRO = "token-of-nova-it"
)

// Products of testdata/catalog.csv.
const (
	eanDJI    = "6903466000031" // DJI Mini 4 Pro: forward, serial and fault type required
	eanTPLink = "5204001000013" // TP-Link Archer AX55: in_house
)

// pipeline is the test Submitter: the real rules engine and the real store, as the daemon's.
type pipeline struct {
	engine *rules.Engine
	store  *store.Store
	now    func() time.Time

	mu       sync.Mutex
	notified []rma.Submission
}

func (p *pipeline) Submit(ctx context.Context, sub rma.Submission, notify bool) ([]rma.Decision, error) {
	now := p.now()
	out, err := p.store.Commit(ctx, sub, p.engine.Evaluate(sub, now), now)
	if err != nil {
		return nil, err
	}
	if notify {
		p.mu.Lock()
		p.notified = append(p.notified, sub)
		p.mu.Unlock()
	}
	return out.Decisions, nil
}

func (p *pipeline) notifications() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.notified)
}

// env is a server wired to the real store on the test Redis.
type env struct {
	t        testing.TB
	srv      *Server
	h        http.Handler
	store    *store.Store
	pipe     *pipeline
	partners *rules.Partners
	metrics  *metrics.Metrics
	secrets  map[string][]string // source → secrets, newest last
	now      time.Time
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	prefix := "test:" + randomHex(6) + ":" // every test gets its own keys
	st := store.New(c, prefix)

	cfg := testConfig(t)
	data, err := rules.LoadData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	engine := rules.NewEngine(cfg, data)
	e := &env{t: t, store: st, partners: data.Partners, now: testNow, metrics: metrics.New(),
		secrets: map[string][]string{"dji": {webhook.NewSecret(), webhook.NewSecret()}, "portal": {webhook.NewSecret()}}}
	clock := func() time.Time { return e.now }
	e.pipe = &pipeline{engine: engine, store: st, now: clock}
	sc := Config{
		HTTP: config.HTTP{Listen: "127.0.0.1:0"},
		Sources: []config.WebhookSource{
			{Name: "dji", Kind: config.WebhookVendorStatus, Secrets: secretsOf(e.secrets["dji"]),
				StatusMap: map[string]string{"RECEIVED": "received", "IN_REPAIR": "repairing", "REPAIRED": "repaired",
					"REPLACED": "replaced", "REJECTED": "rejected_warranty_void", "SHIPPED": "shipped_back"}},
			{Name: "portal", Kind: config.WebhookSubmission, Secrets: secretsOf(e.secrets["portal"])},
		},
		Store:          st,
		Submitter:      e.pipe,
		PartnerByToken: data.Partners.ByTokenSHA256,
		PartnerByID:    data.Partners.ByID,
		Health: func(ctx context.Context) (string, map[string]any) {
			if err := c.Ping(ctx).Err(); err != nil {
				return HealthDown, map[string]any{"redis": errText(err)}
			}
			return "ok", map[string]any{"redis": "ok"}
		},
		Metrics: e.metrics,
		Log:     zerolog.Nop(),
		Now:     clock,
	}
	for _, o := range opts {
		o(&sc)
	}
	e.srv = New(sc)
	e.h = e.srv.Handler()
	return e
}

func errText(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func secretsOf(ss []string) []config.Secret {
	out := make([]config.Secret, len(ss))
	for i, s := range ss {
		out[i] = config.Secret(s)
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testConfig is the sample configuration (testenv.SampleConfig) with the fixture data files; the
// partners file is a copy with tokens whose plain text the tests know.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	raw, err := os.ReadFile("../testdata/partners.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(raw), "f9b324185925001647f3f69500b2a2ab936d8c5ead586f4f95634072de390873", sha256Text(tokenGR), 1)
	text = strings.Replace(text, "dc19ce81fcad2508ebe1514e4322ed02dd56692e95686b70aa33d563c8543b84", sha256Text(tokenRO), 1)
	if text == string(raw) {
		t.Fatal("testdata/partners.yaml changed: the token digests to replace are gone")
	}
	partners := filepath.Join(t.TempDir(), "partners.yaml")
	if err := os.WriteFile(partners, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testenv.SampleConfig("../testdata")
	cfg.PartnersFile = partners
	cfg.Schedule = config.Schedule{Timezone: "UTC", Location: time.UTC}
	return cfg
}

func sha256Text(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pdfProof is a minimal PDF invoice attachment.
var pdfProof = map[string]any{"filename": "invoice.pdf", "content_type": "application/pdf",
	"content_base64": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"))}

// djiItem is a valid DJI claim (forwarded to the vendor).
func djiItem(serial string) map[string]any {
	return map[string]any{"ean": eanDJI, "serial": serial, "purchase_date": "2026-05-04",
		"description": "Gimbal does not level after power on", "fault_type": "gimbal error", "own_number": "OWN-" + serial}
}

func tplinkItem(serial string) map[string]any {
	return map[string]any{"ean": eanTPLink, "serial": serial, "purchase_date": "2026-02-10",
		"description": "Router reboots every few minutes under load", "own_number": "OWN-" + serial}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newRMA commits one item for partner through the pipeline and returns its number.
func (e *env) newRMA(partner string, item map[string]any) string {
	e.t.Helper()
	p, ok := e.partners.ByID(partner)
	if !ok {
		e.t.Fatalf("no partner %s", partner)
	}
	var in webhook.SubmissionBody
	if err := json.Unmarshal(mustJSON(e.t, map[string]any{"items": []any{item}, "attachments": []any{pdfProof}}), &in); err != nil {
		e.t.Fatal(err)
	}
	sub, bad := e.srv.buildSubmission(in, p, rma.Source{Channel: "api", WebhookID: "setup:" + randomHex(8)}, "setup")
	if bad != nil {
		e.t.Fatalf("setup submission: %s", bad.body)
	}
	ds, err := e.pipe.Submit(context.Background(), sub, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Number == "" || ds[0].Result != rma.ResultAccepted {
		e.t.Fatalf("setup RMA not accepted: %+v", ds)
	}
	return ds[0].Number
}

func (e *env) record(number string) rma.Record {
	e.t.Helper()
	r, err := e.store.Get(context.Background(), number)
	if err != nil {
		e.t.Fatalf("get %s: %v", number, err)
	}
	return r
}

// delivery is a webhook request to send.
type delivery struct {
	source, id string
	body       []byte
	secret     string    // "" → the source's newest
	at         time.Time // zero → env.now
	headers    map[string]string
}

func (e *env) request(d delivery) *http.Request {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/"+d.source, bytes.NewReader(d.body))
	r.Header.Set("Content-Type", "application/json")
	secret := d.secret
	if secret == "" {
		ss := e.secrets[d.source]
		if len(ss) == 0 {
			ss = []string{webhook.NewSecret()}
		}
		secret = ss[len(ss)-1]
	}
	at := d.at
	if at.IsZero() {
		at = e.now
	}
	if err := webhook.SignRequest(r, secret, d.id, at, d.body); err != nil {
		e.t.Fatal(err)
	}
	for k, v := range d.headers {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	return r
}

func (e *env) deliver(d delivery) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.serve(e.request(d))
}

func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// api sends a partner API request with a bearer token ("" → none).
func (e *env) api(method, target, token string, body []byte) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return e.serve(r)
}

// wantProblem checks a problem answer: status, media type, and a type, title and detail.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, status int, slug string) Problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != ContentTypeProblem {
		t.Fatalf("Content-Type %q, want %s", ct, ContentTypeProblem)
	}
	var p Problem
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", w.Body, err)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || p.Type != problemTypePrefix+slug {
		t.Fatalf("problem %+v, want status %d, type %s, a title and a detail", p, status, slug)
	}
	return p
}

func wantJSON(t testing.TB, w *httptest.ResponseRecorder, status int, v any) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != ContentTypeJSON {
		t.Fatalf("Content-Type %q, want %s", ct, ContentTypeJSON)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
}

func vendorBody(t testing.TB, number, status string) []byte {
	return mustJSON(t, map[string]string{"rma_number": number, "vendor_reference": "DJI-CASE-77",
		"status": status, "note": "unit received at the EU hub", "tracking": "1Z999AA10123456784"})
}

func fmtID(prefix string, i int) string { return fmt.Sprintf("%s_%04d", prefix, i) }

func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue() + out.GetGauge().GetValue()
}
