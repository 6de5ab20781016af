package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// With console.enabled the daemon serves the console on its HTTP server, after building the
// worklist indexes; without it /console/ is not there.
func TestDaemonServesConsole(t *testing.T) {
	e := newSchEnv(t, schNever)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	get := func(d *Daemon, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		d.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}
	d, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "console-off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.rdb.Close() })
	if w := get(d, "/console/"); w.Code != http.StatusNotFound {
		t.Fatalf("console off: %d", w.Code)
	}

	cfg.Console.Enabled = true
	cfg.Console.StaffFile = filepath.Join(t.TempDir(), "staff.yaml")
	d2, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "console-on"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.rdb.Close() })
	if w := get(d2, "/console/"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/login" {
		t.Fatalf("console on, no session: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := get(d2, "/console/login"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Fatalf("login page: %d", w.Code)
	}
	if n, err := d2.store.BuildWorklistIndex(context.Background(), false); err != nil || n != 0 {
		t.Fatalf("the daemon did not build the worklist indexes at start: %d %v", n, err)
	}
}
