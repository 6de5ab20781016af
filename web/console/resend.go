package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// extraResent is the history extra of a re-sent mail: the resend's Message-ID.
const extraResent = "resent"

// keptView is a kept partner mail as the RMA page names it beside its button.
type keptView struct {
	ID, Kind, Subject string
	Date              time.Time
}

// resend serves POST /console/rmas/{year}/{n}/resend: the kept partner mail `mail` (a
// Message-ID the RMA page showed; without it the newest) goes out again with the same content
// under a Message-ID of its own, through the outbox (so it is sent at least once, and once per
// resend), and the RMA's history says who re-sent which mail. Its parcel labels, left out of
// the kept copy, are rendered again from the records.
func (c *Console) resend(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	if c.cfg.Outbox == nil {
		c.render(w, http.StatusServiceUnavailable, "error", v, "error.unavailable")
		return
	}
	refuse := func(msg string) {
		c.renderRMA(w, v, http.StatusConflict, rec, map[string]string{"resend": msg}, nil, "")
	}
	kept, err := c.keptMail(r.Context(), rec, strings.TrimSpace(r.PostFormValue("mail")))
	switch {
	case errors.Is(err, store.ErrNoReply):
		refuse(c.wordIn(v.Locale, "resend.none"))
		return
	case err != nil:
		c.unavailable(w, v, err)
		return
	}
	msg, err := c.restore(r.Context(), rec, kept)
	if err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Str("message_id", kept.ID).Msg("resend")
		refuse(c.wordIn(v.Locale, "resend.labels_gone") + " " + err.Error())
		return
	}
	again, err := outbound.Resend(msg, c.cfg.Now())
	if err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("resend")
		refuse(c.wordIn(v.Locale, "resend.none"))
		return
	}
	if err := c.queueResend(r.Context(), rec, again); err != nil {
		c.unavailable(w, v, err)
		return
	}
	if !c.addEvent(w, r, v, rec, rma.Event{Actor: v.actor(), Extra: map[string]string{extraAction: "resend", extraResent: again.ID, "message_id": msg.ID, "kind": kept.Kind}}) {
		return
	}
	c.audit(v, "resend", rec.Number).Str("message_id", again.ID).Str("original", msg.ID).Str("kind", kept.Kind).Strs("to", again.To).Msg("partner mail re-sent")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}

// keptMail is the kept mail id of rec (the newest when id is empty).
func (c *Console) keptMail(ctx context.Context, rec rma.Record, id string) (store.KeptMail, error) {
	if id != "" {
		return c.cfg.Store.KeptMail(ctx, rec.PartnerID, rec.Number, id)
	}
	ms, err := c.cfg.Store.KeptMails(ctx, rec.PartnerID, rec.Number)
	if err != nil {
		return store.KeptMail{}, err
	}
	if len(ms) == 0 {
		return store.KeptMail{}, fmt.Errorf("%s: %w", rec.Number, store.ErrNoReply)
	}
	return ms[0], nil
}

// restore is the kept mail as sent, its parcel labels rendered again from the records of the
// RMAs it is about that get one (label.ForRecord, as the RMA page's label), in its language.
func (c *Console) restore(ctx context.Context, rec rma.Record, kept store.KeptMail) (outbound.Message, error) {
	if len(kept.LabelsAt) == 0 {
		return outbound.Restore(kept, nil)
	}
	var ls []label.Label
	for _, n := range kept.Numbers {
		r := rec
		if n != rec.Number {
			var err error
			if r, err = c.cfg.Store.Get(ctx, n); errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return outbound.Message{}, err
			}
		}
		p, ok := c.cfg.Partner(r.PartnerID)
		if !ok {
			p = rma.Partner{ID: r.PartnerID}
		}
		if l, err := label.ForRecord(r, p, c.cfg.ServiceCenters); err == nil {
			ls = append(ls, l)
		}
	}
	composer := outbound.Composer{Labels: label.Format(c.cfg.Labels.Format)}
	pdfs, err := composer.LabelsPDFs(ls, kept.Locale)
	if err != nil {
		return outbound.Message{}, err
	}
	return outbound.Restore(kept, pdfs)
}

// queueResend indexes the resend in the RMA's thread (the partner's answer to it is a
// follow-up) and puts it on the outbox.
func (c *Console) queueResend(ctx context.Context, rec rma.Record, again outbound.Message) error {
	if err := c.cfg.Store.IndexThread(ctx, rec.PartnerID, []string{rec.Number}, again.ID); err != nil {
		return err
	}
	return c.cfg.Outbox(ctx, again)
}
