package daemon

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// GET /metrics reads queue depths and dead letters from Redis at scrape time.
func TestMetricsShowQueueDepthAtScrape(t *testing.T) {
	e := newSchEnv(t, schNever)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.rdb.Close() })
	for range 3 { // waiting entries: no daemon is running to take them
		if _, err := d.outbox.Add(context.Background(), []byte("{}"), nil); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	d.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{`rmad_queue_depth{queue="outbox"} 3`, `rmad_queue_depth{queue="inbox"} 0`,
		`rmad_dead_letters{queue="outbox"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
