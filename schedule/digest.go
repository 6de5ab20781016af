package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
)

// digest sends each partner whose RMAs' status changed since its last digest one mail listing
// them (outbound.DigestEntries says what is listed). Partners are independent: one failing does
// not keep the others from their digest, and a rerun finishes it.
func (s *Schedule) digest(ctx context.Context, tick time.Time, rep *Report) error {
	partners, err := s.store.Partners(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range partners {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.digestPartner(ctx, pid, tick, rep); err != nil {
			s.log.Error().Err(err).Str("partner", pid).Msg("digest not sent; the next run retries")
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// digestPartner tells the partner what changed between its watermark and tick. A digest an
// earlier run put on its way without recording it (it was cut off) goes first, as the same
// mail, so that what it told is not told again in this one.
func (s *Schedule) digestPartner(ctx context.Context, pid string, tick time.Time, rep *Report) error {
	if told, err := s.store.DigestTold(ctx, pid, tick); err != nil || told {
		return err
	}
	from, err := s.store.DigestWatermark(ctx, pid)
	if err != nil {
		return err
	}
	pending, err := s.store.DigestPending(ctx, pid)
	if err != nil {
		return err
	}
	if pending.After(from) {
		told, err := s.sendDigest(ctx, pid, from, pending, rep)
		if err != nil {
			return err
		}
		if told {
			from = pending
		}
	}
	// A later digest (run by hand) may have told it all already.
	if from.Before(tick) {
		if _, err := s.sendDigest(ctx, pid, from, tick, rep); err != nil {
			return err
		}
	}
	return s.store.MarkDigestTold(ctx, pid, tick, runMarkerTTL)
}

// sendDigest puts the partner's digest for the window (from, to] on its way when a status
// changed in it, and then moves the watermark to to. told is false when the watermark stays
// because the partner cannot be told (not in the partners file, no address): once it can, the
// changes are told.
func (s *Schedule) sendDigest(ctx context.Context, pid string, from, to time.Time, rep *Report) (told bool, err error) {
	log := s.log.With().Str("partner", pid).Logger()
	changed, err := s.store.ChangedSince(ctx, pid, from)
	if err != nil {
		return false, err
	}
	open, err := s.store.OpenRecords(ctx, pid)
	if err != nil {
		return false, err
	}
	entries := outbound.DigestEntries(append(changed, open...), from, to)
	nChanged := 0
	for _, e := range entries {
		if e.Changed() {
			nChanged++
		}
	}
	if nChanged > 0 {
		partner, ok := s.partner(pid)
		if !ok {
			log.Warn().Int("changed", nChanged).Msg("partner is not in the partners file: no digest")
			return false, nil
		}
		msg, err := s.composer.Digest(partner, entries, from, to)
		if errors.Is(err, outbound.ErrNoAddress) {
			log.Warn().Err(err).Msg("no digest: add an e-mail address for the partner to the partners file")
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("digest for %s: %w", pid, err)
		}
		// Before it goes: a crash from here until the watermark has moved makes the next run
		// send this same digest (same window, same Message-ID), which the outbox sends once.
		if err := s.store.SetDigestPending(ctx, pid, to); err != nil {
			return false, err
		}
		// A partner's answer to the digest is a follow-up of the RMAs it lists.
		nums := make([]string, len(entries))
		var changedNums []string
		for i, e := range entries {
			nums[i] = e.Record.Number
			if e.Changed() {
				changedNums = append(changedNums, e.Record.Number)
			}
		}
		if err := s.store.IndexThread(ctx, pid, nums, msg.ID, rma.RefToken(msg.ID)); err != nil {
			return false, fmt.Errorf("digest for %s: %w", pid, err)
		}
		// It is the mail that told the partner of these changes, so the console can send it
		// again from each changed RMA's page; the RMAs it only lists as open keep their newer
		// mails at hand.
		if err := s.composer.KeepSent(ctx, s.store, pid, changedNums, msg); err != nil {
			return false, fmt.Errorf("digest for %s: %w", pid, err)
		}
		if err := s.outbox.Put(ctx, msg); err != nil {
			return false, fmt.Errorf("digest for %s: %w", pid, err)
		}
		rep.Mails = append(rep.Mails, Mail{Kind: "digest", Partner: pid, RMAs: len(entries), MessageID: msg.ID, To: msg.To})
		log.Info().Str("message_id", msg.ID).Int("changed", nChanged).Int("listed", len(entries)).Msg("digest on its way")
	}
	if err := s.store.AdvanceDigestWatermark(ctx, pid, to); err != nil {
		return false, err
	}
	if nChanged > 0 {
		if err := s.store.ClearDigestPending(ctx, pid); err != nil {
			return false, err
		}
	}
	return true, nil
}
