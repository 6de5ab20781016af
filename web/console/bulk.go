package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/rmad/rmad/rma"
)

// bulkResult is what became of one RMA of a bulk change.
type bulkResult struct {
	Number string
	Link   string
	OK     bool
	Reason string
}

// bulk serves POST /console/bulk: the selected RMAs (fields rma) to status, with note. Legal
// moves are applied; the worklist then says per RMA what was refused and why.
func (c *Console) bulk(w http.ResponseWriter, r *http.Request, v *view) {
	// The worklist's own filters come back in the field back, so the page stays as it was.
	if back, err := url.ParseQuery(strings.TrimPrefix(r.PostForm.Get("back"), "?")); err == nil {
		r.URL.RawQuery = back.Encode()
	}
	numbers := r.PostForm["rma"]
	to, err := rma.ParseStatus(r.PostForm.Get("status"))
	note, extra, errKey := noteOf(r)
	switch {
	case len(numbers) == 0:
		errKey = "bulk.none"
	case len(numbers) > maxBulk:
		errKey = "bulk.too_many"
	case err != nil:
		errKey = "form.status_unknown"
	}
	if errKey != "" {
		c.renderWorklist(w, r, v, http.StatusUnprocessableEntity, nil, c.wordIn(v.Locale, errKey))
		return
	}
	extra[extraAction] = "bulk"
	var out []bulkResult
	for _, num := range numbers {
		n, perr := rma.ParseNumber(num)
		if perr != nil {
			out = append(out, bulkResult{Number: num, Reason: c.wordIn(v.Locale, "error.not_found")})
			continue
		}
		res := bulkResult{Number: n.String(), Link: rmaLink(n.String())}
		prev, gerr := c.cfg.Store.Get(r.Context(), n.String())
		_, err := c.cfg.Store.SetStatus(r.Context(), n.String(), to, v.actor(), note, extra, c.cfg.Now())
		var te *rma.TransitionError
		switch {
		case gerr != nil && err != nil:
			res.Reason = c.wordIn(v.Locale, "error.not_found")
		case errors.As(err, &te):
			res.Reason = c.refusal(v.Locale, te)
		case err != nil:
			c.log.Error().Err(err).Str("rma", n.String()).Msg("bulk status")
			res.Reason = c.wordIn(v.Locale, "error.unavailable")
		default:
			res.OK = true
			c.audit(v, "bulk_status", n.String()).Str("from", string(prev.Status)).Str("status", string(to)).Msg("status changed")
		}
		out = append(out, res)
	}
	c.renderWorklist(w, r, v, http.StatusOK, out, "")
}
