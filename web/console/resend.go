package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// extraResent is the history extra of a re-sent reply: the resend's Message-ID.
const extraResent = "resent"

// resend serves POST /console/rmas/{year}/{n}/resend: the partner's last reply about this RMA
// (kept 30 days, store.ReplyRetention) goes out again with the same content under a Message-ID of
// its own, through the outbox (so it is sent at least once, and once per resend), and the RMA's
// history says who re-sent it.
func (c *Console) resend(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	if c.cfg.Outbox == nil {
		c.render(w, http.StatusServiceUnavailable, "error", v, "error.unavailable")
		return
	}
	b, err := c.cfg.Store.LastReply(r.Context(), rec.PartnerID, rec.Number)
	var msg outbound.Message
	if err == nil {
		err = json.Unmarshal(b, &msg)
	}
	switch {
	case errors.Is(err, store.ErrNoReply):
		c.renderRMA(w, v, http.StatusConflict, rec, map[string]string{"resend": c.wordIn(v.Locale, "resend.none")}, nil, "")
		return
	case err != nil:
		c.unavailable(w, v, err)
		return
	}
	again, err := outbound.Resend(msg, c.cfg.Now())
	if err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("resend")
		c.renderRMA(w, v, http.StatusConflict, rec, map[string]string{"resend": c.wordIn(v.Locale, "resend.none")}, nil, "")
		return
	}
	if err := c.queueResend(r.Context(), rec, msg, again); err != nil {
		c.unavailable(w, v, err)
		return
	}
	if !c.addEvent(w, r, v, rec, rma.Event{Actor: v.actor(), Extra: map[string]string{extraAction: "resend", extraResent: again.ID, "message_id": msg.ID}}) {
		return
	}
	c.audit(v, "resend", rec.Number).Str("message_id", again.ID).Str("original", msg.ID).Strs("to", again.To).Msg("last reply re-sent")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}

// queueResend indexes the resend in the RMA's thread (the partner's answer to it is a
// follow-up) and puts it on the outbox.
func (c *Console) queueResend(ctx context.Context, rec rma.Record, orig, again outbound.Message) error {
	if err := c.cfg.Store.IndexThread(ctx, rec.PartnerID, []string{rec.Number}, again.ID); err != nil {
		return err
	}
	return c.cfg.Outbox(ctx, again)
}
