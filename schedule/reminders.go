package schedule

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// reminders applies the reminder and escalation rules (rules.Due) to every RMA in a status a
// rule is about, then sends the mails the applied rules owe.
func (s *Schedule) reminders(ctx context.Context, tick time.Time, rep *Report) error {
	staffWarned := false
	var errs []error
	for _, st := range rules.AgeingStatuses {
		recs, err := s.store.ByStatus(ctx, st)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			rem, due := rules.Due(r, s.policy, tick)
			if !due {
				continue
			}
			if rem.Rule == rules.RuleUncollected && strings.TrimSpace(s.composer.StaffAddr) == "" {
				if !staffWarned {
					staffWarned = true
					s.log.Warn().Msg("notify.staff is not set: uncollected repaired/replaced items are not reported")
				}
				continue
			}
			if err := s.apply(ctx, rem, tick, rep); err != nil {
				s.log.Error().Err(err).Str("rma", r.Number).Str("partner", r.PartnerID).Str("rule", rem.Rule).Msg("rule not applied; the next run retries")
				errs = append(errs, err)
			}
		}
	}
	if err := s.notify(ctx, rep); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// apply records one due rule: the mail it owes first (so a crash after the change still tells),
// then the change or the history event.
func (s *Schedule) apply(ctx context.Context, rem rules.Reminder, tick time.Time, rep *Report) error {
	r := rem.Record
	log := s.log.With().Str("rma", r.Number).Str("partner", r.PartnerID).Str("rule", rem.Rule).Logger()
	partner, known := s.partner(r.PartnerID)
	if rem.Rule == rules.RuleGoodsReminder && (!known || len(partner.Emails) == 0) {
		// A reminder nobody reads is not worth recording; the expiry still comes in time.
		log.Warn().Msg("partner unknown or without e-mail address: no goods reminder")
		return nil
	}
	ev := rem.Event(outbound.RuleNote(partner.Locale, rem), tick)
	if err := s.store.AddNotice(ctx, store.Notice{Partner: r.PartnerID, Number: r.Number, Rule: rem.Rule, At: tick}); err != nil {
		return err
	}
	if rem.To == "" {
		added, err := s.store.AddEventOnce(ctx, r.Number, rem.Rule, ev)
		switch {
		case errors.Is(err, store.ErrStatusChanged):
			log.Info().Msg("status changed meanwhile: rule not applied")
			return nil
		case err != nil:
			return err
		case !added:
			return nil // recorded before; its notice is handled below
		}
	} else {
		_, err := s.store.SetStatus(ctx, r.Number, rem.To, rules.ScheduleActor, ev.Note, ev.Extra, tick)
		var te *rma.TransitionError
		switch {
		case errors.As(err, &te):
			log.Info().Str("status", string(te.From)).Msg("status changed meanwhile: rule not applied")
			return nil
		case err != nil:
			return err
		}
	}
	rep.Applied = append(rep.Applied, Applied{Rule: rem.Rule, RMA: r.Number, Partner: r.PartnerID, To: rem.To})
	log.Info().Str("to", string(rem.To)).Msg("rule applied")
	return nil
}

// notify sends the mails owed by applied rules — this run's, and any an earlier run left behind
// when it was cut off — and drops each notice once its mails are on their way.
func (s *Schedule) notify(ctx context.Context, rep *Report) error {
	notices, err := s.store.Notices(ctx)
	if err != nil {
		return err
	}
	sort.SliceStable(notices, func(i, j int) bool { return notices[i].At.Before(notices[j].At) })
	var errs []error
	for _, n := range notices {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.notifyOne(ctx, n, rep); err != nil {
			s.log.Error().Err(err).Str("rma", n.Number).Str("partner", n.Partner).Str("rule", n.Rule).Msg("mail not sent; the next run retries")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Schedule) notifyOne(ctx context.Context, n store.Notice, rep *Report) error {
	log := s.log.With().Str("rma", n.Number).Str("partner", n.Partner).Str("rule", n.Rule).Logger()
	r, err := s.store.Get(ctx, n.Number)
	if errors.Is(err, store.ErrNotFound) {
		log.Warn().Msg("RMA gone: nothing to tell")
		return s.store.DropNotice(ctx, n)
	}
	if err != nil {
		return err
	}
	ev, ok := rules.RuleEvent(r, n.Rule)
	if !ok {
		// The rule was not applied after all: the RMA moved on before it could be.
		log.Info().Msg("rule not applied: nothing to tell")
		return s.store.DropNotice(ctx, n)
	}
	rem := rules.ReminderFromEvent(r, ev)
	partner, known := s.partner(r.PartnerID)
	if !known {
		partner = rma.Partner{ID: r.PartnerID}
	}
	// The mails are dated at the rule's event, so a resend composes the same mail.
	if rules.TellsPartner(rem.Rule) {
		msg, err := s.composer.PartnerReminder(partner, rem, ev.At)
		switch {
		case errors.Is(err, outbound.ErrNoAddress):
			log.Warn().Err(err).Msg("partner not told: no e-mail address in the partners file")
		case err != nil:
			return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
		default:
			// The partner's answer to the reminder is a follow-up of the RMA.
			if err := s.store.IndexThread(ctx, r.PartnerID, []string{r.Number}, msg.ID, rma.RefToken(msg.ID)); err != nil {
				return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
			}
			if err := s.composer.KeepSent(ctx, s.store, r.PartnerID, []string{r.Number}, msg); err != nil {
				return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
			}
			if err := s.outbox.Put(ctx, msg); err != nil {
				return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
			}
			rep.Mails = append(rep.Mails, Mail{Kind: "reminder", Rule: rem.Rule, Partner: r.PartnerID, RMA: r.Number, MessageID: msg.ID, To: msg.To})
			log.Info().Str("message_id", msg.ID).Msg("partner mail on its way")
		}
	}
	if msg, ok, err := s.composer.StaffEscalation(partner, rem, ev.At); err != nil {
		return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
	} else if ok {
		if err := s.outbox.Put(ctx, msg); err != nil {
			return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
		}
		rep.Mails = append(rep.Mails, Mail{Kind: "escalation", Rule: rem.Rule, Partner: r.PartnerID, RMA: r.Number, MessageID: msg.ID, To: msg.To})
		log.Info().Str("message_id", msg.ID).Msg("staff mail on its way")
	}
	return s.store.DropNotice(ctx, n)
}
