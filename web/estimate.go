package web

import (
	"context"
	"html/template"
	"net/http"
	"strings"

	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// EstimateLinks answers the signed links of repair estimates (*estimate.Service does): GET
// shows what the link would do and changes nothing, POST decides.
type EstimateLinks interface {
	ViewLink(ctx context.Context, token, answer string) (estimate.LinkView, error)
	AnswerLink(ctx context.Context, token, answer string) (estimate.LinkView, error)
}

// The links are for partners, who have no console session: they are outside /console, and
// the token in the path is the only credential.
func (s *Server) handleEstimateLink(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Estimates == nil {
		unavailable("repair estimates").write(w)
		return
	}
	token, answer := r.PathValue("token"), r.PathValue("answer")
	var v estimate.LinkView
	var err error
	if r.Method == http.MethodPost {
		v, err = s.cfg.Estimates.AnswerLink(r.Context(), token, answer)
	} else {
		v, err = s.cfg.Estimates.ViewLink(r.Context(), token, answer)
	}
	if err != nil {
		s.log.Error().Err(err).Str("action", "estimate_link").Msg("estimate link not handled")
		pkUnavailable.with("the answer could not be recorded right now; please try again in a minute").write(w)
		return
	}
	l := i18n.For(v.Locale, acceptLanguage(r))
	page := estimatePage{Lang: string(l), Action: r.URL.Path, Number: v.Record.Number}
	args := []string{"number", v.Record.Number, "product", productOf(v.Record), "date", v.At.Format("2006-01-02")}
	page.Title = l.T("estimate.page.title", args...)
	status := http.StatusOK
	switch v.State {
	case estimate.LinkForm:
		page.Question = l.T("estimate.page."+string(v.Answer), args...)
		page.Button = l.T("estimate.page.button." + string(v.Answer))
		page.Lines = estimateLines(l, v.Estimate)
	case estimate.LinkRecorded:
		key := "estimate.accepted"
		if v.Answer == rma.EstimateDecline {
			key = "estimate.declined"
		}
		page.Message = l.T(key, "number", v.Record.Number, "total", outbound.EstimateTotal(v.Estimate))
	case estimate.LinkUsed:
		page.Message, status = l.T("estimate.page.used", args...), http.StatusConflict
	case estimate.LinkNotPending:
		page.Message, status = l.T("estimate.not_pending", "number", v.Record.Number, "status", l.StatusName(v.Record.Status)), http.StatusConflict
	case estimate.LinkExpired:
		page.Message, status = l.T("estimate.page.expired"), http.StatusGone
	default:
		page.Title = "RMA"
		page.Message, status = l.T("estimate.page.invalid"), http.StatusNotFound
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the token must not leak to other sites
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := estimateTmpl.Execute(w, page); err != nil {
		s.log.Warn().Err(err).Msg("estimate page not written")
	}
}

type estimatePage struct {
	Lang, Title, Number, Question, Button, Message, Action string
	Lines                                                  [][2]string
}

func estimateLines(l i18n.Lang, e rma.Estimate) [][2]string {
	return [][2]string{
		{l.T("estimate.parts"), rma.FormatAmount(e.Parts) + " " + e.Currency},
		{l.T("estimate.labour"), rma.FormatAmount(e.Labour) + " " + e.Currency},
		{l.T("estimate.shipping"), rma.FormatAmount(e.Shipping) + " " + e.Currency},
		{l.T("estimate.total"), outbound.EstimateTotal(e)},
	}
}

func productOf(r rma.Record) string {
	p := r.Decision.Product
	if p == nil {
		return ""
	}
	return strings.TrimSpace(p.Brand + " " + p.Model)
}

// acceptLanguage is the browser's first language, for pages of links that name no partner.
func acceptLanguage(r *http.Request) string {
	first, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
	first, _, _ = strings.Cut(first, ";")
	if i18n.Known(i18n.Normalize(first)) && strings.TrimSpace(first) != "" {
		return first
	}
	return ""
}

var estimateTmpl = template.Must(template.New("estimate").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}td{padding:.2rem 1rem .2rem 0}td.n{text-align:right}tr:last-child td{font-weight:bold}button{font-size:1.1rem;padding:.5rem 1rem}</style>
</head><body>
<h1>{{.Title}}</h1>
{{with .Question}}<p id="question">{{.}}</p>
<table>{{range $.Lines}}<tr><td>{{index . 0}}</td><td class="n">{{index . 1}}</td></tr>{{end}}</table>
<form method="post" action="{{$.Action}}"><p><button type="submit" id="confirm">{{$.Button}}</button></p></form>
{{end}}{{with .Message}}<p id="message">{{.}}</p>{{end}}
</body></html>
`))
