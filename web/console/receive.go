package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rmad/rmad/rma"
)

// scan is the outcome of one goods-receipt scan.
type scan struct {
	Code    string
	OK      bool
	Message string
	Rec     *rma.Record
	Partner string
	Choices []rma.Record // two or more RMAs match the code
}

type receiveData struct {
	Last *scan
}

// receiveForm serves GET /console/receive: one input, focused, for a barcode scanner (it
// types the code and Enter).
func (c *Console) receiveForm(w http.ResponseWriter, r *http.Request, v *view) {
	v.Title = c.wordIn(v.Locale, "nav.receive")
	v.Data = receiveData{}
	c.render(w, http.StatusOK, "receive", v, "")
}

// receive serves POST /console/receive: the code is an RMA number, the partner's own number
// or a serial (or a tracking number); its RMA moves to received at once. Always 200 with the
// result line, so the scanner's next code goes into the same page.
func (c *Console) receive(w http.ResponseWriter, r *http.Request, v *view) {
	code := strings.TrimSpace(r.PostForm.Get("code"))
	s := c.scan(r, v, code)
	v.Title = c.wordIn(v.Locale, "nav.receive")
	v.Data = receiveData{Last: &s}
	c.render(w, http.StatusOK, "receive", v, "")
}

func (c *Console) scan(r *http.Request, v *view, code string) scan {
	ctx := r.Context()
	s := scan{Code: code}
	word := func(k string, args ...any) string { return fmt.Sprintf(c.wordIn(v.Locale, k), args...) }
	if code == "" || len(code) > maxCodeLen {
		s.Message = word("receive.empty")
		return s
	}
	recs, err := c.cfg.Store.Lookup(ctx, "", code)
	if err == nil && len(recs) == 0 {
		recs, err = c.cfg.Store.ByTracking(ctx, code)
	}
	if err != nil {
		c.log.Error().Err(err).Str("user", v.User.Username).Msg("receive: look-up")
		s.Message = word("error.unavailable")
		return s
	}
	switch len(recs) {
	case 0:
		s.Message = word("receive.unknown", code)
		return s
	case 1:
	default:
		// Several: the one still waiting for its goods is meant, when exactly one is.
		var waiting []rma.Record
		for _, rec := range recs {
			if rma.CheckTransition(rec.Status, rma.StatusReceived) == nil {
				waiting = append(waiting, rec)
			}
		}
		if len(waiting) != 1 {
			s.Message = word("receive.several", len(recs), code)
			s.Choices = recs
			return s
		}
		recs = waiting
	}
	rec := recs[0]
	s.Rec = &rec
	if p, ok := c.cfg.Partner(rec.PartnerID); ok {
		s.Partner = p.Name
	} else {
		s.Partner = rec.PartnerID
	}
	if rec.Status == rma.StatusReceived {
		s.Message = word("receive.already", rec.Number)
		return s
	}
	updated, err := c.cfg.Store.SetStatus(ctx, rec.Number, rma.StatusReceived, v.actor(), "",
		map[string]string{extraAction: "receive", "scan": code}, c.cfg.Now())
	var te *rma.TransitionError
	switch {
	case errors.As(err, &te):
		s.Message = word("receive.wrong_status", rec.Number, c.statusName(v.Locale, rec.Status))
		return s
	case err != nil:
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("receive")
		s.Message = word("error.unavailable")
		return s
	}
	s.Rec, s.OK = &updated, true
	s.Message = word("receive.ok", updated.Number)
	c.audit(v, "receive", updated.Number).Str("from", string(rec.Status)).Str("code", code).Msg("goods received")
	return s
}
