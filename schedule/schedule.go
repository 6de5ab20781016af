// Package schedule runs rmad's scheduled jobs (docs/contract.md §3): the partners' status digests and the
// reminder and escalation rules, on their cron specs in schedule.timezone, once per tick across
// every instance sharing a Redis, caught up after a crash, and by hand (`rmad run-job`). It
// decides when a job runs and what it tells; rules says which ageing rule is due, outbound
// composes the mails, and the outbox it is given delivers them.
package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// The scheduled jobs: `schedule.digest`, `schedule.reminders` and `schedule.compact`.
const (
	JobDigest    = "digest"
	JobReminders = "reminders"
	JobCompact   = "compact"
)

// Jobs lists the scheduled jobs.
var Jobs = []string{JobDigest, JobReminders, JobCompact}

// How one run of a job is made to happen once (docs/contract.md §10: "each cron run happens once"):
//
//   - A run is named by its job and tick: the scheduled minute in schedule.timezone, or the
//     moment (to the millisecond) of a run by hand. A "done" marker for the run makes every
//     later attempt for the same tick a no-op: the other instances that fired at the same tick,
//     a retry, a catch-up.
//   - One instance at a time runs a job: it holds the job's lease (renewed while it works). The
//     others wait for the holder to finish, or take over when the holder's lease runs out (it
//     crashed), and finish what is left. So a run by hand and a scheduled run never tell a
//     partner the same change in two digests at once.
//   - What is left is known per piece of work, so a crash in the middle and the takeover never
//     send twice: each partner's digest has a marker per tick, and each partner's digest
//     watermark says up to when changes were told (a digest on its way but not yet recorded is
//     remembered as pending and sent again, the same mail, by the next run); each reminder
//     rule's event is written once per RMA, and the mail it owes is a notice that is removed
//     only once the mail is on the outbox. Mails keep a Message-ID made from what they are
//     about, and the outbox sends each Message-ID once, so even a piece of work repeated after a
//     crash is mailed once.
const (
	leaseTTL      = 30 * time.Second
	runMarkerTTL  = 45 * 24 * time.Hour
	leaseWaitPoll = time.Second
	leaseWaitMax  = 20 * time.Minute
	// catchUpWithin bounds how far back an unfinished run is caught up at start-up.
	catchUpWithin = 26 * time.Hour
)

// Outbox puts a composed mail on its way: the outbox stream the couriers deliver from, or SMTP
// at once (`rmad run-job --send`). Putting one Message-ID twice must mail it once.
type Outbox interface {
	Put(ctx context.Context, m outbound.Message) error
}

// OutboxFunc is a function used as an Outbox.
type OutboxFunc func(ctx context.Context, m outbound.Message) error

// Put calls f.
func (f OutboxFunc) Put(ctx context.Context, m outbound.Message) error { return f(ctx, m) }

// Config is what the jobs work with.
type Config struct {
	Store *store.Store
	// Partner looks a partner up in the partners file as it is now (a reload is seen at once).
	Partner  func(id string) (rma.Partner, bool)
	Composer *outbound.Composer
	Policy   config.Policy
	Schedule config.Schedule // the cron specs and schedule.timezone (nil Location: UTC)
	// Retention: the compact job packs closed RMAs unchanged for CompactAfter (0: the config default).
	Retention config.Retention
	Outbox    Outbox
	Now       func() time.Time // nil: time.Now
	Log       zerolog.Logger   // component=schedule is added
}

// Schedule runs the jobs: on their cron specs once Started, or one run at a time by hand.
type Schedule struct {
	cron     *Scheduler
	store    *store.Store
	leases   *store.Leases
	partner  func(id string) (rma.Partner, bool)
	composer *outbound.Composer
	policy   config.Policy
	compact  time.Duration
	loc      *time.Location
	now      func() time.Time
	log      zerolog.Logger
	outbox   Outbox
	poll     time.Duration // how often a run waiting for another instance looks again
	maxWait  time.Duration // how long it waits before giving up
}

