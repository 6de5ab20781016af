package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// History extras the console writes.
const (
	extraInternalNote = "internal_note" // a note for staff only, never in a partner's mail
	extraTracking     = "tracking"
	extraAction       = "console_action"
)

type field struct{ Name, Value string }

type event struct {
	At           time.Time
	Status       rma.Status
	Actor        string
	Note         string
	InternalNote string
	Tracking     string
	ReceiverPays string // staff's answer recorded by this event: approved or refused
	Resent       string // the Message-ID of the reply staff re-sent with this event
	Partner      bool   // a partner's note (from its mail in the thread)
	Unread       bool   // a partner's note this staff member had not seen before this view
}

type rmaData struct {
	Rec      rma.Record
	Row      row
	Partner  rma.Partner
	Known    bool
	Fields   []field
	History  []event
	Next     []rma.Status
	Since    time.Time
	Errors   map[string]string // form field → message
	Form     map[string]string // values to show again
	Refused  string            // an illegal move's reason
	Internal bool
	HasLabel bool // the partner sends it to the service centre, so it has a parcel label
	// ReceiverPays is staff's latest answer to a receiver-pays request (approved, refused), or
	// "asked" when the partner asked and nobody answered yet, or "" when nobody asked.
	ReceiverPays string
	// The repair estimate (estimate.go): its form while diagnosing, the one pending.
	CanResend      bool       // the console can send a kept partner mail again
	Kept           []keptView // the RMA's newest partner mails, newest first
	CanEstimate    bool
	EstimateFields []string
	Estimate       *pendingEstimate
	// Unread counts the partner notes this staff member sees for the first time on this view.
	Unread int
	Basis  warrantyBasis
}

// warrantyBasis is what the warranty decision rests on, as the rules noted it: the purchase
// date and where it came from, the catalog's warranty months, and a sales record that
// disagrees with the partner's date.
type warrantyBasis struct {
	FromSales bool   // the partner gave no date; the sales record's invoice date was used
	Months    int    // the catalog's warranty in months; 0 when the product is unknown
	SalesDate string // our sales record's date when it differs from the partner's
}

func basisOf(d rma.Decision) warrantyBasis {
	var b warrantyBasis
	if d.Product != nil {
		b.Months = d.Product.WarrantyMonths
	}
	for _, n := range d.Notes {
		switch n.Key {
		case rma.NoteDateFromSales:
			b.FromSales = true
		case rma.NoteDateDiffersFromSale:
			b.SalesDate = n.Params["sales"]
		}
	}
	return b
}

// rmaNumber reads /console/rmas/{year}/{n}.
func rmaNumber(r *http.Request) (string, bool) {
	n, err := rma.ParseNumber("RMA/" + r.PathValue("n") + "/SR/" + r.PathValue("year"))
	if err != nil {
		return "", false
	}
	return n.String(), true
}

// rmaPage serves GET /console/rmas/{year}/{n}. Opening it marks the partner's notes read for
// this staff member: the ones newer than the last look are marked unread on this view.
func (c *Console) rmaPage(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	last, err := c.cfg.Store.MarkSeen(r.Context(), v.User.Username, rec.Number, c.cfg.Now())
	if err != nil {
		c.log.Error().Err(err).Str("user", v.User.Username).Str("rma", rec.Number).Msg("mark seen")
	}
	c.renderRMAView(w, v, http.StatusOK, rec, nil, nil, "", &last)
}

func (c *Console) renderRMA(w http.ResponseWriter, v *view, status int, rec rma.Record, errs, form map[string]string, refused string) {
	c.renderRMAView(w, v, status, rec, errs, form, refused, nil)
}

