package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// EstimateSender sends repair estimates (*estimate.Service does).
type EstimateSender interface {
	Send(ctx context.Context, number string, o estimate.Offer, actor string) (estimate.Sent, error)
}

// estimateFields are the estimate form's fields, in order.
var estimateFields = []string{"parts", "labour", "shipping", "currency", "note"}

// pendingEstimate is what the RMA page shows of an estimate waiting for the partner.
type pendingEstimate struct {
	Total  string
	SentAt time.Time
}

// estimateView fills the RMA page's estimate part: the form while the RMA is diagnosing, the
// pending estimate while it waits.
func (c *Console) estimateView(d *rmaData) {
	d.EstimateFields = estimateFields
	d.CanEstimate = c.cfg.Estimates != nil && d.Rec.Status == rma.StatusDiagnosing
	if e, ok := d.Rec.PendingEstimate(); ok {
		d.Estimate = &pendingEstimate{Total: outbound.EstimateTotal(e), SentAt: e.SentAt}
	}
	if d.Form == nil {
		d.Form = map[string]string{}
	}
	if _, set := d.Form["est_currency"]; !set {
		d.Form["est_currency"] = "EUR"
	}
}

// sendEstimate serves POST /console/rmas/{year}/{n}/estimate: 303 back to the page once sent,
// or the page with a message beside each field to fix (422), or why it cannot be sent (409).
func (c *Console) sendEstimate(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	if c.cfg.Estimates == nil {
		c.render(w, http.StatusServiceUnavailable, "error", v, "error.internal")
		return
	}
	form := map[string]string{}
	for _, f := range estimateFields {
		form["est_"+f] = r.PostForm.Get(f)
	}
	errs := map[string]string{}
	o := estimate.Offer{Note: strings.TrimSpace(form["est_note"])}
	for _, f := range []struct {
		name string
		to   *int64
	}{{"parts", &o.Parts}, {"labour", &o.Labour}, {"shipping", &o.Shipping}} {
		cents, err := rma.ParseAmount(form["est_"+f.name])
		if err != nil {
			key := "est.amount_bad"
			if strings.TrimSpace(form["est_"+f.name]) == "" {
				key = "est.amount_missing"
			}
			errs["est_"+f.name] = c.wordIn(v.Locale, key)
			continue
		}
		*f.to = cents
	}
	cur, err := rma.ParseCurrency(form["est_currency"])
	if err != nil {
		errs["est_currency"] = c.wordIn(v.Locale, "est.currency_bad")
	}
	o.Currency = cur
	if len(o.Note) > maxNoteLen {
		errs["est_note"] = c.wordIn(v.Locale, "form.note_too_long")
	}
	if len(errs) == 0 && o.Parts+o.Labour+o.Shipping == 0 {
		errs["estimate"] = c.wordIn(v.Locale, "est.total_zero")
	}
	if len(errs) > 0 {
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, errs, form, "")
		return
	}
	sent, err := c.cfg.Estimates.Send(r.Context(), rec.Number, o, v.actor())
	var te *rma.TransitionError
	switch {
	case errors.As(err, &te):
		c.renderRMA(w, v, http.StatusConflict, rec, nil, form, c.refusal(v.Locale, te))
		return
	case errors.Is(err, estimate.ErrPending):
		c.renderRMA(w, v, http.StatusConflict, rec, map[string]string{"estimate": c.wordIn(v.Locale, "est.pending_other")}, form, "")
		return
	case err != nil:
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("estimate not sent")
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"estimate": err.Error()}, form, "")
		return
	}
	c.audit(v, "estimate", rec.Number).Str("total", outbound.EstimateTotal(sent.Estimate)).Str("message_id", sent.Mail.ID).Msg("estimate sent")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}
