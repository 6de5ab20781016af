package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// The store is the Store this package is written against.
var _ Store = (*store.Store)(nil)

// unknownSourceLabel is the metrics label of requests to an unconfigured source: the path is
// the caller's to choose, so it never becomes a label value.
const unknownSourceLabel = "unknown"

// handleWebhook serves POST /webhooks/{source}: verify (headers, then body), then apply the
// delivery once by its webhook-id, remembering the answer for replays.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("source")
	src := s.sources[name]
	label := unknownSourceLabel
	if src != nil {
		label = name
	}
	a, id := s.webhook(r, src, name)
	s.cfg.Metrics.ObserveWebhook(label, a.status)
	ev := s.log.Info()
	if a.status >= 500 {
		ev = s.log.Error()
	} else if a.status >= 400 {
		ev = s.log.Warn()
	}
	ev.Str("source", label).Str("webhook_id", id).Int("status", a.status).
		Dur("took", time.Since(start)).Msg("webhook")
	a.write(w)
}

func (s *Server) webhook(r *http.Request, src *source, name string) (answer, string) {
	if src == nil {
		return pkUnknownSource.with(fmt.Sprintf("no webhook source %q is configured here; POST to /webhooks/<source> with the source name your rmad contact gave you", clip(name, 64))), ""
	}
	if src.err != nil {
		return pkMisconfigured.with(fmt.Sprintf("webhook source %q cannot verify deliveries (configuration error on the receiving side); the receiver's admin has the details in the log", name)), ""
	}
	d, err := src.verifier.ReadHeaders(r.Header)
	if err != nil {
		return verifyAnswer(err), ""
	}
	limit := s.cfg.MaxBodyBytes
	if src.kind == config.WebhookVendorStatus {
		limit = min(limit, vendorBodyBytes)
	}
	body, bad := s.readBody(r, limit)
	if bad != nil {
		return *bad, d.ID
	}
	if err := src.verifier.VerifyBody(d, body); err != nil {
		return verifyAnswer(err), d.ID
	}
	if bad := checkJSONType(r); bad != nil {
		return *bad, d.ID
	}
	if s.cfg.Store == nil {
		return unavailable("the RMA store"), d.ID
	}

	ctx, cancel := context.WithTimeout(r.Context(), processTimeout)
	defer cancel()
	memoryDown := func(err error) (answer, string) {
		s.log.Error().Err(err).Str("source", name).Msg("webhook delivery memory unavailable")
		a := pkUnavailable.with("the receiver cannot check for duplicate deliveries right now; retry later")
		a.retryAfter = 30
		return a, d.ID
	}
	// Checks that need no state come before the delivery memory and are not remembered: they
	// answer the same for the same body anyway, and those that depend on configuration (a
	// status_map entry, a registered partner) then succeed on the sender's retry once the
	// admin fixed it.
	var apply func(context.Context) answer
	var refused *answer
	if src.kind == config.WebhookVendorStatus {
		apply, refused = s.prepareVendorStatus(src, d, body)
	} else {
		apply, refused = s.prepareWebhookSubmission(src, d, body, r)
	}
	if refused != nil {
		return *refused, d.ID
	}
	if prev, owned, err := s.guard.acquire(ctx, name, d.ID); err != nil {
		return memoryDown(err)
	} else if !owned {
		return prev, d.ID
	}
	a := apply(ctx)
	if a.status >= 500 {
		return a, d.ID // not remembered: a retry may succeed
	}
	final, err := s.guard.complete(ctx, name, d.ID, a)
	if err != nil {
		// Applied but not remembered: a retry takes the delivery over once the lock is stale and
		// applies again, which the idempotent apply turns into the same answer.
		s.log.Error().Err(err).Str("source", name).Str("webhook_id", d.ID).Msg("webhook answer not remembered")
	}
	return final, d.ID
}

func verifyAnswer(err error) answer {
	var k problemKind
	switch {
	case errors.Is(err, ErrMissingHeader):
		k = pkMissingHeader
	case errors.Is(err, ErrBadHeader):
		k = pkBadHeader
	case errors.Is(err, ErrTimestampTooOld), errors.Is(err, ErrTimestampTooNew):
		k = pkTimestamp
	default:
		k = pkSignature
	}
	return k.with(err.Error())
}

// vendorStatusBody is what a vendor_status source sends (SPEC §9).
type vendorStatusBody struct {
	RMANumber       string `json:"rma_number"`
	VendorReference string `json:"vendor_reference"`
	Status          string `json:"status"`
	Note            string `json:"note"`
	Tracking        string `json:"tracking"`
}

var vendorStatusFields = []string{"rma_number", "vendor_reference", "status", "note", "tracking"}

// Limits on the free-text fields a vendor sends; they end up in the partner's digest.
const (
	maxVendorNote  = 2000
	maxVendorShort = 200
)

