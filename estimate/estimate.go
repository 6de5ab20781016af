// Package estimate runs repair estimates (docs/contract.md §12): staff send one for an RMA
// being diagnosed (`rmad estimate`, the console), the partner gets it by mail in its language
// and answers by replying ACCEPT or DECLINE (in any of its languages) or through one of two
// signed links; the answer moves the RMA to repairing or returned_unrepaired and is written in
// its history with who answered and how. Unanswered estimates are the schedule's (the
// estimate_reminder and estimate_expired rules of package rules).
package estimate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Ways an answer came, in the history event's extra "via".
const (
	ViaMail = "mail"
	ViaLink = "link"
)

// ErrPending is a new estimate for an RMA whose estimate is still waiting for its answer.
var ErrPending = errors.New("an estimate is already waiting for the partner's answer")

// Config is what a Service works with.
type Config struct {
	Store    *store.Store
	Composer *outbound.Composer
	// Put puts a composed mail on its way (the outbox); one Message-ID twice is mailed once.
	Put func(ctx context.Context, m outbound.Message) error
	// Partner looks a partner up in the partners file as it is now.
	Partner func(id string) (rma.Partner, bool)
	// Key signs the links (config http.link_secret_file, else store.LinkKey).
	Key []byte
	// BaseURL is http.public_url (config.HTTP.BaseURL).
	BaseURL string
	// ReminderDays is policy.estimate_reminder_days: links expire when the estimate does, twice
	// that after it was sent.
	ReminderDays int
	Now          func() time.Time // nil: time.Now
	Log          zerolog.Logger
}

// Service sends estimates and records their answers.
type Service struct {
	cfg Config
	log zerolog.Logger
}

// New checks cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Composer == nil || cfg.Put == nil || cfg.Partner == nil {
		return nil, errors.New("estimate: a store, a composer, an outbox and the partners are needed")
	}
	if len(cfg.Key) < 16 {
		return nil, errors.New("estimate: the link key must have at least 16 bytes (http.link_secret_file)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReminderDays <= 0 {
		cfg.ReminderDays = 7
	}
	return &Service{cfg: cfg, log: cfg.Log.With().Str("component", "estimate").Logger()}, nil
}

// Offer is what staff write in an estimate.
type Offer struct {
	Parts, Labour, Shipping int64 // cents
	Currency                string
	Note                    string // to the partner, in the mail
}

// Sent is what Send did.
type Sent struct {
	Record   rma.Record
	Estimate rma.Estimate
	Mail     outbound.Message
	// Again is true when the same offer was pending already: its mail was put on its way once
	// more (the outbox sends it once), nothing else changed.
	Again bool
}

// Send sends an estimate for RMA number: the RMA moves to estimate_sent (from diagnosing, as
// the lifecycle says; else a *rma.TransitionError) with the offer in its history, and the
// partner's mail goes out in the RMA's thread. Sending the same offer again while it waits (a
// retry after a crash) sends nothing twice; another offer while one waits is ErrPending.
func (s *Service) Send(ctx context.Context, number string, o Offer, actor string) (Sent, error) {
	if o.Currency == "" {
		o.Currency = "EUR"
	}
	cur, err := rma.ParseCurrency(o.Currency)
	if err != nil {
		return Sent{}, err
	}
	o.Currency, o.Note = cur, strings.TrimSpace(o.Note)
	r, err := s.cfg.Store.Get(ctx, number)
	if err != nil {
		return Sent{}, err
	}
	partner, ok := s.cfg.Partner(r.PartnerID)
	if !ok {
		return Sent{}, fmt.Errorf("%s: partner %s is not in the partners file: nobody to send the estimate to", r.Number, r.PartnerID)
	}
	now := s.cfg.Now()
	if p, ok := r.PendingEstimate(); ok {
		if p.Parts != o.Parts || p.Labour != o.Labour || p.Shipping != o.Shipping || p.Currency != o.Currency || p.Note != o.Note {
			return Sent{}, fmt.Errorf("%s: %w (%s sent on %s)", r.Number, ErrPending, outbound.EstimateTotal(p), p.SentAt.Format(time.DateOnly))
		}
		msg, err := s.mail(ctx, partner, r, p)
		return Sent{Record: r, Estimate: p, Mail: msg, Again: true}, err
	}
	if err := rma.CheckTransition(r.Status, rma.StatusEstimateSent); err != nil {
		return Sent{}, fmt.Errorf("%s: %w", r.Number, err)
	}
	e := rma.Estimate{ID: newID(), Parts: o.Parts, Labour: o.Labour, Shipping: o.Shipping, Currency: o.Currency,
		Note: o.Note, SentAt: now.UTC().Truncate(time.Second), SentBy: actor}
	// Composed first: a partner without an address gets no estimate and the RMA stays as it is.
	if _, err := s.compose(partner, r, e); err != nil {
		return Sent{}, err
	}
	l := i18n.For(partner.Locale)
	r, err = s.cfg.Store.SetStatus(ctx, r.Number, rma.StatusEstimateSent, actor,
		l.T("history.estimate_sent", "total", outbound.EstimateTotal(e)), e.Extra(), e.SentAt)
	if err != nil {
		return Sent{}, err
	}
	msg, err := s.mail(ctx, partner, r, e)
	if err != nil {
		return Sent{Record: r, Estimate: e}, fmt.Errorf("%s: estimate recorded, its mail not yet sent (send the same estimate again): %w", r.Number, err)
	}
	s.log.Info().Str("rma", r.Number).Str("partner", r.PartnerID).Str("user", actor).Str("message_id", msg.ID).
		Str("total", outbound.EstimateTotal(e)).Msg("estimate sent")
	return Sent{Record: r, Estimate: e, Mail: msg}, nil
}

