package daemon

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
)

// /healthz is degraded while SMTP sessions cannot be opened (here the server is gone) and says
// why under smtp (recovery is outbound's TestSendOAuth).
func TestHealthShowsSMTPTrouble(t *testing.T) {
	e := newSchEnv(t, schNever)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "health"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	msg := outbound.Message{ID: "health@distributor.example", From: "rma@distributor.example",
		To: []string{"a@example.com"}, Raw: []byte("Subject: t\r\n\r\nbody\r\n")}
	if ok, details := d.health(context.Background()); details["smtp"] != "ok" {
		t.Fatalf("before any trouble: ok %v, smtp %v", ok, details["smtp"])
	}
	e.smtp.Stop()
	if err := d.courier.smtp.Send(context.Background(), msg); err == nil {
		t.Fatal("Send to a stopped server succeeded")
	}
	ok, details := d.health(context.Background())
	if smtp, _ := details["smtp"].(string); ok || !strings.HasPrefix(smtp, "failing since ") || !strings.Contains(smtp, "connect") {
		t.Errorf("with SMTP down: ok %v, smtp %q; want degraded with the reason", ok, details["smtp"])
	}
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code == 200 || !strings.Contains(w.Body.String(), "failing since") {
		t.Errorf("GET /healthz = %d %s; want it degraded, naming the SMTP failure", w.Code, w.Body.String())
	}
}
