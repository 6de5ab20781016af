package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

func TestAPIAuth(t *testing.T) {
	e := newEnv(t)
	e.newRMA("P-GR-001", djiItem("SN-DJI-0001"))
	for name, r := range map[string]*http.Request{
		"no header":     httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", ""),
		"wrong token":   httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", "Bearer not-a-token"),
		"digest itself": httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", "Bearer "+sha256Text(tokenGR)),
		"basic scheme":  httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", "Basic "+tokenGR),
		"empty bearer":  httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", "Bearer "),
		"submission":    httpReq("POST", "/api/v1/submissions", "Bearer wrong"),
	} {
		t.Run(name, func(t *testing.T) {
			w := e.serve(r)
			wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	// The scheme is case-insensitive (RFC 9110).
	if w := e.serve(httpReq("GET", "/api/v1/rmas?q=SN-DJI-0001", "bearer "+tokenGR)); w.Code != http.StatusOK {
		t.Fatalf("lower-case scheme: %d %s", w.Code, w.Body)
	}
}

func httpReq(method, target, auth string) *http.Request {
	r, _ := http.NewRequest(method, target, nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestAPILookupOwnRMAsOnly(t *testing.T) {
	e := newEnv(t)
	grNum := e.newRMA("P-GR-001", djiItem("SN-SHARED"))
	roNum := e.newRMA("P-RO-002", djiItem("SN-SHARED")) // the same serial, another partner
	roOnly := e.newRMA("P-RO-002", tplinkItem("RO-ONLY"))
	// A vendor update shows in the history with its reference and tracking.
	wantJSON(t, e.deliver(delivery{source: "dji", id: "msg_1", body: vendorBody(t, grNum, "RECEIVED")}), 200, &vendorStatusAnswer{})

	lookup := func(token, q string) lookupAnswer {
		t.Helper()
		var got lookupAnswer
		wantJSON(t, e.api("GET", "/api/v1/rmas?q="+url.QueryEscape(q), token, nil), http.StatusOK, &got)
		return got
	}
	got := lookup(tokenGR, "SN-SHARED")
	if len(got.RMAs) != 1 || got.RMAs[0].RMANumber != grNum {
		t.Fatalf("GR sees %+v, want only %s", got.RMAs, grNum)
	}
	v := got.RMAs[0]
	if v.Status != rma.StatusReceived || v.StatusName == "" || v.StatusName == "received" || v.Brand != "DJI" ||
		v.Handling != rma.HandlingForward || v.Warranty != "in_warranty" || v.WarrantyUntil != "2027-05-04" || len(v.History) != 2 {
		t.Fatalf("view %+v", v)
	}
	if h := v.History[1]; h.Actor != "vendor:dji" || h.VendorReference != "DJI-CASE-77" || h.Tracking != "1Z999AA10123456784" {
		t.Fatalf("history %+v", h)
	}
	if strings.Contains(mustString(t, e.api("GET", "/api/v1/rmas?q=SN-SHARED", tokenGR, nil)), "webhook_id") {
		t.Error("internal delivery ids shown to the partner")
	}
	// Another partner's RMA is invisible by number, serial and own number.
	for _, q := range []string{roNum, roOnly, "RO-ONLY", "OWN-RO-ONLY"} {
		if got := lookup(tokenGR, q); len(got.RMAs) != 0 {
			t.Errorf("GR sees RO's RMA for %q: %+v", q, got.RMAs)
		}
	}
	if got := lookup(tokenRO, "OWN-RO-ONLY"); len(got.RMAs) != 1 || got.RMAs[0].RMANumber != roOnly {
		t.Errorf("RO's own number: %+v", got.RMAs)
	}
	if got := lookup(tokenRO, roNum); len(got.RMAs) != 1 {
		t.Errorf("RO by number: %+v", got.RMAs)
	}
	if got := lookup(tokenGR, "nothing-like-this"); got.RMAs == nil || len(got.RMAs) != 0 {
		t.Errorf("no match must be an empty list: %+v", got)
	}
	wantProblem(t, e.api("GET", "/api/v1/rmas", tokenGR, nil), http.StatusBadRequest, "missing-query")
	wantProblem(t, e.api("GET", "/api/v1/rmas?q="+strings.Repeat("x", maxQueryLen+1), tokenGR, nil), http.StatusBadRequest, "missing-query")
}

func mustString(t *testing.T, w interface{ Result() *http.Response }) string {
	t.Helper()
	b, err := io.ReadAll(w.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAPISubmission(t *testing.T) {
	e := newEnv(t)
	body := mustJSON(t, map[string]any{"items": []any{tplinkItem("RT-88812")}, "attachments": []any{pdfProof}})
	var got submissionAnswer
	w := e.api("POST", "/api/v1/submissions", tokenRO, body)
	wantJSON(t, w, http.StatusOK, &got)
	if len(got.Results) != 1 || got.Results[0].Result != rma.ResultAccepted || got.Results[0].Handling != "in_house" {
		t.Fatalf("answer %s", w.Body)
	}
	num := got.Results[0].RMANumber
	rec := e.record(num)
	if rec.PartnerID != "P-RO-002" || rec.Source.Channel != "api" || rec.Status != rma.StatusAwaitingGoods {
		t.Fatalf("record %+v", rec)
	}
	if e.pipe.notifications() != 0 {
		t.Fatal("notify defaults to false")
	}
	// The same request again is recognised: the same answer, no second RMA.
	again := e.api("POST", "/api/v1/submissions", tokenRO, body)
	if again.Code != 200 || again.Body.String() != w.Body.String() {
		t.Fatalf("resent request: %d %s", again.Code, again.Body)
	}
	// Accept-Language picks the words; the partner's own id is accepted in the body.
	r := httpReq("POST", "/api/v1/submissions", "Bearer "+tokenRO)
	r.Body = io.NopCloser(strings.NewReader(string(mustJSON(t, map[string]any{"partner": "p-ro-002",
		"items": []any{map[string]any{"ean": "123"}}, "attachments": []any{pdfProof}}))))
	r.Header.Set("Accept-Language", "fr-FR;q=0.4, en;q=0.9")
	w = e.serve(r)
	wantJSON(t, w, 200, &got)
	if !strings.Contains(got.Results[0].Message, "EAN") || strings.ContainsAny(got.Results[0].Message, "ăîșțâ") {
		t.Errorf("English message wanted: %q", got.Results[0].Message)
	}

	other := mustJSON(t, map[string]any{"partner": "P-GR-001", "items": []any{tplinkItem("X")}, "attachments": []any{pdfProof}})
	wantProblem(t, e.api("POST", "/api/v1/submissions", tokenRO, other), http.StatusForbidden, "partner-mismatch")
	wantProblem(t, e.api("POST", "/api/v1/submissions", tokenRO, []byte(`{"items":[],"extra":1}`)), http.StatusBadRequest, "malformed-json")
	wantProblem(t, e.api("POST", "/api/v1/submissions", tokenRO, []byte(`{"items":[]`)), http.StatusBadRequest, "malformed-json")
	if recs, _ := e.store.Lookup(t.Context(), "", "OWN-X"); len(recs) != 0 {
		t.Fatal("a refused request created an RMA")
	}
}

func TestRoutingProblems(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.serve(httpReq("GET", "/nope", "")), http.StatusNotFound, "not-found")
	w := e.serve(httpReq("GET", "/webhooks/dji", ""))
	wantProblem(t, w, http.StatusMethodNotAllowed, "method-not-allowed")
	if w.Header().Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	wantProblem(t, e.serve(httpReq("DELETE", "/api/v1/rmas", "")), http.StatusMethodNotAllowed, "method-not-allowed")
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t)
	var h map[string]any
	wantJSON(t, e.serve(httpReq("GET", "/healthz", "")), http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Fatalf("healthz %v", h)
	}
	e.deliver(delivery{source: "dji", id: "m", body: []byte(`{}`), secret: webhook.NewSecret()})
	w := e.serve(httpReq("GET", "/metrics", ""))
	text := mustString(t, w)
	for _, want := range []string{`rmad_webhook_requests_total{source="dji",status="401"} 1`, "go_goroutines", "rmad_reply_latency_seconds_bucket"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	down := newEnv(t, func(c *Config) {
		c.Health = func(context.Context) (string, map[string]any) {
			return HealthDown, map[string]any{"redis": "dial tcp: connection refused", "imap/partners": "reconnecting"}
		}
	})
	p := wantProblem(t, down.serve(httpReq("GET", "/healthz", "")), http.StatusServiceUnavailable, "unavailable")
	if p.Checks["imap/partners"] != "reconnecting" {
		t.Fatalf("checks %v", p.Checks)
	}
}

func TestPanicIsAProblem(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.PartnerByToken = func(string) (rma.Partner, bool) { panic(testenv.Deliberate("boom")) }
	})
	wantProblem(t, e.api("GET", "/api/v1/rmas?q=x", tokenGR, nil), http.StatusInternalServerError, "internal")
}

// Serve: real TCP, the header size limit, and a graceful stop that lets a
// request in flight finish.
func TestServeAndShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	e := newEnv(t, func(c *Config) {
		c.Health = func(ctx context.Context) (string, map[string]any) {
			close(started)
			<-release
			return "ok", nil
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	big, _ := http.NewRequest("GET", base+"/api/v1/rmas?q=x", nil)
	big.Header.Set("X-Big", strings.Repeat("a", 2*maxHeaderBytes))
	if resp, err := http.DefaultClient.Do(big); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized header: %v %v", resp, err)
	}

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			inflight <- -1
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	<-started
	cancel() // shutdown begins while /healthz is running
	// The listener closes at once (polled: the shutdown runs on another goroutine).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections during shutdown")
		}
	}
	close(release)
	if code := <-inflight; code != http.StatusOK {
		t.Fatalf("request in flight got %d", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
}

// Large bodies wait for one of a few slots; small ones never do.
func TestLargeBodySlots(t *testing.T) {
	e := newEnv(t)
	e.srv.bodyWait = 50 * time.Millisecond
	for range maxConcurrentBodies { // every slot busy with a slow upload
		e.srv.bodies <- struct{}{}
	}
	large := mustJSON(t, map[string]any{"partner": "P-GR-001", "items": []any{tplinkItem("L1")},
		"attachments": []any{pdfProof, map[string]any{"filename": "scan.png", "content_base64": strings.Repeat("QUJD", int(smallBody)/4)}}})
	w := e.deliver(delivery{source: "portal", id: "evt_large", body: large})
	wantProblem(t, w, http.StatusServiceUnavailable, "unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	num := e.newRMA("P-GR-001", djiItem("SN-SLOT"))
	wantJSON(t, e.deliver(delivery{source: "dji", id: "msg_small", body: vendorBody(t, num, "RECEIVED")}), http.StatusOK, &vendorStatusAnswer{})

	<-e.srv.bodies // one upload finished
	var got submissionAnswer
	wantJSON(t, e.deliver(delivery{source: "portal", id: "evt_large", body: large}), http.StatusOK, &got)
	if len(got.Results) != 1 || got.Results[0].Result != rma.ResultAccepted {
		t.Fatalf("large submission: %+v", got)
	}
}

// net/http's own complaints (here a handler's second WriteHeader) are JSON lines of
// component http in rmad's log, not raw text on stderr.
func TestNetHTTPErrorsInJSONLog(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logw := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	e := newEnv(t, func(c *Config) { c.Log = zerolog.New(logw) })
	srv := e.srv.httpServer(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.WriteHeader(http.StatusTeapot)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mu.Lock()
	defer mu.Unlock()
	var line struct {
		Level, Component, Message string
	}
	for l := range strings.Lines(buf.String()) {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if strings.Contains(line.Message, "superfluous response.WriteHeader") {
			if line.Component != "http" || line.Level != "warn" || strings.HasSuffix(line.Message, "\n") {
				t.Fatalf("net/http message logged as %+v", line)
			}
			return
		}
	}
	t.Fatalf("net/http's message is not in the log: %q", buf.String())
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