// Expires is when estimate e's links stop working: when the unanswered estimate is returned.
func (s *Service) Expires(e rma.Estimate) time.Time {
	return e.SentAt.Add(time.Duration(2*s.cfg.ReminderDays) * 24 * time.Hour)
}

// Links are estimate e's signed accept and decline links for RMA r.
func (s *Service) Links(r rma.Record, e rma.Estimate) outbound.EstimateLinks {
	c := linkClaims{Partner: r.PartnerID, Number: r.Number, EstimateID: e.ID, Expires: s.Expires(e)}
	return outbound.EstimateLinks{
		Accept:  linkURL(s.cfg.BaseURL, makeToken(s.cfg.Key, c, rma.EstimateAccept), rma.EstimateAccept),
		Decline: linkURL(s.cfg.BaseURL, makeToken(s.cfg.Key, c, rma.EstimateDecline), rma.EstimateDecline),
		Expires: c.Expires,
	}
}

func (s *Service) compose(p rma.Partner, r rma.Record, e rma.Estimate) (outbound.Message, error) {
	e.Note = strings.TrimSpace(e.Note)
	return s.cfg.Composer.Estimate(p, r, e, s.Links(r, e), e.SentAt)
}

// mail composes estimate e's mail, puts its Message-ID in the thread index (a reply to it is
// an answer) and puts it on its way.
func (s *Service) mail(ctx context.Context, p rma.Partner, r rma.Record, e rma.Estimate) (outbound.Message, error) {
	msg, err := s.compose(p, r, e)
	if err != nil {
		return msg, err
	}
	if err := s.cfg.Store.IndexThread(ctx, r.PartnerID, []string{r.Number}, msg.ID); err != nil {
		return msg, err
	}
	if err := s.cfg.Composer.KeepSent(ctx, s.cfg.Store, r.PartnerID, []string{r.Number}, msg); err != nil {
		return msg, err
	}
	return msg, s.cfg.Put(ctx, msg)
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b)
}

// Answer is a partner's answer to an estimate.
type Answer struct {
	Number string
	// EstimateID names the estimate a link is for; "" (a mail) answers the one pending.
	EstimateID string
	Answer     rma.EstimateAnswer
	Via        string // ViaMail or ViaLink
	Who        string // the sender's address (mail); "" for a link (the partner's)
	// Mail is the partner's answering mail (Via mail): the confirmation is threaded under it,
	// and a retry of the same mail is recognised by its Message-ID.
	Mail *rma.Submission
}

// Result is what became of an answer.
type Result int

// Results.
const (
	// Recorded: the answer was recorded now.
	Recorded Result = iota
	// Again: this very answer (the same mail, the same link) was recorded before; nothing
	// changed now (its mails were put on their way again, sent once).
	Again
	// NotPending: the estimate is not waiting for an answer (answered otherwise, returned,
	// another estimate); nothing changed.
	NotPending
)

// Outcome is the answer's result with the RMA as it is now.
type Outcome struct {
	Result   Result
	Record   rma.Record
	Estimate rma.Estimate
	// Answered is the event that answered the estimate before (Again, NotPending), if any.
	Answered rma.Event
	Mails    []outbound.Message
}

