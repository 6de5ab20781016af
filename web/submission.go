package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// submissionAnswer is the answer to a submission: one row per item with the columns of
// rma-results.csv (outbound makes both, so they always agree), and the problems of
// the whole submission (proof_missing, no_items, too_large) that rejected every row.
type submissionAnswer struct {
	Results  []outbound.ResultRow `json:"results"`
	Problems []problemRow         `json:"problems,omitempty"`
}

type problemRow struct {
	Code    rma.Code `json:"code"`
	Message string   `json:"message"`
}

// prepareWebhookSubmission checks a delivery of a source of kind submission; apply runs it
// through the pipeline.
func (s *Server) prepareWebhookSubmission(src *webhook.Source, d webhook.Delivery, body []byte, r *http.Request) (func(context.Context) answer, *answer) {
	refuse := func(a answer) (func(context.Context) answer, *answer) { return nil, &a }
	in, err := webhook.DecodeSubmission(body)
	if err != nil {
		return refuse(inputAnswer(err))
	}
	id := strings.TrimSpace(in.Partner)
	if id == "" {
		return refuse(pkInvalidField.with("partner is required: the partner id the distributor registered (e.g. P-GR-001)"))
	}
	if s.cfg.PartnerByID == nil {
		return refuse(unavailable("the partner list"))
	}
	p, ok := s.cfg.PartnerByID(id)
	if !ok {
		return refuse(pkUnknownPartner.with(fmt.Sprintf("partner %q is not registered with the distributor", webhook.Clip(id, 64))))
	}
	origin := rma.Source{Channel: "webhook", WebhookID: src.Name + ":" + d.ID, RawSHA256: webhook.SHA256Hex(body)}
	sub, bad := s.buildSubmission(in, p, origin, "RMA request via "+src.Name)
	if bad != nil {
		return nil, bad
	}
	locale := answerLocale(r, p)
	return func(ctx context.Context) answer { return s.runSubmission(ctx, sub, in.Notify, locale) }, nil
}

// runSubmission runs a submission through the pipeline and describes the decisions.
func (s *Server) runSubmission(ctx context.Context, sub rma.Submission, notify bool, locale string) answer {
	if s.cfg.Submitter == nil {
		return unavailable("the submission pipeline")
	}
	ds, err := s.cfg.Submitter.Submit(ctx, sub, notify)
	if err != nil {
		s.log.Error().Err(err).Str("partner", sub.PartnerID).Str("channel", sub.Source.Channel).Msg("submission failed")
		return pkInternal.with("the submission could not be processed; retry later (a retry is recognised and never creates a second RMA)")
	}
	out := submissionAnswer{Results: outbound.ResultRows(ds, locale)}
	for _, pr := range sub.Problems {
		out.Problems = append(out.Problems, problemRow{Code: pr.Code, Message: i18n.Describe(locale, pr)})
	}
	return jsonAnswer(http.StatusOK, out)
}

// buildSubmission makes the rma.Submission of a decoded body (see webhook.SubmissionBody).
func (s *Server) buildSubmission(in webhook.SubmissionBody, p rma.Partner, src rma.Source, subject string) (rma.Submission, *answer) {
	sub, err := in.Submission(p, webhook.Origin{Source: src, Subject: subject, Date: s.cfg.Now()}, s.cfg.MaxItems)
	if err != nil {
		a := inputAnswer(err)
		return sub, &a
	}
	return sub, nil
}

// answerLocale is the language of messages in an answer: the first of en, el, ro, fr that
// Accept-Language asks for, else the partner's locale (as in the reply email), else English.
func answerLocale(r *http.Request, p rma.Partner) string {
	type tag struct {
		lang string
		q    float64
	}
	var tags []tag
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if i := strings.IndexAny(name, "-_"); i >= 0 {
			name = name[:i]
		}
		if q > 0 && i18n.Known(name) {
			tags = append(tags, tag{name, q})
		}
	}
	slices.SortStableFunc(tags, func(a, b tag) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	if len(tags) > 0 {
		return tags[0].lang
	}
	return i18n.Normalize(p.Locale)
}