// New checks the cron specs and returns the jobs, not yet firing (Start).
func New(cfg Config) (*Schedule, error) {
	if cfg.Store == nil || cfg.Partner == nil || cfg.Composer == nil || cfg.Outbox == nil {
		return nil, errors.New("schedule: a store, the partners, a composer and an outbox are needed")
	}
	loc := cfg.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Schedule{
		store:    cfg.Store,
		leases:   cfg.Store.Leases(),
		partner:  cfg.Partner,
		composer: cfg.Composer,
		policy:   cfg.Policy,
		compact:  cmp.Or(cfg.Retention.CompactAfter, config.Defaults().Retention.CompactAfter),
		loc:      loc,
		now:      now,
		log:      cfg.Log.With().Str("component", "schedule").Logger(),
		outbox:   cfg.Outbox,
		poll:     leaseWaitPoll,
		maxWait:  leaseWaitMax,
	}
	s.cron = NewScheduler(loc, now, cfg.Log)
	for _, j := range []struct{ name, spec string }{{JobDigest, cfg.Schedule.Digest}, {JobReminders, cfg.Schedule.Reminders},
		{JobCompact, cmp.Or(cfg.Schedule.Compact, config.Defaults().Schedule.Compact)}} {
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

// Start fires the jobs from now on, with ctx (the daemon's work context, so a run in progress
// may finish while intake stops), and catches up a run that an earlier process started and did
// not finish (it crashed or was killed mid-run).
func (s *Schedule) Start(ctx context.Context) {
	s.cron.Start(ctx)
	now := s.now()
	for _, name := range Jobs {
		tick, ok := s.cron.PrevTick(name, now, catchUpWithin)
		if !ok {
			continue
		}
		started, err1 := s.store.RunMarked(ctx, name, tick, store.RunStarted)
		done, err2 := s.store.RunMarked(ctx, name, tick, store.RunDone)
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

// Stop fires no more jobs; Wait waits for the runs in progress.
func (s *Schedule) Stop() { s.cron.Stop() }

// Wait blocks until the runs in progress at Stop have returned.
func (s *Schedule) Wait() { s.cron.Wait() }

// Report says what one run of a job did.
type Report struct {
	Job  string
	Tick time.Time // the scheduled minute, or the moment of a run by hand, in schedule.timezone
	// ByHand is set for a run of RunNow: it covers changes up to the moment it ran.
	ByHand bool
	// Skipped says why nothing was done ("" when the run was done now).
	Skipped string
	Applied []Applied // reminders: the rules applied to RMAs in this run
	Mails   []Mail    // the mails put on their way
	// Compacted: compact, the closed RMAs packed in this run.
	Compacted int
}

// Applied is a reminder rule applied to an RMA.
type Applied struct {
	Rule, RMA, Partner string
	To                 rma.Status // the new status; "" when the rule only told someone
}

// Mail is a mail a run put on its way.
type Mail struct {
	Kind      string // digest, reminder, escalation
	Rule      string // reminders: the rule it is about
	Partner   string
	RMA       string // reminders: the RMA it is about
	RMAs      int    // digest: the RMAs it lists
	MessageID string
	To        []string
}

// RunTick runs a job at once as the schedule would for the tick of at's minute (in
// schedule.timezone): the same run as a scheduled one for that minute, with the same lease and
// markers, so running it twice, or while another instance runs it, does nothing twice. It is
// how a run that was cut off is finished by hand.
func (s *Schedule) RunTick(ctx context.Context, job string, at time.Time) (Report, error) {
	return s.run(ctx, job, at.In(s.loc).Truncate(time.Minute))
}

// RunNow runs a job by hand for this moment (Config.Now, to the millisecond): a digest tells
// every change up to now, not only those up to the minute's tick, and moves the partners'
// watermarks to now, so the next scheduled digest does not tell them again.
func (s *Schedule) RunNow(ctx context.Context, job string) (Report, error) {
	rep, err := s.run(ctx, job, s.now().In(s.loc).Truncate(time.Millisecond))
	rep.ByHand = true
	return rep, err
}

// run runs one job for one tick, once across instances (see the comment above leaseTTL).
func (s *Schedule) run(ctx context.Context, name string, tick time.Time) (Report, error) {
	rep := Report{Job: name, Tick: tick.In(s.loc)}
	var body func(context.Context, time.Time, *Report) error
	switch name {
	case JobDigest:
		body = s.digest
	case JobReminders:
		body = s.reminders
	case JobCompact:
		body = s.compactOld
	default:
		return rep, fmt.Errorf("unknown job %q (known: %s)", name, strings.Join(Jobs, ", "))
	}
	tick = rep.Tick
	log := s.log.With().Str("job", name).Str("tick", tick.Format(time.RFC3339Nano)).Logger()
	lease, err := s.acquire(ctx, name, tick, log)
	if err != nil {
		return rep, fmt.Errorf("%s at %s: %w", name, tick.Format(time.RFC3339Nano), err)
	}
	if lease == nil {
		rep.Skipped = "already done for this tick"
		log.Debug().Msg("run already done")
		return rep, nil
	}
	defer func() {
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			log.Warn().Err(err).Msg("job lease not released; it expires by itself")
		}
	}()
	if err := s.store.MarkRun(ctx, name, tick, store.RunStarted, runMarkerTTL); err != nil {
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
	if err := body(runCtx, tick, &rep); err != nil {
		return rep, fmt.Errorf("%s at %s: %w", name, tick.Format(time.RFC3339Nano), err)
	}
	if err := s.store.MarkRun(ctx, name, tick, store.RunDone, runMarkerTTL); err != nil {
		return rep, err
	}
	log.Info().Int("mails", len(rep.Mails)).Int("applied", len(rep.Applied)).Msg("run done")
	return rep, nil
}

// acquire takes the job's lease for the run of tick. It returns nil (and no error) when the run
// is done already, and waits while another instance holds the lease.
func (s *Schedule) acquire(ctx context.Context, job string, tick time.Time, log zerolog.Logger) (*store.Lease, error) {
	began := time.Now()
	waiting := false
	for {
		if done, err := s.store.RunMarked(ctx, job, tick, store.RunDone); err != nil {
			return nil, err
		} else if done {
			return nil, nil
		}
		lease, ok, err := s.leases.TryAcquire(ctx, store.JobLease(job), leaseTTL)
		if err != nil {
			return nil, err
		}
		if ok {
			// The holder may have finished this tick between the check above and the acquire.
			done, err := s.store.RunMarked(ctx, job, tick, store.RunDone)
			if err != nil || done {
				_ = lease.Release(context.WithoutCancel(ctx))
				return nil, err
			}
			return lease, nil
		}
		if !waiting {
			waiting = true
			holder, _ := s.leases.Holder(ctx, store.JobLease(job))
			log.Info().Str("holder", holder).Msg("another instance is running this job; waiting for it to finish")
		}
		if time.Since(began) > s.maxWait {
			return nil, fmt.Errorf("another instance has held the job's lease for more than %s", s.maxWait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(s.poll):
		}
	}
}
