package console

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// The RMA page's estimate form: each bad field gets its message beside it and nothing is sent;
// good fields send the estimate (status estimate_sent, the partner's mail on the outbox) and
// the page then shows it pending instead of the form.
func TestEstimateForm(t *testing.T) {
	var mu sync.Mutex
	var queued []outbound.Message
	var svc *estimate.Service
	e := newEnv(t, func(c *Config) {
		var err error
		svc, err = estimate.New(estimate.Config{
			Store: c.Store, Partner: c.Partner, Key: []byte("a console test key of 32 bytes!!"), BaseURL: "https://rma.example.com",
			Composer: &outbound.Composer{From: "RMA <rma@distributor.example>"}, Now: c.Now,
			Put: func(_ context.Context, m outbound.Message) error {
				mu.Lock()
				queued = append(queued, m)
				mu.Unlock()
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Estimates = svc
	})
	num := e.newRMA(item{serial: "RT-E1", own: "ALFA-E"})
	c := e.signedIn("ann", annPassword)
	// Not diagnosing yet: no form.
	wantNotIn(t, c.get(rmaLink(num)), `id="estimate-form"`)
	for _, st := range []rma.Status{rma.StatusReceived, rma.StatusDiagnosing} {
		if _, err := e.store.SetStatus(context.Background(), num, st, "staff:ann", "", nil, e.clock()); err != nil {
			t.Fatal(err)
		}
	}
	p := c.get(rmaLink(num))
	wantIn(t, p, `id="estimate-form"`, `name="parts"`, `name="labour"`, `name="shipping"`, `value="EUR"`)

	p = c.post(rmaLink(num)+"/estimate", "parts", "80,5", "labour", "12.345", "shipping", "", "currency", "EURO", "note", "battery")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	wantIn(t, p, `id="est-labour-error"`, "at most two decimals", `id="est-shipping-error"`, "Enter an amount",
		`id="est-currency-error"`, "three-letter", `value="12.345"`, `value="battery"`)
	wantNotIn(t, p, `id="est-parts-error"`)
	wantStatus(t, c.post(rmaLink(num)+"/estimate", "parts", "0", "labour", "0", "shipping", "0", "currency", "EUR"), http.StatusUnprocessableEntity)
	if r := e.record(num); r.Status != rma.StatusDiagnosing || len(queued) != 0 {
		t.Fatalf("bad fields: status %s, %d mails", r.Status, len(queued))
	}

	wantStatus(t, c.post(rmaLink(num)+"/estimate", "parts", "80,5", "labour", "12.34", "shipping", "9", "currency", "eur", "note", "battery"), http.StatusSeeOther)
	r := e.record(num)
	est, ok := r.PendingEstimate()
	if r.Status != rma.StatusEstimateSent || !ok || est.Total() != 10184 || est.Currency != "EUR" || est.Note != "battery" || r.History[len(r.History)-1].Actor != "staff:ann" {
		t.Fatalf("after sending: %s %+v", r.Status, est)
	}
	if len(queued) != 1 || !strings.Contains(string(queued[0].Raw), "https://rma.example.com/estimate/") {
		t.Fatalf("%d mails queued", len(queued))
	}
	p = c.get(rmaLink(num))
	wantIn(t, p, `id="estimate-pending"`, "101.84 EUR")
	wantNotIn(t, p, `id="estimate-form"`)
}
