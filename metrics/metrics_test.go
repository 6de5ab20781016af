package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rmad/rmad/rma"
)

func TestObserveSubmission(t *testing.T) {
	m := New()
	sub := rma.Submission{Kind: rma.KindSubmission}
	m.ObserveSubmission(sub, []rma.Decision{
		{Result: rma.ResultAccepted},
		{Result: rma.ResultRejected, Problems: []rma.Problem{{Code: rma.CodeEANInvalid}, {Code: rma.CodeDateInvalid}}},
	})
	m.ObserveSubmission(rma.Submission{Problems: []rma.Problem{{Code: rma.CodeProofMissing}}},
		[]rma.Decision{{Result: rma.ResultRejected, Problems: []rma.Problem{{Code: rma.CodeProofMissing}}}})

	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"submissions ok", value(t, m.Submissions.WithLabelValues("submission", "ok")), 1},
		{"submissions proof_missing", value(t, m.Submissions.WithLabelValues("submission", "proof_missing")), 1},
		{"items accepted", value(t, m.Items.WithLabelValues("accepted")), 1},
		{"items rejected", value(t, m.Items.WithLabelValues("rejected")), 2},
		{"code ean_invalid", value(t, m.ItemCodes.WithLabelValues("ean_invalid")), 1},
		{"code proof_missing", value(t, m.ItemCodes.WithLabelValues("proof_missing")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var nilM *Metrics
	nilM.ObserveSubmission(sub, nil) // components may run without metrics
	nilM.ObserveWebhook("dji", 200)
}

func TestHandlerServesOwnRegistry(t *testing.T) {
	a, b := New(), New() // two instances in one process must not collide
	a.ObserveWebhook("dji", 200)
	a.QueueDepth.WithLabelValues("inbox").Set(3)
	refreshed := 0
	a.Refresh = func(ctx context.Context) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("Refresh got a context without deadline")
		}
		refreshed++
		a.DeadLetters.WithLabelValues("inbox").Set(2)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`rmad_webhook_requests_total{source="dji",status="200"} 1`,
		`rmad_queue_depth{queue="inbox"} 3`,
		`rmad_dead_letters{queue="inbox"} 2`,
		`rmad_items_total{result="duplicate"} 0`,
		`rmad_reply_latency_seconds_bucket{le="1"} 0`,
		"go_goroutines",
		"process_start_time_seconds",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	if refreshed != 1 {
		t.Errorf("Refresh ran %d times, want 1", refreshed)
	}
	rec = httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `source="dji"`) {
		t.Error("second Metrics shows the first one's series")
	}
}

// value reads one counter or gauge (testutil would pull in more modules for one function).
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	t.Fatalf("metric %s is neither counter nor gauge", m.Desc())
	return 0
}