// Decide records answer a: the RMA moves to repairing (accept) or returned_unrepaired
// (decline) with who and how in its history, the partner gets a confirmation and staff are
// told. Only the RMA's state decides: an estimate no longer pending changes nothing (the
// caller tells the partner so), and a retry of the same answer after a crash records nothing
// twice and sends the same mails again, which the outbox mails once.
func (s *Service) Decide(ctx context.Context, a Answer) (Outcome, error) {
	var out Outcome
	for range 3 { // the status may change between reading and writing: judge again
		r, err := s.cfg.Store.Get(ctx, a.Number)
		if err != nil {
			return out, err
		}
		out.Record = r
		e, pending := r.PendingEstimate()
		if !pending || (a.EstimateID != "" && e.ID != a.EstimateID) {
			id := a.EstimateID
			if id == "" {
				last, ok := r.LastEstimate()
				if !ok {
					return out, fmt.Errorf("%s: no estimate was sent", r.Number)
				}
				id = last.ID
			}
			out.Estimate, _ = r.LastEstimate()
			ev, answered := r.EstimateAnswered(id)
			out.Answered = ev
			if answered && s.sameAnswer(ev, a) {
				out.Result = Again
				out.Mails, err = s.answerMails(ctx, r, out.Estimate, a)
				return out, err
			}
			out.Result = NotPending
			return out, nil
		}
		out.Estimate = e
		partner, _ := s.cfg.Partner(r.PartnerID)
		actor := a.Who
		if actor == "" {
			actor = "partner:" + r.PartnerID
		}
		extra := map[string]string{rma.ExtraEstimateID: e.ID, rma.ExtraEstimateAnswer: string(a.Answer), rma.ExtraAnsweredVia: a.Via}
		if a.Mail != nil {
			extra[rma.ExtraMessageID] = a.Mail.Source.MessageID
		}
		note := i18n.For(partner.Locale).T("history.estimate_"+string(a.Answer), "total", outbound.EstimateTotal(e))
		r, err = s.cfg.Store.SetStatus(ctx, r.Number, a.Answer.Status(), actor, note, extra, s.cfg.Now())
		var te *rma.TransitionError
		if errors.As(err, &te) {
			continue
		}
		if err != nil {
			return out, err
		}
		out.Result, out.Record = Recorded, r
		out.Mails, err = s.answerMails(ctx, r, e, a)
		s.log.Info().Str("rma", r.Number).Str("partner", r.PartnerID).Str("answer", string(a.Answer)).Str("via", a.Via).
			Str("status", string(r.Status)).Msg("estimate answered")
		return out, err
	}
	return out, fmt.Errorf("%s: the status kept changing while the answer was recorded", a.Number)
}

// sameAnswer reports whether ev (an estimate's answer event) is answer a itself, recorded
// before: the same mail, or a link with the same answer.
func (s *Service) sameAnswer(ev rma.Event, a Answer) bool {
	if ev.Extra[rma.ExtraAnsweredVia] != a.Via || ev.Extra[rma.ExtraEstimateAnswer] != string(a.Answer) {
		return false
	}
	if a.Via == ViaMail {
		return a.Mail != nil && ev.Extra[rma.ExtraMessageID] == a.Mail.Source.MessageID
	}
	return true
}

