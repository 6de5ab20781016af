package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// submissionBody is a submission over HTTP (SPEC §9): the items with the fields of SPEC §1,
// the proof of purchase as base64 attachments, and whether the partner also gets the reply
// email. Items are objects of string fields; numbers and true/false are accepted too (a JSON
// client may send quantity 2 or receiver_pays true).
type submissionBody struct {
	Partner     string                       `json:"partner"`
	Items       []map[string]json.RawMessage `json:"items"`
	Attachments []attachmentBody             `json:"attachments"`
	Notify      bool                         `json:"notify"`
}

type attachmentBody struct {
	Filename      string `json:"filename"`
	ContentType   string `json:"content_type"`
	ContentBase64 string `json:"content_base64"`
}

var submissionFields = []string{"partner", "items", "attachments", "notify"}

const maxAttachments = 20

// submissionAnswer is the answer to a submission: one row per item with the columns of
// rma-results.csv (SPEC §3; outbound makes both, so they always agree), and the problems of
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
func (s *Server) prepareWebhookSubmission(src *source, d Delivery, body []byte, r *http.Request) (func(context.Context) answer, *answer) {
	refuse := func(a answer) (func(context.Context) answer, *answer) { return nil, &a }
	var in submissionBody
	if err := decodeStrict(body, &in, submissionFields); err != nil {
		return refuse(pkMalformedJSON.with(err.Error()))
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
		return refuse(pkUnknownPartner.with(fmt.Sprintf("partner %q is not registered with the distributor", clip(id, 64))))
	}
	origin := rma.Source{Channel: "webhook", WebhookID: src.name + ":" + d.ID, RawSHA256: sha256Hex(body)}
	sub, bad := s.buildSubmission(in, p, origin, "RMA request via "+src.name)
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
		out.Problems = append(out.Problems, problemRow{Code: pr.Code, Message: outbound.Describe(locale, pr)})
	}
	return jsonAnswer(http.StatusOK, out)
}

// buildSubmission makes the rma.Submission of a request: items numbered 1..n with their
// fields trimmed, the proof of purchase found among the attachments, and the problems of the
// whole submission (no_items, too_large, proof_missing) that the rules apply to every item.
func (s *Server) buildSubmission(in submissionBody, p rma.Partner, src rma.Source, subject string) (rma.Submission, *answer) {
	sub := rma.Submission{
		Kind:      rma.KindSubmission,
		Source:    src,
		Subject:   subject,
		Date:      s.cfg.Now().UTC(),
		PartnerID: p.ID,
		Locale:    p.Locale,
	}
	items := in.Items
	if len(items) > s.cfg.MaxItems {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeTooLarge, "",
			"reason", "items", "limit", strconv.Itoa(s.cfg.MaxItems), "count", strconv.Itoa(len(items))))
		items = items[:s.cfg.MaxItems] // every row is rejected anyway; bound the work
	}
	for i, fields := range items {
		it := rma.Item{Line: i + 1}
		for _, name := range sortedKeys(fields) {
			if !slices.Contains(rma.Fields, name) {
				a := pkMalformedJSON.with(fmt.Sprintf("items[%d]: unknown field %q; the item fields are %s", i, clip(name, 64), strings.Join(rma.Fields, ", ")))
				return sub, &a
			}
			v, err := textValue(fields[name])
			if err != nil {
				a := pkMalformedJSON.with(fmt.Sprintf("items[%d].%s: %v", i, name, err))
				return sub, &a
			}
			it.Set(name, strings.TrimSpace(v))
		}
		sub.Items = append(sub.Items, it)
	}
	if len(sub.Items) == 0 {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeNoItems, ""))
	}
	if len(in.Attachments) > maxAttachments {
		a := pkInvalidField.with(fmt.Sprintf("%d attachments; at most %d", len(in.Attachments), maxAttachments))
		return sub, &a
	}
	for i, att := range in.Attachments {
		data, err := decodeBase64(att.ContentBase64)
		if err != nil {
			a := pkInvalidField.with(fmt.Sprintf("attachments[%d].content_base64: not standard base64 (%v)", i, err))
			return sub, &a
		}
		if isProof(att.Filename, att.ContentType, data) {
			sub.HasProof = true
		}
	}
	if !sub.HasProof {
		sub.Problems = append(sub.Problems, rma.NewProblem(rma.CodeProofMissing, ""))
	}
	return sub, nil
}

// textValue reads an item field: a string, or a number, true/false (yes/no) or null as text.
func textValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case 't':
		return "yes", nil
	case 'f':
		return "no", nil
	case 'n':
		return "", nil
	case '{', '[':
		return "", fmt.Errorf("want a string, got a JSON %s", map[byte]string{'{': "object", '[': "array"}[raw[0]])
	}
	return string(raw), nil // a number, kept as written (an EAN as 5901234123457)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "") // line-wrapped base64 (MIME style) is common
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// isProof reports whether an attachment is a proof of purchase: a PDF or an image (SPEC §1),
// judged by its content when recognisable, else by its declared type or file name.
func isProof(filename, contentType string, data []byte) bool {
	if len(data) == 0 {
		return false
	}
	if sniffed := http.DetectContentType(data); proofType(sniffed) {
		return true
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && proofType(mt) {
		return true
	}
	switch strings.ToLower(path.Ext(filename)) {
	case ".pdf", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".heic", ".heif", ".bmp":
		return true
	}
	return false
}

func proofType(mt string) bool {
	mt = strings.ToLower(mt)
	return mt == "application/pdf" || strings.HasPrefix(mt, "image/")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
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
		if q > 0 && slices.Contains(outbound.Locales, name) {
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
	return outbound.NormalizeLocale(p.Locale)
}
