package webhook

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

func TestGuardTakeover(t *testing.T) {
	e := newEnv(t)
	wall := time.Now()
	g := guard{r: e.store, now: func() time.Time { return wall }}
	ctx := t.Context()

	if _, owned, err := g.acquire(ctx, "dji", "m1"); err != nil || !owned {
		t.Fatalf("first attempt: owned %v, %v", owned, err)
	}
	// The holder fails without an answer. A retry soon after is told to come back.
	a, owned, err := g.acquire(ctx, "dji", "m1")
	if err != nil || owned || a.status != http.StatusConflict || a.retryAfter == 0 {
		t.Fatalf("retry while locked: owned %v, %d, %v", owned, a.status, err)
	}
	// Once the lock is stale the retry takes the delivery over.
	wall = wall.Add(staleAfter + time.Second)
	if _, owned, err := g.acquire(ctx, "dji", "m1"); err != nil || !owned {
		t.Fatalf("takeover: owned %v, %v", owned, err)
	}
	first := jsonAnswer(http.StatusOK, map[string]string{"ok": "1"})
	if got, err := g.complete(ctx, "dji", "m1", first); err != nil || string(got.body) != string(first.body) {
		t.Fatalf("complete: %s %v", got.body, err)
	}
	// From now on the answer is replayed, whatever the clock says.
	wall = wall.Add(3 * staleAfter)
	a, owned, err = g.acquire(ctx, "dji", "m1")
	if err != nil || owned || a.status != http.StatusOK || string(a.body) != string(first.body) || a.ctype != ContentTypeJSON {
		t.Fatalf("after completion: owned %v, %d %s, %v", owned, a.status, a.body, err)
	}
	// A second completion (a takeover whose holder was alive after all) keeps the first answer.
	other := jsonAnswer(http.StatusOK, map[string]string{"ok": "2"})
	if got, _ := g.complete(ctx, "dji", "m1", other); string(got.body) != string(first.body) {
		t.Fatalf("second completion replaced the answer: %s", got.body)
	}
	// Other ids and sources are separate.
	if _, owned, _ := g.acquire(ctx, "dji", "m1:0"); !owned {
		t.Fatal("id m1:0 shares m1's lock")
	}
	if _, owned, _ := g.acquire(ctx, "portal", "m1"); !owned {
		t.Fatal("source portal shares dji's lock")
	}
}

// flaky fails the first submission, as a Redis hiccup would.
type flaky struct {
	Submitter
	calls atomic.Int32
}

func (f *flaky) Submit(ctx context.Context, sub rma.Submission, notify bool) ([]rma.Decision, error) {
	if f.calls.Add(1) == 1 {
		return nil, errors.New("redis: connection reset")
	}
	return f.Submitter.Submit(ctx, sub, notify)
}

func TestFailedDeliveryIsRetried(t *testing.T) {
	var f *flaky
	e := newEnv(t, func(c *Config) { f = &flaky{Submitter: c.Submitter}; c.Submitter = f })
	wall := time.Now()
	e.srv.guard.now = func() time.Time { return wall }
	body := mustJSON(t, map[string]any{"partner": "P-GR-001", "items": []any{tplinkItem("F1")}, "attachments": []any{pdfProof}})
	d := delivery{source: "portal", id: "evt_flaky", body: body}

	wantProblem(t, e.deliver(d), http.StatusInternalServerError, "internal")
	w := e.deliver(d) // right away: the failed attempt's lock is still fresh
	wantProblem(t, w, http.StatusConflict, "delivery-in-progress")
	if w.Header().Get("Retry-After") == "" {
		t.Error("409 without Retry-After")
	}
	wall = wall.Add(staleAfter + time.Second)
	var got submissionAnswer
	wantJSON(t, e.deliver(d), http.StatusOK, &got)
	if len(got.Results) != 1 || got.Results[0].Result != rma.ResultAccepted {
		t.Fatalf("retry: %+v", got)
	}
	var again submissionAnswer
	wantJSON(t, e.deliver(d), http.StatusOK, &again)
	if again.Results[0].RMANumber != got.Results[0].RMANumber || f.calls.Load() != 2 {
		t.Fatalf("replay after the retry: %+v, %d submissions", again, f.calls.Load())
	}
}
