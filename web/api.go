package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/ingest/webhook"
	"github.com/rmad/rmad/rma"
)

const (
	maxTokenLen          = 512
	maxQueryLen          = 200
	maxIdempotencyKeyLen = 256
)

// partnerOf authenticates a partner API request by its bearer token: the SHA-256 of the token
// is compared in constant time with the partners' api_token_sha256 (by Config.PartnerByToken).
// Any failure is the same 401, so a caller learns nothing about which part was wrong.
func (s *Server) partnerOf(r *http.Request) (rma.Partner, *answer) {
	deny := func() (rma.Partner, *answer) {
		a := pkUnauthorized.with("send Authorization: Bearer <token>, with the API token the distributor issued to you")
		return rma.Partner{}, &a
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxTokenLen || s.cfg.PartnerByToken == nil {
		return deny()
	}
	sum := sha256.Sum256([]byte(token))
	p, ok := s.cfg.PartnerByToken(hex.EncodeToString(sum[:]))
	if !ok || p.ID == "" {
		return deny()
	}
	return p, nil
}

// apiHandler serves a partner API route: it logs the answer with the partner (when known) and
// adds the Bearer challenge to a 401.
func (s *Server) apiHandler(serve func(*http.Request) (answer, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a, partner := serve(r)
		ev := s.log.Info()
		if a.status >= 500 {
			ev = s.log.Error()
		} else if a.status >= 400 {
			ev = s.log.Warn()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Str("partner", partner).Int("status", a.status).
			Dur("took", time.Since(start)).Msg("api")
		if a.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="rmad"`)
		}
		a.write(w)
	}
}

// apiSubmission serves POST /api/v1/submissions: the body of a submission webhook, from a
// partner identified by its token. A "partner" field, if given, must be that partner.
// Resending the same request (same body, or the same Idempotency-Key header) is recognised by
// the store and answered with the first RMA numbers (result duplicate for new claims that
// repeat old ones, per docs/contract.md §2.6).
func (s *Server) apiSubmission(r *http.Request) (answer, string) {
	p, bad := s.partnerOf(r)
	if bad != nil {
		return *bad, ""
	}
	if bad := checkJSONType(r); bad != nil {
		return *bad, p.ID
	}
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if key != "" && (len(key) > maxIdempotencyKeyLen || !webhook.VisibleASCII(key)) {
		return pkBadHeader.with(fmt.Sprintf("Idempotency-Key must be 1 to %d visible ASCII characters", maxIdempotencyKeyLen)), p.ID
	}
	body, bad := s.readBody(r, s.cfg.MaxBodyBytes)
	if bad != nil {
		return *bad, p.ID
	}
	in, err := webhook.DecodeSubmission(body)
	if err != nil {
		return inputAnswer(err), p.ID
	}
	if id := strings.TrimSpace(in.Partner); id != "" && !strings.EqualFold(id, p.ID) {
		return pkPartnerMismatch.with(fmt.Sprintf("the body names partner %q but the token is partner %s's; leave partner out or send your own id", webhook.Clip(id, 64), p.ID)), p.ID
	}
	rawHash := webhook.SHA256Hex(body)
	src := rma.Source{Channel: "api", RawSHA256: rawHash, WebhookID: "api:" + rawHash}
	if key != "" {
		src.WebhookID = "api-key:" + key
	}
	sub, bad := s.buildSubmission(in, p, src, "RMA request via API")
	if bad != nil {
		return *bad, p.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhook.ProcessTimeout)
	defer cancel()
	return s.runSubmission(ctx, sub, in.Notify, answerLocale(r, p)), p.ID
}

// rmaView is one RMA as a partner sees it through the API.
type rmaView struct {
	RMANumber     string         `json:"rma_number"`
	Status        rma.Status     `json:"status"`
	StatusName    string         `json:"status_name"`
	OwnNumber     string         `json:"own_number"`
	EAN           string         `json:"ean"`
	Serial        string         `json:"serial"`
	Brand         string         `json:"brand,omitempty"`
	Model         string         `json:"model,omitempty"`
	Handling      rma.Handling   `json:"handling"`
	Warranty      string         `json:"warranty"`
	WarrantyUntil string         `json:"warranty_until,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	History       []historyEntry `json:"history"`
}

// historyEntry shows a status change without rmad's internal details (delivery ids, sources).
type historyEntry struct {
	At              time.Time  `json:"at"`
	Status          rma.Status `json:"status"`
	Actor           string     `json:"actor"`
	Note            string     `json:"note,omitempty"`
	VendorReference string     `json:"vendor_reference,omitempty"`
	Tracking        string     `json:"tracking,omitempty"`
}

type lookupAnswer struct {
	Query string    `json:"query"`
	RMAs  []rmaView `json:"rmas"`
}

// apiLookup serves GET /api/v1/rmas?q=QUERY: the partner's RMAs matching an RMA number, a
// serial or the partner's own number; never another partner's.
func (s *Server) apiLookup(r *http.Request) (answer, string) {
	p, bad := s.partnerOf(r)
	if bad != nil {
		return *bad, ""
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" || len(q) > maxQueryLen {
		return pkMissingQuery.with(fmt.Sprintf("give q=<RMA number, serial or your own number> (1 to %d characters)", maxQueryLen)), p.ID
	}
	if s.cfg.Store == nil {
		return unavailable("the RMA store"), p.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhook.ProcessTimeout)
	defer cancel()
	recs, err := s.cfg.Store.Lookup(ctx, p.ID, q)
	if err != nil {
		s.log.Error().Err(err).Str("partner", p.ID).Msg("api lookup")
		return pkInternal.with("the look-up failed; retry later"), p.ID
	}
	locale := answerLocale(r, p)
	out := lookupAnswer{Query: q, RMAs: []rmaView{}}
	for _, rec := range recs {
		if rec.PartnerID != p.ID {
			continue // the store already filters; a partner must never see another's RMA
		}
		out.RMAs = append(out.RMAs, viewOf(rec, locale))
	}
	return jsonAnswer(http.StatusOK, out), p.ID
}

func viewOf(rec rma.Record, locale string) rmaView {
	d := rec.Decision
	v := rmaView{
		RMANumber: rec.Number, Status: rec.Status, StatusName: i18n.StatusName(locale, rec.Status),
		OwnNumber: d.Item.OwnNumber, EAN: d.Item.EAN, Serial: d.Item.Serial,
		Handling: d.Route.Handling, Warranty: string(d.Warranty.Status),
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, History: make([]historyEntry, 0, len(rec.History)),
	}
	if v.Warranty == "" {
		v.Warranty = string(rma.WarrantyUnknown)
	}
	if d.Product != nil {
		v.Brand, v.Model = d.Product.Brand, d.Product.Model
	}
	if !d.Warranty.Until.IsZero() {
		v.WarrantyUntil = d.Warranty.Until.Format(time.DateOnly)
	}
	for _, ev := range rec.History {
		v.History = append(v.History, historyEntry{At: ev.At, Status: ev.Status, Actor: ev.Actor, Note: ev.Note,
			VendorReference: ev.Extra[webhook.ExtraVendorReference], Tracking: ev.Extra[webhook.ExtraTracking]})
	}
	return v
}
