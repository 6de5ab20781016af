package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// The scheduled jobs (SPEC §3): `schedule.digest` and `schedule.reminders`, also run by hand
// with `rmad run-job`.
const (
	JobDigest    = "digest"
	JobReminders = "reminders"
)

// Jobs lists the scheduled jobs.
var Jobs = []string{JobDigest, JobReminders}

// How one run of a job is made to happen once (SPEC §10: "each cron run happens once"):
//
//   - A run is named by its job and tick (the scheduled minute in schedule.timezone). A "done"
//     marker for the run makes every later attempt for the same tick a no-op: the other
//     instances that fired at the same tick, a retry, a catch-up.
//   - One instance at a time works on a run: it holds the run's lease (renewed while it
//     works). The others wait for the holder to finish, or take over when the holder's lease
//     runs out (it crashed), and finish what is left.
//   - What is left is known per piece of work, so a crash in the middle and the takeover never
//     send twice: each partner's digest has a marker per tick, and each partner's digest
//     watermark says up to when changes were told; each reminder rule's event is written once
//     per RMA, and the mail it owes is a notice that is removed only once the mail is on the
//     outbox. Mails keep a Message-ID made from what they are about, and the outbox sends each
//     Message-ID once, so even a piece of work repeated after a crash is mailed once.
const (
	scheduleLeaseTTL = 30 * time.Second
	runMarkerTTL     = 45 * 24 * time.Hour
	leaseWaitPoll    = time.Second
	leaseWaitMax     = 20 * time.Minute
	// catchUpWithin bounds how far back an unfinished run is caught up at start-up.
	catchUpWithin = 26 * time.Hour
)

// schedule runs the digest and reminder jobs.
type schedule struct {
	cron     *outbound.Scheduler
	store    *store.Store
	leases   *store.Leases
	engine   *rules.Engine
	composer *outbound.Composer
	policy   config.Policy
	loc      *time.Location
	now      func() time.Time
	log      zerolog.Logger
	// emit puts a composed mail on its way: the outbox (default), or SMTP at once (run-job --send).
	emit    func(ctx context.Context, m outbound.Message) error
	poll    time.Duration // how often a run waiting for another instance looks again
	maxWait time.Duration // how long it waits before giving up
}

