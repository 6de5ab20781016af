package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// followUpThread returns the RMAs whose thread a partner's mail answers, or none when it is
// ordinary new mail. A mail with items of its own (or an item file rmad could not read) is a
// new submission whatever it answers. The thread is found by In-Reply-To/References in the
// sender's partner's thread index, else by the RMA numbers of the subject that this partner
// owns: another partner's numbers are ignored, as if the subject did not name them.
func (p *pipeline) followUpThread(ctx context.Context, sub rma.Submission) ([]string, error) {
	if sub.Kind != rma.KindSubmission || sub.FollowUp == nil || len(sub.Items) > 0 || sub.PartnerID == "" {
		return nil, nil
	}
	for _, pr := range sub.Problems {
		if pr.Code != rma.CodeNoItems && pr.Code != rma.CodeProofMissing {
			return nil, nil // too large, an unreadable CSV: answered as a submission
		}
	}
	ids := append([]string{sub.InReplyTo}, sub.References...)
	nums, err := p.store.ThreadNumbers(ctx, sub.PartnerID, ids)
	if err != nil || len(nums) > 0 {
		return nums, err
	}
	for _, n := range sub.FollowUp.Numbers {
		rec, err := p.store.Get(ctx, n)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("follow-up %s: %w", n, err)
		}
		if rec.PartnerID == sub.PartnerID && !slices.Contains(nums, rec.Number) {
			nums = append(nums, rec.Number)
		}
	}
	return nums, nil
}

// followUp records a partner's reply in the thread of RMAs numbers: its text as a partner note
// on each (actor: the sender's address), with the tracking number when the reply labels one;
// staff are told by mail; the partner is answered only when something was recorded beyond the
// note. Each RMA gets the note once per mail (its submission key), and the mails keep their
// Message-IDs, so a retry after a crash anywhere in between records nothing twice and still
// sends what was not sent.
func (p *pipeline) followUp(ctx context.Context, sub rma.Submission, numbers []string, enqueued string, log zerolog.Logger) error {
	partner, ok := p.engine.Data().Partners.ByID(sub.PartnerID)
	if !ok {
		return fmt.Errorf("partner %q is not registered: %w", sub.PartnerID, queue.ErrPermanent)
	}
	now := p.now()
	tracking := sub.FollowUp.Fields["tracking"]
	extra := map[string]string{"source": "mail", "message_id": sub.Source.MessageID}
	if tracking != "" {
		extra["tracking"] = tracking
	}
	once := store.FollowUpKey(sub)
	for _, n := range numbers {
		ev := rma.Event{At: now, Actor: sub.From, Note: sub.FollowUp.Text, Extra: extra}
		if _, err := p.store.AddEventOnce(ctx, n, once, ev); err != nil {
			return fmt.Errorf("follow-up on %s: %w", n, err)
		}
		if tracking != "" {
			if err := p.store.IndexTracking(ctx, n, tracking); err != nil {
				return fmt.Errorf("follow-up on %s: %w", n, err)
			}
		}
	}
	ids := []string{sub.Source.MessageID}
	staff, staffOK, err := p.composer.FollowUpStaff(sub, partner, numbers, tracking, now)
	if err != nil {
		return fmt.Errorf("compose follow-up staff mail: %w", err)
	}
	if staffOK {
		ids = append(ids, staff.ID)
	}
	answered := false
	if tracking != "" {
		msg, err := p.composer.FollowUpTracking(sub, partner, numbers, tracking, now)
		if err != nil {
			return fmt.Errorf("compose follow-up answer: %w", err)
		}
		ids = append(ids, msg.ID)
		if err := p.store.IndexThread(ctx, partner.ID, numbers, ids...); err != nil {
			return err
		}
		if err := p.send(ctx, msg, enqueued); err != nil {
			return err
		}
		answered = true
	} else if err := p.store.IndexThread(ctx, partner.ID, numbers, ids...); err != nil {
		return err
	}
	if staffOK {
		if err := p.send(ctx, staff, ""); err != nil {
			return err
		}
	}
	log.Info().Str("rma", strings.Join(numbers, " ")).Str("tracking", tracking).Bool("answered", answered).Msg("follow-up recorded")
	return nil
}

// decidedNumbers are the RMA numbers a reply names: new ones and the existing ones of duplicates.
func decidedNumbers(ds []rma.Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Number != "" && !slices.Contains(out, d.Number) {
			out = append(out, d.Number)
		}
	}
	return out
}