// renderRMAView renders the RMA page; lastSeen, when set, is this staff member's previous look
// at it (partner notes after it are unread).
func (c *Console) renderRMAView(w http.ResponseWriter, v *view, status int, rec rma.Record, errs, form map[string]string, refused string, lastSeen *time.Time) {
	now := c.cfg.Now()
	d := rmaData{Rec: rec, Row: c.rowOf(rec, now), Next: rec.Status.Next(), Since: store.StatusSince(rec),
		Errors: errs, Form: form, Refused: refused, Basis: basisOf(rec.Decision)}
	if form != nil {
		d.Internal = form["visibility"] == "internal"
	}
	d.Partner, d.Known = c.cfg.Partner(rec.PartnerID)
	_, lerr := label.ForRecord(rec, d.Partner, c.cfg.ServiceCenters)
	d.HasLabel = lerr == nil
	c.estimateView(&d)
	d.CanResend = c.cfg.Outbox != nil
	if d.CanResend {
		kept, err := c.cfg.Store.KeptMails(v.context(), rec.PartnerID, rec.Number)
		if err != nil {
			c.log.Error().Err(err).Str("rma", rec.Number).Msg("kept mails")
		}
		for _, m := range kept {
			d.Kept = append(d.Kept, keptView{ID: m.ID, Kind: m.Kind, Subject: m.Subject, Date: m.Date})
		}
	}
	for _, name := range rma.Fields {
		if val := rec.Decision.Item.Get(name); val != "" {
			d.Fields = append(d.Fields, field{Name: name, Value: val})
		}
	}
	for _, ev := range rec.History {
		e := event{At: ev.At, Status: ev.Status, Actor: ev.Actor, Note: ev.Note, Partner: ev.FromPartner(), Resent: ev.Extra[extraResent],
			InternalNote: ev.Extra[extraInternalNote], Tracking: ev.Extra[extraTracking], ReceiverPays: ev.Extra[rma.ExtraReceiverPays]}
		if e.Partner && lastSeen != nil && ev.At.After(*lastSeen) {
			e.Unread = true
			d.Unread++
		}
		d.History = append(d.History, e)
		if a := ev.Extra[rma.ExtraReceiverPays]; a != "" {
			d.ReceiverPays = a
		}
	}
	if d.ReceiverPays == "" && strings.TrimSpace(rec.Decision.Item.ReceiverPays) != "" {
		d.ReceiverPays = "asked"
	}
	v.Title = rec.Number
	v.Data = d
	c.render(w, status, "rma", v, "")
}

// noteOf reads the note and its visibility: a partner-visible note is the history's note
// (partners see it in their digest); an internal one is kept apart in the extras.
func noteOf(r *http.Request) (note string, extra map[string]string, errKey string) {
	note = strings.TrimSpace(r.PostForm.Get("note"))
	if len(note) > maxNoteLen {
		return "", nil, "form.note_too_long"
	}
	extra = map[string]string{}
	if r.PostForm.Get("visibility") == "internal" && note != "" {
		extra[extraInternalNote] = note
		note = ""
	}
	return note, extra, ""
}

func formOf(r *http.Request) map[string]string {
	return map[string]string{"note": r.PostForm.Get("note"), "visibility": r.PostForm.Get("visibility"),
		"tracking": r.PostForm.Get("tracking")}
}

// setStatus serves POST /console/rmas/{year}/{n}/status: 303 back to the page, or the page
// with the reason (409) for an illegal move, or with the field's message (422).
func (c *Console) setStatus(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	to, err := rma.ParseStatus(r.PostForm.Get("status"))
	note, extra, errKey := noteOf(r)
	switch {
	case err != nil:
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"status": c.wordIn(v.Locale, "form.status_unknown")}, formOf(r), "")
		return
	case errKey != "":
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"note": c.wordIn(v.Locale, errKey)}, formOf(r), "")
		return
	}
	extra[extraAction] = "status"
	updated, err := c.cfg.Store.SetStatus(r.Context(), rec.Number, to, v.actor(), note, extra, c.cfg.Now())
	var te *rma.TransitionError
	switch {
	case errors.As(err, &te):
		c.audit(v, "status_refused", rec.Number).Str("status", string(to)).Msg("illegal status change refused")
		c.renderRMA(w, v, http.StatusConflict, rec, nil, formOf(r), c.refusal(v.Locale, te))
		return
	case err != nil:
		c.unavailable(w, v, err)
		return
	}
	c.audit(v, "status", updated.Number).Str("from", string(rec.Status)).Str("status", string(to)).Msg("status changed")
	http.Redirect(w, r, rmaLink(updated.Number), http.StatusSeeOther)
}

// refusal says why a move is illegal, in the console's words.
func (c *Console) refusal(locale string, te *rma.TransitionError) string {
	next := te.From.Next()
	if len(next) == 0 {
		return fmt.Sprintf(c.wordIn(locale, "refused.final"), c.statusName(locale, te.From), c.statusName(locale, te.To))
	}
	names := make([]string, len(next))
	for i, st := range next {
		names[i] = c.statusName(locale, st)
	}
	return fmt.Sprintf(c.wordIn(locale, "refused.illegal"), c.statusName(locale, te.From), c.statusName(locale, te.To), strings.Join(names, ", "))
}

// pathRMA reads the RMA that /console/rmas/{year}/{n}[/...] names; false when it answered (404
// for a malformed or unknown number, 503 when the store fails).
func (c *Console) pathRMA(w http.ResponseWriter, r *http.Request, v *view) (rma.Record, bool) {
	number, ok := rmaNumber(r)
	if !ok {
		c.render(w, http.StatusNotFound, "error", v, "error.not_found")
		return rma.Record{}, false
	}
	rec, err := c.cfg.Store.Get(r.Context(), number)
	if err != nil {
		c.unavailable(w, v, err)
		return rma.Record{}, false
	}
	return rec, true
}

