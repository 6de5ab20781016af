package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest/webhook"
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

func (s *Server) webhook(r *http.Request, src *webhook.Source, name string) (answer, string) {
	if src == nil {
		return pkUnknownSource.with(fmt.Sprintf("no webhook source %q is configured here; POST to /webhooks/<source> with the source name your rmad contact gave you", webhook.Clip(name, 64))), ""
	}
	if src.Err != nil {
		return pkMisconfigured.with(fmt.Sprintf("webhook source %q cannot verify deliveries (configuration error on the receiving side); the receiver's admin has the details in the log", name)), ""
	}
	d, err := src.Verifier.ReadHeaders(r.Header)
	if err != nil {
		return verifyAnswer(err), ""
	}
	limit := s.cfg.MaxBodyBytes
	if src.Kind == config.WebhookVendorStatus {
		limit = min(limit, vendorBodyBytes)
	}
	body, bad := s.readBody(r, limit)
	if bad != nil {
		return *bad, d.ID
	}
	if err := src.Verifier.VerifyBody(d, body); err != nil {
		return verifyAnswer(err), d.ID
	}
	if bad := checkJSONType(r); bad != nil {
		return *bad, d.ID
	}
	if s.cfg.Store == nil {
		return unavailable("the RMA store"), d.ID
	}

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
	if src.Kind == config.WebhookVendorStatus {
		apply, refused := s.prepareVendorStatus(src, d, body)
		if refused != nil {
			return *refused, d.ID
		}
		// One Redis call, bounded by the client's own timeouts: no timer of its own.
		return apply(r.Context()), d.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhook.ProcessTimeout)
	defer cancel()
	apply, refused := s.prepareWebhookSubmission(src, d, body, r)
	if refused != nil {
		return *refused, d.ID
	}
	prev, owned, err := s.guard.Acquire(ctx, name, d.ID)
	switch {
	case errors.Is(err, webhook.ErrInProgress):
		a := pkInProgress.with(fmt.Sprintf("delivery %s is being processed right now; retry it in a few seconds and you will get its answer", d.ID))
		a.retryAfter = 5
		return a, d.ID
	case err != nil:
		return memoryDown(err)
	case !owned:
		return replayed(prev), d.ID
	}
	a := apply(ctx)
	if a.status >= 500 {
		return a, d.ID // not remembered: a retry may succeed
	}
	final, err := s.guard.Complete(ctx, name, d.ID, webhook.Answer{Status: a.status, Body: a.body})
	if err != nil {
		// Applied but not remembered: a retry takes the delivery over once the lock is stale and
		// applies again, which the idempotent apply turns into the same answer.
		s.log.Error().Err(err).Str("source", name).Str("webhook_id", d.ID).Msg("webhook answer not remembered")
	}
	return replayed(final), d.ID // a, or a takeover's first answer
}

func verifyAnswer(err error) answer {
	var k problemKind
	switch {
	case errors.Is(err, webhook.ErrMissingHeader):
		k = pkMissingHeader
	case errors.Is(err, webhook.ErrBadHeader):
		k = pkBadHeader
	case errors.Is(err, webhook.ErrTimestampTooOld), errors.Is(err, webhook.ErrTimestampTooNew):
		k = pkTimestamp
	default:
		k = pkSignature
	}
	return k.with(err.Error())
}

// vendorStatusAnswer is the success answer of a vendor status delivery.
type vendorStatusAnswer struct {
	RMANumber      string     `json:"rma_number"`
	Status         rma.Status `json:"status"`
	PreviousStatus rma.Status `json:"previous_status"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// inputAnswer answers a body that ingest/webhook could not decode.
func inputAnswer(err error) answer {
	var ie *webhook.InputError
	if !errors.As(err, &ie) {
		return pkMalformedJSON.with(err.Error())
	}
	switch ie.Kind {
	case webhook.Invalid:
		return pkInvalidField.with(ie.Detail)
	case webhook.UnmappedStatus:
		return pkUnmappedStatus.with(ie.Detail)
	}
	return pkMalformedJSON.with(ie.Detail)
}

// prepareVendorStatus checks a vendor status delivery without touching the store; apply then
// applies it to a forwarded RMA in one store call (store.ChangeStatus): a refusal remembered
// for the delivery is sent again; else the change is made unless the RMA's history holds it
// already (the same delivery again: answered from that entry, so byte for byte as the first
// time). A success needs no remembered answer, its history entry is the memory; refusals are
// remembered, so a replay keeps its words after the RMA changed. No lock: the store checks
// and changes in one atomic step.
func (s *Server) prepareVendorStatus(src *webhook.Source, d webhook.Delivery, body []byte) (func(context.Context) answer, *answer) {
	up, err := src.StatusUpdate(d, body)
	if err != nil {
		a := inputAnswer(err)
		return nil, &a
	}
	return func(ctx context.Context) answer { return s.applyVendorStatus(ctx, src.Name, d.ID, up) }, nil
}

func (s *Server) applyVendorStatus(ctx context.Context, source, id string, up webhook.StatusUpdate) answer {
	number := up.Number
	res, err := s.cfg.Store.ChangeStatus(ctx, store.StatusChange{Number: number, To: up.To, Actor: up.Actor,
		Note: up.Note, Extra: up.Extra, At: s.cfg.Now(), DeliveryKey: webhook.ExtraWebhookID,
		Handling: rma.HandlingForward, AnswerKey: webhook.AnswerKey(source, id)})
	var te *rma.TransitionError
	var a answer
	switch {
	case err == nil && res.Answered:
		return replayed(webhook.Answer{Status: res.AnswerStatus, Body: res.AnswerBody})
	case err == nil:
		return jsonAnswer(http.StatusOK, vendorStatusAnswer{RMANumber: res.Number, Status: res.Status,
			PreviousStatus: res.Previous, UpdatedAt: res.At.UTC()})
	case errors.Is(err, store.ErrNotFound):
		a = pkUnknownRMA.with(fmt.Sprintf("no RMA %s exists; check the rma_number of the forwarded claim", number))
	case errors.Is(err, store.ErrHandling):
		a = pkNotForwarded.with(fmt.Sprintf("RMA %s is handled %s by the distributor, not forwarded to a vendor; vendors may only update forwarded RMAs",
			number, res.Handling))
	case errors.As(err, &te):
		a = pkIllegalTransition.with(fmt.Sprintf("RMA %s: vendor status %q means %s, but %s", number, webhook.Clip(up.VendorStatus, 64), up.To, te.Error()))
	default:
		s.log.Error().Err(err).Str("rma", number).Msg("vendor status: set status")
		return pkInternal.with("the status could not be saved; retry later") // not remembered: a retry may succeed
	}
	final, err := s.guard.Complete(ctx, source, id, webhook.Answer{Status: a.status, Body: a.body})
	if err != nil {
		s.log.Error().Err(err).Str("source", source).Str("webhook_id", id).Msg("webhook answer not remembered")
	}
	return replayed(final) // a, or the first answer of a concurrent duplicate
}
