package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/outbound"
)

// healthLook is one GET /healthz and one GET /metrics.
type healthLook struct {
	code    int
	status  any
	checks  map[string]map[string]any
	metrics string
}

func lookHealth(t *testing.T, d *Daemon) healthLook {
	t.Helper()
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	var body struct {
		Status any                       `json:"status"` // "ok", "degraded"; 503 in the problem answer
		Checks map[string]map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET /healthz: %v: %s", err, w.Body)
	}
	m := httptest.NewRecorder()
	d.Handler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
	return healthLook{code: w.Code, status: body.Status, checks: body.Checks, metrics: m.Body.String()}
}

// down says whether the look shows component down everywhere an admin or alert would see it:
// 503, the component's state with why and since, and its gauges.
func (h healthLook) down(component string) bool {
	c := h.checks[component]
	return h.code == 503 && c["state"] == "down" && c["why"] != nil && c["since"] != nil &&
		strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_up{component=%q} 0`, component)) &&
		strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_state{component=%q,state="down"} 1`, component))
}

func (h healthLook) ok() bool {
	if h.code != 200 || h.status != "ok" {
		return false
	}
	for name, c := range h.checks {
		if c["state"] != "ok" || !strings.Contains(h.metrics, fmt.Sprintf(`rmad_component_up{component=%q} 1`, name)) {
			return false
		}
	}
	return true
}

// /healthz and the gauges show each outage (SMTP, Redis, the mailbox's IMAP server) for as long
// as it lasts, with why and since when, and ok again after it.
func TestHealthShowsEachOutage(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	e := newSchEnvAt(t, schNever, r.Addr)
	d, logs := e.start("health", Options{})
	var last healthLook
	waitOK := func(after string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "healthz ok "+after, func() bool { last = lookHealth(t, d); return last.ok() })
	}
	// throughout samples the health while an outage lasts: every look must show it.
	throughout := func(component string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, component+" down", func() bool { last = lookHealth(t, d); return last.down(component) })
		since := last.checks[component]["since"]
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if last = lookHealth(t, d); !last.down(component) || last.checks[component]["since"] != since {
				t.Fatalf("during the %s outage: %d %+v", component, last.code, last.checks)
			}
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("last look: %d %v %+v\nlog:\n%s", last.code, last.status, last.checks, logs.Tail(8<<10))
		}
	}()
	waitOK("at start")

	e.smtp.Stop()
	msg := outbound.Message{ID: "health@distributor.example", From: "rma@distributor.example",
		To: []string{"a@example.com"}, Raw: []byte("Subject: t\r\n\r\nbody\r\n")}
	if err := d.pipe.send(context.Background(), msg, ""); err != nil {
		t.Fatal(err)
	}
	throughout("smtp")
	if why := last.checks["smtp"]["why"].(string); !strings.Contains(why, "connect") {
		t.Errorf("smtp down because %q; want the connection failure", why)
	}
	if err := e.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	waitOK("after the SMTP outage")
	if _, err := e.smtp.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}

	r.Stop()
	throughout("redis")
	r.Start()
	waitOK("after the Redis outage")

	e.imap.Stop()
	throughout("mailbox:partners")
	if err := e.imap.Restart(); err != nil {
		t.Fatal(err)
	}
	waitOK("after the IMAP outage")
}