// vendorStatusAnswer is the success answer of a vendor status delivery.
type vendorStatusAnswer struct {
	RMANumber      string     `json:"rma_number"`
	Status         rma.Status `json:"status"`
	PreviousStatus rma.Status `json:"previous_status"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Extra keys a vendor status leaves in the RMA's history.
const (
	extraWebhookID       = "webhook_id"
	extraVendorReference = "vendor_reference"
	extraTracking        = "tracking"
	extraVendorStatus    = "vendor_status"
)

// prepareVendorStatus checks a vendor status delivery without touching the store; apply then
// applies it to a forwarded RMA. Applying is idempotent by the delivery: the history entry it
// writes carries the webhook id, and a delivery already in the history is answered from it
// without a second change.
func (s *Server) prepareVendorStatus(src *source, d Delivery, body []byte) (func(context.Context) answer, *answer) {
	refuse := func(a answer) (func(context.Context) answer, *answer) { return nil, &a }
	var in vendorStatusBody
	if err := decodeStrict(body, &in, vendorStatusFields); err != nil {
		return refuse(pkMalformedJSON.with(err.Error()))
	}
	in.RMANumber = strings.TrimSpace(in.RMANumber)
	in.Status = strings.TrimSpace(in.Status)
	switch {
	case in.RMANumber == "":
		return refuse(pkInvalidField.with("rma_number is required: the RMA number rmad gave the claim, e.g. RMA/17/SR/2026"))
	case in.Status == "":
		return refuse(pkInvalidField.with("status is required: one of " + strings.Join(sortedKeys(src.status), ", ")))
	case len(in.Note) > maxVendorNote:
		return refuse(pkInvalidField.with(fmt.Sprintf("note is %d bytes; at most %d", len(in.Note), maxVendorNote)))
	case len(in.VendorReference) > maxVendorShort || len(in.Tracking) > maxVendorShort:
		return refuse(pkInvalidField.with(fmt.Sprintf("vendor_reference and tracking are at most %d bytes each", maxVendorShort)))
	}
	num, err := rma.ParseNumber(in.RMANumber)
	if err != nil {
		return refuse(pkInvalidField.with(fmt.Sprintf("rma_number %q is not an RMA number of the form RMA/<n>/SR/<yyyy>", clip(in.RMANumber, 64))))
	}
	to, ok := src.status[in.Status]
	if !ok {
		to, ok = src.fold[strings.ToLower(in.Status)]
	}
	if !ok {
		return refuse(pkUnmappedStatus.with(fmt.Sprintf("status %q is not mapped for source %q; known statuses: %s (ask the receiver's admin to add it to status_map)",
			clip(in.Status, 64), src.name, strings.Join(sortedKeys(src.status), ", "))))
	}
	extra := map[string]string{extraWebhookID: src.name + ":" + d.ID, extraVendorStatus: in.Status}
	if v := strings.TrimSpace(in.VendorReference); v != "" {
		extra[extraVendorReference] = v
	}
	if v := strings.TrimSpace(in.Tracking); v != "" {
		extra[extraTracking] = v
	}
	ch := statusChange{number: num.String(), to: to, vendorStatus: in.Status, actor: "vendor:" + src.name,
		note: strings.TrimSpace(in.Note), extra: extra}
	return func(ctx context.Context) answer { return s.applyVendorStatus(ctx, ch) }, nil
}

// statusChange is a checked vendor status delivery.
type statusChange struct {
	number       string
	to           rma.Status
	vendorStatus string
	actor, note  string
	extra        map[string]string // with extraWebhookID
}

func (s *Server) applyVendorStatus(ctx context.Context, ch statusChange) answer {
	number, deliveryID := ch.number, ch.extra[extraWebhookID]
	rec, err := s.cfg.Store.Get(ctx, number)
	if errors.Is(err, store.ErrNotFound) {
		return pkUnknownRMA.with(fmt.Sprintf("no RMA %s exists; check the rma_number of the forwarded claim", number))
	}
	if err != nil {
		s.log.Error().Err(err).Str("rma", number).Msg("vendor status: read RMA")
		return pkInternal.with("the RMA could not be read; retry later")
	}
	if rec.Decision.Route.Handling != rma.HandlingForward {
		return pkNotForwarded.with(fmt.Sprintf("RMA %s is handled %s by the distributor, not forwarded to a vendor; vendors may only update forwarded RMAs",
			number, rec.Decision.Route.Handling))
	}
	if i := eventOf(rec, deliveryID); i >= 0 {
		return vendorAnswer(rec, i)
	}
	updated, err := s.cfg.Store.SetStatus(ctx, number, ch.to, ch.actor, ch.note, ch.extra, s.cfg.Now())
	var te *rma.TransitionError
	switch {
	case errors.As(err, &te):
		// A duplicate of this very delivery may have won a race; then answer as it did.
		if again, gerr := s.cfg.Store.Get(ctx, number); gerr == nil {
			if i := eventOf(again, deliveryID); i >= 0 {
				return vendorAnswer(again, i)
			}
		}
		return pkIllegalTransition.with(fmt.Sprintf("RMA %s: vendor status %q means %s, but %s", number, clip(ch.vendorStatus, 64), ch.to, te.Error()))
	case errors.Is(err, store.ErrNotFound):
		return pkUnknownRMA.with(fmt.Sprintf("no RMA %s exists; check the rma_number of the forwarded claim", number))
	case err != nil:
		s.log.Error().Err(err).Str("rma", number).Msg("vendor status: set status")
		return pkInternal.with("the status could not be saved; retry later")
	}
	i := eventOf(updated, deliveryID)
	if i < 0 { // the store returns the record with the new entry; be safe anyway
		i = len(updated.History) - 1
	}
	return vendorAnswer(updated, i)
}

// eventOf finds the history entry a delivery wrote, or -1.
func eventOf(rec rma.Record, deliveryID string) int {
	for i := len(rec.History) - 1; i >= 0; i-- {
		if rec.History[i].Extra[extraWebhookID] == deliveryID {
			return i
		}
	}
	return -1
}

// vendorAnswer describes history entry i: built from stored data only, so a replay answers
// byte for byte like the first application.
func vendorAnswer(rec rma.Record, i int) answer {
	ev := rec.History[i]
	out := vendorStatusAnswer{RMANumber: rec.Number, Status: ev.Status, UpdatedAt: ev.At.UTC()}
	if i > 0 {
		out.PreviousStatus = rec.History[i-1].Status
	}
	return jsonAnswer(http.StatusOK, out)
}
