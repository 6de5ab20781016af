package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// newEstimates builds the repair-estimate service on the daemon's store, composer and outbox.
func (d *Daemon) newEstimates(ctx context.Context) (*estimate.Service, error) {
	return estimates(ctx, d.cfg, d.store, d.pipe.composer,
		func(ctx context.Context, m outbound.Message) error { return d.pipe.send(ctx, "", m) },
		func(id string) (rma.Partner, bool) { return d.engine.Data().Partners.ByID(id) }, d.opt.Now, d.log)
}

// OpenEstimates is the repair-estimate service for a command that runs without a daemon
// (`rmad estimate`): on Redis rdb, with the partners file as it is now, its mails queued on the
// outbox for the running instances' couriers. The func closes the outbox.
func OpenEstimates(ctx context.Context, cfg *config.Config, rdb redis.UniversalClient, now func() time.Time, log zerolog.Logger) (*estimate.Service, func(), error) {
	data, err := rules.LoadData(cfg)
	if err != nil {
		return nil, nil, err
	}
	ob := NewOutbox(rdb, cfg, log)
	svc, err := estimates(ctx, cfg, store.New(rdb, cfg.Redis.KeyPrefix), outbound.NewComposer(cfg), ob.Put, data.Partners.ByID, now, log)
	if err != nil {
		ob.Close()
		return nil, nil, err
	}
	return svc, ob.Close, nil
}

// estimates signs links with http.link_secret_file (or $RMAD_LINK_SECRET), else with the
// random key kept in Redis, and builds them on http.public_url.
func estimates(ctx context.Context, cfg *config.Config, st *store.Store, c *outbound.Composer, put func(context.Context, outbound.Message) error,
	partner func(string) (rma.Partner, bool), now func() time.Time, log zerolog.Logger) (*estimate.Service, error) {
	key, err := estimate.Key(ctx, cfg.HTTP.LinkSecret, st)
	if err != nil {
		return nil, err
	}
	return estimate.New(estimate.Config{
		Store: st, Composer: c, Put: put, Partner: partner, Key: key, BaseURL: cfg.HTTP.BaseURL(),
		ReminderDays: cfg.Policy.EstimateReminderDays, Now: now, Log: log,
	})
}

// estimateAnswer handles a follow-up whose first word answers a repair estimate (ACCEPT,
// ΑΠΟΔΟΧΗ, REFUZ ...): it is about the RMAs of the mail it answers (In-Reply-To), else of its
// thread, that were sent an estimate. It reports false when the mail is no such answer (an
// ordinary follow-up). Pending estimates are decided; when none is pending and the mail is not
// an answer recorded before (a retry), the partner is told that nothing changed.
func (p *pipeline) estimateAnswer(ctx context.Context, sub rma.Submission, thread []string, log zerolog.Logger) (bool, error) {
	if p.estimates == nil || sub.FollowUp == nil {
		return false, nil
	}
	answer, ok := i18n.EstimateAnswer(sub.FollowUp.Text)
	if !ok {
		return false, nil
	}
	direct, err := p.store.ThreadNumbers(ctx, sub.PartnerID, []string{sub.InReplyTo})
	if err != nil {
		return false, err
	}
	recs, err := p.withEstimate(ctx, direct)
	if err == nil && len(recs) == 0 {
		recs, err = p.withEstimate(ctx, thread)
	}
	if err != nil || len(recs) == 0 {
		return false, err
	}
	var latest rma.Record // of the estimates no longer pending, the one sent last
	var latestAt time.Time
	answered := false
	for _, r := range recs {
		out, err := p.estimates.Decide(ctx, estimate.Answer{Number: r.Number, Answer: answer, Via: estimate.ViaMail, Who: sub.From, Mail: &sub})
		if err != nil {
			return true, fmt.Errorf("estimate answer on %s: %w", r.Number, err)
		}
		if out.Result != estimate.NotPending {
			answered = true
			log.Info().Str("rma", r.Number).Str("answer", string(answer)).Bool("again", out.Result == estimate.Again).Msg("estimate answered by mail")
			continue
		}
		if e, _ := out.Record.LastEstimate(); latest.Number == "" || e.SentAt.After(latestAt) {
			latest, latestAt = out.Record, e.SentAt
		}
	}
	if !answered {
		log.Info().Str("rma", latest.Number).Str("status", string(latest.Status)).Msg("estimate answer: not pending, nothing changed")
		return true, p.estimates.NotPendingMail(ctx, latest, sub)
	}
	return true, nil
}

// withEstimate are the records of numbers that were sent an estimate.
func (p *pipeline) withEstimate(ctx context.Context, numbers []string) ([]rma.Record, error) {
	var out []rma.Record
	for _, n := range numbers {
		r, err := p.store.Get(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, ok := r.LastEstimate(); ok {
			out = append(out, r)
		}
	}
	return out, nil
}