func newSchedule(d *Daemon) (*schedule, error) {
	loc := d.cfg.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	s := &schedule{
		store:    d.store,
		leases:   d.store.Leases(),
		engine:   d.engine,
		composer: d.pipe.composer,
		policy:   d.cfg.Policy,
		loc:      loc,
		now:      d.opt.Now,
		log:      d.log.With().Str("component", "schedule").Logger(),
		emit:     func(ctx context.Context, m outbound.Message) error { return d.pipe.send(ctx, m, "") },
		poll:     leaseWaitPoll,
		maxWait:  leaseWaitMax,
	}
	s.cron = outbound.NewScheduler(loc, d.opt.Now, d.log)
	for _, j := range []struct{ name, spec string }{{JobDigest, d.cfg.Schedule.Digest}, {JobReminders, d.cfg.Schedule.Reminders}} {
		name := j.name
		err := s.cron.Add(name, j.spec, func(ctx context.Context, tick time.Time) error {
			_, err := s.run(ctx, name, tick)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("schedule.%s: %w", name, err)
		}
	}
	return s, nil
}

// start fires the jobs from now on, with ctx (the daemon's work context), and catches up a run
// that an earlier process started and did not finish (it crashed or was killed mid-run).
func (s *schedule) start(ctx context.Context) {
	s.cron.Start(ctx)
	now := s.now()
	for _, name := range Jobs {
		tick, ok := s.cron.PrevTick(name, now, catchUpWithin)
		if !ok {
			continue
		}
		key := runKey(name, tick, s.loc)
		started, err1 := s.store.Marked(ctx, key+":started")
		done, err2 := s.store.Marked(ctx, key+":done")
		if err := errors.Join(err1, err2); err != nil {
			s.log.Warn().Err(err).Str("job", name).Msg("cannot tell whether the last run finished; the next tick catches up")
			continue
		}
		if started && !done {
			s.log.Warn().Str("job", name).Str("tick", tick.Format(time.RFC3339)).Msg("the last run did not finish: catching it up")
			s.cron.RunAt(name, tick)
		}
	}
}

// stop fires no more jobs; wait waits for the runs in progress.
func (s *schedule) stop() { s.cron.Stop() }
func (s *schedule) wait() { s.cron.Wait() }

// runKey names one run: job and tick, to the minute, in the schedule's zone.
func runKey(job string, tick time.Time, loc *time.Location) string {
	return "run:" + job + ":" + tick.In(loc).Format("2006-01-02T15:04Z07:00")
}

// JobReport says what one run of a job did.
type JobReport struct {
	Job  string
	Tick time.Time
	// Skipped says why nothing was done ("" when the run was done now).
	Skipped string
	Applied []JobRule // reminders: the rules applied to RMAs in this run
	Mails   []JobMail // the mails put on their way
}

// JobRule is a reminder rule applied to an RMA.
type JobRule struct {
	Rule, RMA, Partner string
	To                 rma.Status // the new status; "" when the rule only told someone
}

// JobMail is a mail a run put on its way.
type JobMail struct {
	Kind      string // digest, reminder, escalation
	Rule      string // reminders: the rule it is about
	Partner   string
	RMA       string // reminders: the RMA it is about
	RMAs      int    // digest: the RMAs it lists
	MessageID string
	To        []string
}

// RunJob runs a scheduled job at once, as `rmad run-job` does, for the tick at's minute (in
// schedule.timezone): the same run as a scheduled one for that minute, with the same lease and
// markers, so running it twice, or while another instance runs it, does nothing twice. Its mails
// go on the outbox, which the running daemons deliver; with send they are delivered over SMTP
// at once, with the outbox's sent markers.
func (d *Daemon) RunJob(ctx context.Context, name string, at time.Time, send bool) (JobReport, error) {
	s := *d.sched
	if send {
		s.emit = d.deliverNow
	}
	return s.run(ctx, name, at.In(s.loc).Truncate(time.Minute))
}

// Close releases what New opened, for a Daemon that is not Run (Run closes it itself).
func (d *Daemon) Close() error { return d.rdb.Close() }

// deliverNow sends a mail over SMTP the way the outbox courier does, with its sent marker, so
// that a copy also queued on the outbox is not sent again.
func (d *Daemon) deliverNow(ctx context.Context, m outbound.Message) error {
	b, err := json.Marshal(outboxJob{Message: m})
	if err != nil {
		return fmt.Errorf("deliver %s: %w", m.ID, err)
	}
	return d.courier.handle(ctx, queue.Message{ID: "run-job", Payload: b})
}

// run runs one job for one tick, once across instances (see the comment above scheduleLeaseTTL).
func (s *schedule) run(ctx context.Context, name string, tick time.Time) (JobReport, error) {
	rep := JobReport{Job: name, Tick: tick.In(s.loc)}
	var body func(context.Context, time.Time, *JobReport) error
	switch name {
	case JobDigest:
		body = s.digest
	case JobReminders:
		body = s.reminders
	default:
		return rep, fmt.Errorf("unknown job %q (known: %s)", name, strings.Join(Jobs, ", "))
	}
	key := runKey(name, tick, s.loc)
	log := s.log.With().Str("job", name).Str("tick", rep.Tick.Format(time.RFC3339)).Logger()
	lease, err := s.acquire(ctx, key, log)
	if err != nil {
		return rep, fmt.Errorf("%s at %s: %w", name, rep.Tick.Format(time.RFC3339), err)
	}
	if lease == nil {
		rep.Skipped = "already done for this tick"
		log.Debug().Msg("run already done")
		return rep, nil
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn().Err(err).Msg("run lease not released; it expires by itself")
		}
	}()
	if err := s.store.Mark(ctx, key+":started", runMarkerTTL); err != nil {
		return rep, err
	}
	// Losing the lease (Redis unreachable too long) means another instance may take over: stop.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost():
			cancel()
		case <-runCtx.Done():
		}
	}()
	if err := body(runCtx, rep.Tick, &rep); err != nil {
		return rep, fmt.Errorf("%s at %s: %w", name, rep.Tick.Format(time.RFC3339), err)
	}
	if err := s.store.Mark(ctx, key+":done", runMarkerTTL); err != nil {
		return rep, err
	}
	log.Info().Int("mails", len(rep.Mails)).Int("applied", len(rep.Applied)).Msg("run done")
	return rep, nil
}