// addNote serves POST /console/rmas/{year}/{n}/note.
func (c *Console) addNote(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	note, extra, errKey := noteOf(r)
	if errKey == "" && note == "" && extra[extraInternalNote] == "" {
		errKey = "form.note_empty"
	}
	if errKey != "" {
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"note": c.wordIn(v.Locale, errKey)}, formOf(r), "")
		return
	}
	extra[extraAction] = "note"
	if !c.addEvent(w, r, v, rec, rma.Event{Actor: v.actor(), Note: note, Extra: extra}) {
		return
	}
	c.audit(v, "note", rec.Number).Bool("internal", note == "").Msg("note added")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}

// setReceiverPays serves POST /console/rmas/{year}/{n}/receiver-pays: staff's answer to a
// receiver-pays request, a history event; an approval shows on the RMA's parcel label.
func (c *Console) setReceiverPays(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	answer := r.PostForm.Get("answer")
	if answer != rma.ReceiverPaysApproved && answer != rma.ReceiverPaysRefused {
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"receiver_pays": c.wordIn(v.Locale, "form.rp_unknown")}, formOf(r), "")
		return
	}
	if !c.addEvent(w, r, v, rec, rma.Event{Actor: v.actor(), Extra: map[string]string{rma.ExtraReceiverPays: answer, extraAction: "receiver_pays"}}) {
		return
	}
	c.audit(v, "receiver_pays", rec.Number).Str("answer", answer).Msg("receiver pays answered")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}

// setTracking serves POST /console/rmas/{year}/{n}/tracking.
func (c *Console) setTracking(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	t := strings.TrimSpace(r.PostForm.Get("tracking"))
	msg := ""
	switch {
	case t == "":
		msg = "form.tracking_empty"
	case len(t) > maxTrackingLen || strings.ContainsAny(t, "\r\n\t"):
		msg = "form.tracking_bad"
	}
	if msg != "" {
		c.renderRMA(w, v, http.StatusUnprocessableEntity, rec, map[string]string{"tracking": c.wordIn(v.Locale, msg)}, formOf(r), "")
		return
	}
	if !c.addEvent(w, r, v, rec, rma.Event{Actor: v.actor(), Extra: map[string]string{extraTracking: t, extraAction: "tracking"}}) {
		return
	}
	if err := c.cfg.Store.IndexTracking(r.Context(), rec.Number, t); err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("tracking index")
	}
	c.audit(v, "tracking", rec.Number).Str("tracking", t).Msg("tracking set")
	http.Redirect(w, r, rmaLink(rec.Number), http.StatusSeeOther)
}

func (c *Console) addEvent(w http.ResponseWriter, r *http.Request, v *view, rec rma.Record, ev rma.Event) bool {
	ev.At, ev.Status = c.cfg.Now(), rec.Status
	err := c.cfg.Store.AddEvent(r.Context(), rec.Number, ev)
	if errors.Is(err, store.ErrStatusChanged) {
		// The status moved on while the form was open: show the page as it is now.
		fresh, gerr := c.cfg.Store.Get(r.Context(), rec.Number)
		if gerr == nil {
			c.renderRMA(w, v, http.StatusConflict, fresh, nil, formOf(r), c.wordIn(v.Locale, "refused.changed"))
			return false
		}
		err = gerr
	}
	if err != nil {
		c.unavailable(w, v, err)
		return false
	}
	return true
}

// labelPDF serves GET /console/rmas/{year}/{n}/label.pdf: the RMA's parcel label, the same
// one the reply carried (rmad label prints it too), to print at the desk or send again.
func (c *Console) labelPDF(w http.ResponseWriter, r *http.Request, v *view) {
	rec, ok := c.pathRMA(w, r, v)
	if !ok {
		return
	}
	p, known := c.cfg.Partner(rec.PartnerID)
	if !known {
		p = rma.Partner{ID: rec.PartnerID}
	}
	l, err := label.ForRecord(rec, p, c.cfg.ServiceCenters)
	if err != nil {
		c.render(w, http.StatusNotFound, "error", v, "error.no_label")
		return
	}
	format := label.Format(c.cfg.Labels.Format)
	if format == "" {
		format = label.DefaultFormat
	}
	pdf, err := label.PDF(format, l)
	if err != nil {
		c.log.Error().Err(err).Str("rma", rec.Number).Msg("parcel label")
		c.render(w, http.StatusInternalServerError, "error", v, "error.internal")
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+strings.ReplaceAll(rec.Number, "/", "-")+`-label.pdf"`)
	_, _ = w.Write(pdf)
	c.log.Info().Str("user", v.User.Username).Str("action", "label").Str("rma", rec.Number).Msg("parcel label printed")
}