// answerMails composes the confirmation to the partner and the staff mail about answer a, puts
// their Message-IDs in the RMA's thread and puts them on their way.
func (s *Service) answerMails(ctx context.Context, r rma.Record, e rma.Estimate, a Answer) ([]outbound.Message, error) {
	partner, ok := s.cfg.Partner(r.PartnerID)
	if !ok {
		partner = rma.Partner{ID: r.PartnerID}
	}
	at := e.SentAt // dated at the estimate: a resend composes the same mail
	var msgs []outbound.Message
	msg, err := s.cfg.Composer.EstimateAnswered(partner, r, e, a.Answer, a.Mail, at)
	switch {
	case errors.Is(err, outbound.ErrNoAddress):
		s.log.Warn().Str("rma", r.Number).Str("partner", r.PartnerID).Msg("partner not told: no e-mail address")
	case err != nil:
		return nil, err
	default:
		// The partner's confirmation is the RMA's newest partner mail (the staff mail is not).
		if err := s.cfg.Composer.KeepSent(ctx, s.cfg.Store, r.PartnerID, []string{r.Number}, msg); err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
	text := ""
	if a.Mail != nil && a.Mail.FollowUp != nil {
		text = a.Mail.FollowUp.Text
	}
	staff, ok, err := s.cfg.Composer.EstimateStaff(partner, r, e, a.Answer, a.Via, a.Who, text, at)
	if err != nil {
		return nil, err
	}
	if ok {
		msgs = append(msgs, staff)
	}
	ids := make([]string, 0, len(msgs)+1)
	if a.Mail != nil {
		ids = append(ids, a.Mail.Source.MessageID)
	}
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	if err := s.cfg.Store.IndexThread(ctx, r.PartnerID, []string{r.Number}, ids...); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := s.cfg.Put(ctx, m); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// NotPendingMail is the answer to a partner's mail that answered an estimate no longer
// waiting: nothing changed, and the RMA's status. It is in the RMA's thread.
func (s *Service) NotPendingMail(ctx context.Context, r rma.Record, sub rma.Submission) error {
	partner, ok := s.cfg.Partner(r.PartnerID)
	if !ok {
		partner = rma.Partner{ID: r.PartnerID}
	}
	msg, err := s.cfg.Composer.EstimateNotPending(partner, r, sub, s.cfg.Now())
	if err != nil {
		return err
	}
	if err := s.cfg.Store.IndexThread(ctx, r.PartnerID, []string{r.Number}, sub.Source.MessageID, msg.ID); err != nil {
		return err
	}
	if err := s.cfg.Composer.KeepSent(ctx, s.cfg.Store, r.PartnerID, []string{r.Number}, msg); err != nil {
		return err
	}
	return s.cfg.Put(ctx, msg)
}

// LinkState is what a link's page shows.
type LinkState string

// Link states.
const (
	LinkForm       LinkState = "form"        // GET: the question and one form that answers it
	LinkRecorded   LinkState = "recorded"    // POST: the answer is recorded now
	LinkUsed       LinkState = "used"        // this link's answer was recorded before
	LinkNotPending LinkState = "not_pending" // the estimate was answered otherwise, or returned
	LinkExpired    LinkState = "expired"
	LinkInvalid    LinkState = "invalid" // cut, changed, not ours, or its RMA is not its partner's
)

// LinkView is what a link's page needs.
type LinkView struct {
	State    LinkState
	Answer   rma.EstimateAnswer
	Locale   string // the partner's, "" when the link says nothing trustworthy
	Record   rma.Record
	Estimate rma.Estimate
	At       time.Time // used, not_pending: when the estimate was answered or left
}

// ViewLink is what GET on a link shows; it changes nothing.
func (s *Service) ViewLink(ctx context.Context, token, answer string) (LinkView, error) {
	return s.link(ctx, token, answer, false)
}

// AnswerLink records a link's answer (POST) and says what became of it.
func (s *Service) AnswerLink(ctx context.Context, token, answer string) (LinkView, error) {
	return s.link(ctx, token, answer, true)
}

func (s *Service) link(ctx context.Context, token, answer string, decide bool) (LinkView, error) {
	a, ok := rma.ParseEstimateAnswer(answer)
	if !ok {
		return LinkView{State: LinkInvalid}, nil
	}
	v := LinkView{State: LinkInvalid, Answer: a}
	c, err := readToken(s.cfg.Key, token, a, s.cfg.Now())
	if errors.Is(err, ErrLinkInvalid) {
		return v, nil
	}
	r, gerr := s.cfg.Store.Get(ctx, c.Number)
	if errors.Is(gerr, store.ErrNotFound) || (gerr == nil && r.PartnerID != c.Partner) {
		return v, nil
	}
	if gerr != nil {
		return v, gerr
	}
	v.Record = r
	if p, ok := s.cfg.Partner(r.PartnerID); ok {
		v.Locale = i18n.Normalize(p.Locale)
	}
	v.Estimate, _ = r.LastEstimate()
	if err != nil { // expired
		v.State = LinkExpired
		return v, nil
	}
	if e, pending := r.PendingEstimate(); pending && e.ID == c.EstimateID {
		v.Estimate = e
		if !decide {
			v.State = LinkForm
			return v, nil
		}
		out, err := s.Decide(ctx, Answer{Number: r.Number, EstimateID: c.EstimateID, Answer: a, Via: ViaLink})
		v.Record = out.Record
		switch {
		case err != nil:
			return v, err
		case out.Result == Recorded:
			v.State = LinkRecorded
			return v, nil
		}
		r = out.Record
	}
	ev, answered := r.EstimateAnswered(c.EstimateID)
	v.At = r.UpdatedAt
	if answered {
		v.At = ev.At
	}
	switch {
	case answered && ev.Extra[rma.ExtraAnsweredVia] == ViaLink && ev.Extra[rma.ExtraEstimateAnswer] == string(a):
		v.State = LinkUsed
		if decide { // a retry after a crash: the mails of the answer, once
			if _, err := s.answerMails(ctx, r, v.Estimate, Answer{Number: r.Number, EstimateID: c.EstimateID, Answer: a, Via: ViaLink}); err != nil {
				return v, err
			}
		}
	default:
		v.State = LinkNotPending
	}
	return v, nil
}