// acquire takes the run's lease. It returns nil (and no error) when the run is done already,
// and waits while another instance holds the lease.
func (s *schedule) acquire(ctx context.Context, key string, log zerolog.Logger) (*store.Lease, error) {
	began := time.Now()
	waiting := false
	for {
		if done, err := s.store.Marked(ctx, key+":done"); err != nil {
			return nil, err
		} else if done {
			return nil, nil
		}
		lease, ok, err := s.leases.TryAcquire(ctx, "schedule:"+key, scheduleLeaseTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			// The holder may have finished between the check above and the acquire.
			done, err := s.store.Marked(ctx, key+":done")
			if err != nil || done {
				_ = lease.Release(context.WithoutCancel(ctx))
				return nil, err
			}
			return lease, nil
		}
		if !waiting {
			waiting = true
			holder, _ := s.leases.Holder(ctx, "schedule:"+key)
			log.Info().Str("holder", holder).Msg("another instance is running this job; waiting for it to finish")
		}
		if time.Since(began) > s.maxWait {
			return nil, fmt.Errorf("another instance has held the run's lease for more than %s", s.maxWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.poll):
		}
	}
}

// digest sends each partner whose RMAs' status changed since its last digest one mail listing
// them (outbound.DigestEntries says what is listed). Partners are independent: one failing does
// not keep the others from their digest, and a rerun finishes it.
func (s *schedule) digest(ctx context.Context, tick time.Time, rep *JobReport) error {
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

func (s *schedule) digestPartner(ctx context.Context, pid string, tick time.Time, rep *JobReport) error {
	log := s.log.With().Str("partner", pid).Logger()
	once := "digest:" + pid + ":" + tick.UTC().Format(time.RFC3339)
	if sent, err := s.store.Marked(ctx, once); err != nil || sent {
		return err
	}
	from, err := s.store.DigestWatermark(ctx, pid)
	if err != nil {
		return err
	}
	if !from.Before(tick) {
		return nil // a later digest (run by hand) told it all already
	}
	changed, err := s.store.ChangedSince(ctx, pid, from)
	if err != nil {
		return err
	}
	open, err := s.store.OpenRecords(ctx, pid)
	if err != nil {
		return err
	}
	entries := outbound.DigestEntries(append(changed, open...), from, tick)
	nChanged := 0
	for _, e := range entries {
		if e.Changed() {
			nChanged++
		}
	}
	if nChanged > 0 {
		partner, ok := s.engine.Data().Partners.ByID(pid)
		if !ok {
			// Keep the watermark: if the partner comes back to the partners file, it is told.
			log.Warn().Int("changed", nChanged).Msg("partner is not in the partners file: no digest")
			return nil
		}
		msg, err := s.composer.Digest(partner, entries, from, tick)
		if errors.Is(err, outbound.ErrNoAddress) {
			log.Warn().Err(err).Msg("no digest: add an e-mail address for the partner to the partners file")
			return nil
		}
		if err != nil {
			return fmt.Errorf("digest for %s: %w", pid, err)
		}
		if err := s.emit(ctx, msg); err != nil {
			return fmt.Errorf("digest for %s: %w", pid, err)
		}
		rep.Mails = append(rep.Mails, JobMail{Kind: "digest", Partner: pid, RMAs: len(entries), MessageID: msg.ID, To: msg.To})
		log.Info().Str("message_id", msg.ID).Int("changed", nChanged).Int("listed", len(entries)).Msg("digest on its way")
	}
	// Only now: a crash before this line makes the rerun compose the same digest again (same
	// window, same Message-ID), which the outbox sends once.
	if err := s.store.AdvanceDigestWatermark(ctx, pid, tick); err != nil {
		return err
	}
	return s.store.Mark(ctx, once, runMarkerTTL)
}

// reminders applies the reminder and escalation rules (outbound.Due) to every RMA in a status a
// rule is about, then sends the mails the applied rules owe.
func (s *schedule) reminders(ctx context.Context, tick time.Time, rep *JobReport) error {
	staffWarned := false
	var errs []error
	for _, st := range []rma.Status{rma.StatusAwaitingGoods, rma.StatusAwaitingAccessories, rma.StatusRepaired, rma.StatusReplaced} {
		recs, err := s.store.ByStatus(ctx, st)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return err
			}
			rem, due := outbound.Due(r, s.policy, tick)
			if !due {
				continue
			}
			if rem.Rule == outbound.RuleUncollected && strings.TrimSpace(s.composer.StaffAddr) == "" {
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
func (s *schedule) apply(ctx context.Context, rem outbound.Reminder, tick time.Time, rep *JobReport) error {
	r := rem.Record
	log := s.log.With().Str("rma", r.Number).Str("partner", r.PartnerID).Str("rule", rem.Rule).Logger()
	partner, known := s.engine.Data().Partners.ByID(r.PartnerID)
	if rem.Rule == outbound.RuleGoodsReminder && (!known || len(partner.Emails) == 0) {
		// A reminder nobody reads is not worth recording; the expiry still comes in time.
		log.Warn().Msg("partner unknown or without e-mail address: no goods reminder")
		return nil
	}
	ev := rem.Event(partner.Locale, tick)
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
		_, err := s.store.SetStatus(ctx, r.Number, rem.To, outbound.ScheduleActor, ev.Note, ev.Extra, tick)
		var te *rma.TransitionError
		switch {
		case errors.As(err, &te):
			log.Info().Str("status", string(te.From)).Msg("status changed meanwhile: rule not applied")
			return nil
		case err != nil:
			return err
		}
	}
	rep.Applied = append(rep.Applied, JobRule{Rule: rem.Rule, RMA: r.Number, Partner: r.PartnerID, To: rem.To})
	log.Info().Str("to", string(rem.To)).Msg("rule applied")
	return nil
}

// notify sends the mails owed by applied rules — this run's, and any an earlier run left behind
// when it was cut off — and drops each notice once its mails are on their way.
func (s *schedule) notify(ctx context.Context, rep *JobReport) error {
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

func (s *schedule) notifyOne(ctx context.Context, n store.Notice, rep *JobReport) error {
	log := s.log.With().Str("rma", n.Number).Str("partner", n.Partner).Str("rule", n.Rule).Logger()
	r, err := s.store.Get(ctx, n.Number)
	if errors.Is(err, store.ErrNotFound) {
		log.Warn().Msg("RMA gone: nothing to tell")
		return s.store.DropNotice(ctx, n)
	}
	if err != nil {
		return err
	}
	ev, ok := outbound.RuleEvent(r, n.Rule)
	if !ok {
		// The rule was not applied after all: the RMA moved on before it could be.
		log.Info().Msg("rule not applied: nothing to tell")
		return s.store.DropNotice(ctx, n)
	}
	rem := outbound.ReminderFromEvent(r, ev)
	partner, known := s.engine.Data().Partners.ByID(r.PartnerID)
	if !known {
		partner = rma.Partner{ID: r.PartnerID}
	}
	// The mails are dated at the rule's event, so a resend composes the same mail.
	if outbound.TellsPartner(rem.Rule) {
		msg, err := s.composer.PartnerReminder(partner, rem, ev.At)
		switch {
		case errors.Is(err, outbound.ErrNoAddress):
			log.Warn().Err(err).Msg("partner not told: no e-mail address in the partners file")
		case err != nil:
			return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
		default:
			if err := s.emit(ctx, msg); err != nil {
				return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
			}
			rep.Mails = append(rep.Mails, JobMail{Kind: "reminder", Rule: rem.Rule, Partner: r.PartnerID, RMA: r.Number, MessageID: msg.ID, To: msg.To})
			log.Info().Str("message_id", msg.ID).Msg("partner mail on its way")
		}
	}
	if msg, ok, err := s.composer.StaffEscalation(partner, rem, ev.At); err != nil {
		return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
	} else if ok {
		if err := s.emit(ctx, msg); err != nil {
			return fmt.Errorf("%s %s: %w", rem.Rule, r.Number, err)
		}
		rep.Mails = append(rep.Mails, JobMail{Kind: "escalation", Rule: rem.Rule, Partner: r.PartnerID, RMA: r.Number, MessageID: msg.ID, To: msg.To})
		log.Info().Str("message_id", msg.ID).Msg("staff mail on its way")
	}
	return s.store.DropNotice(ctx, n)
}
