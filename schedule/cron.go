package schedule

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/internal/recovered"
)

// Job is a scheduled job. It gets the tick it runs for — the scheduled time, in the schedule's
// time zone, to the minute — so that every instance that runs it for the same tick agrees on
// what the run is called (its lease and idempotency keys are built from it).
type Job func(ctx context.Context, tick time.Time) error

// Scheduler runs rmad's cron jobs (schedule.digest, schedule.reminders) with robfig/cron v3 in
// schedule.timezone. Every job goes through the chain SkipIfStillRunning then Recover: a run
// that overlaps a slow previous one is skipped, and a panic is logged as an error instead of
// ending the process. The order matters (DESIGN.md): with Recover outside, a panic would skip
// SkipIfStillRunning's release, and every later run of the job would be skipped forever.
type Scheduler struct {
	loc  *time.Location
	now  func() time.Time
	log  zerolog.Logger
	cron *cron.Cron
	jobs map[string]*scheduledJob

	mu      sync.Mutex
	ctx     context.Context // the jobs' context, from Start
	started bool
	stopped context.Context // done when cron's running jobs have returned
	extra   sync.WaitGroup  // runs started by RunAt
}

type scheduledJob struct {
	name, spec string
	sched      cron.Schedule
	job        Job
	id         cron.EntryID
}

// NewScheduler returns a scheduler in loc (nil: UTC) that reads the time from now (nil:
// time.Now) when a job fires, and logs to log (component=schedule is added).
func NewScheduler(loc *time.Location, now func() time.Time, log zerolog.Logger) *Scheduler {
	if loc == nil {
		loc = time.UTC
	}
	if now == nil {
		now = time.Now
	}
	log = log.With().Str("component", "schedule").Logger()
	cl := cronLogger{log}
	return &Scheduler{
		loc: loc, now: now, log: log, jobs: map[string]*scheduledJob{},
		cron: cron.New(cron.WithLocation(loc), cron.WithLogger(cl), cron.WithChain(JobChain(cl)...)),
	}
}

// JobChain is the wrappers every scheduled job runs in, outermost first: skip a run while the
// previous one is still running, then recover a panic. See Scheduler for why in this order.
func JobChain(l cron.Logger) []cron.JobWrapper {
	return []cron.JobWrapper{cron.SkipIfStillRunning(l), cron.Recover(l)}
}

// Add schedules job under name with a standard 5-field cron spec, read in the scheduler's zone.
func (s *Scheduler) Add(name, spec string, job Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("schedule %s: add before Start", name)
	}
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("schedule %s: added twice", name)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("schedule %s: %q is not a 5-field cron spec: %w", name, spec, err)
	}
	j := &scheduledJob{name: name, spec: spec, sched: sched, job: job}
	j.id = s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(j) }))
	s.jobs[name] = j
	return nil
}

// Start starts firing jobs; they run with ctx, which should end only after Stop (the daemon
// passes its work context, so a run in progress may finish while intake stops).
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.ctx, s.started = ctx, true
	s.cron.Start()
	names := make([]string, 0, len(s.jobs))
	for n, j := range s.jobs {
		names = append(names, n+"="+j.spec)
	}
	sort.Strings(names)
	s.log.Info().Strs("jobs", names).Str("timezone", s.loc.String()).Msg("schedule started")
}

// Stop fires no more jobs. It does not wait for running ones: Wait does.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && s.stopped == nil {
		s.stopped = s.cron.Stop()
	}
}

// Wait blocks until the jobs that were running at Stop have returned.
func (s *Scheduler) Wait() {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped != nil {
		<-stopped.Done()
	}
	s.extra.Wait()
}

// RunAt runs the named job for tick in the background, for a run that has to be caught up after
// a restart. It is wrapped in Recover, like scheduled runs, but not in SkipIfStillRunning,
// whose state belongs to cron's own runs: jobs must make concurrent runs of one tick safe
// themselves (rmad's take a lease per run). It reports false for an unknown job or a scheduler
// that is not running.
func (s *Scheduler) RunAt(name string, tick time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[name]
	if j == nil || !s.started || s.stopped != nil {
		return false
	}
	run := cron.NewChain(cron.Recover(cronLogger{s.log})).Then(cron.FuncJob(func() { s.runTick(j, tick.In(s.loc)) }))
	s.extra.Add(1)
	go func() {
		defer s.extra.Done()
		run.Run()
	}()
	return true
}

// PrevTick is the named job's latest scheduled time in (now-within, now]; ok is false when
// there is none (or the job is unknown).
func (s *Scheduler) PrevTick(name string, now time.Time, within time.Duration) (time.Time, bool) {
	j := s.job(name)
	if j == nil {
		return time.Time{}, false
	}
	return PrevTick(j.sched, now.In(s.loc), within)
}

func (s *Scheduler) job(name string) *scheduledJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[name]
}

// fire runs one job for the tick it was scheduled at.
func (s *Scheduler) fire(j *scheduledJob) {
	s.runTick(j, LastTick(j.sched, s.now().In(s.loc)))
}

func (s *Scheduler) runTick(j *scheduledJob, tick time.Time) {
	log := s.log.With().Str("job", j.name).Str("tick", tick.Format(time.RFC3339)).Logger()
	began := time.Now()
	if err := j.job(s.ctx, tick); err != nil {
		log.Error().Err(err).Dur("took", time.Since(began)).Msg("scheduled job failed; a later run catches up")
		return
	}
	log.Info().Dur("took", time.Since(began)).Msg("scheduled job done")
}

// lastTickLookback bounds LastTick's search for a late run.
const lastTickLookback = 2 * time.Hour

// LastTick returns the latest time at or before now that sched fires at, to the minute. cron
// starts a job on its minute, so normally that minute is the tick; a run that started late (a
// loaded machine, a run triggered to catch up) still gets the tick it belongs to. When sched
// has not fired within two hours, the tick is now's minute: an unscheduled run is its own tick.
func LastTick(sched cron.Schedule, now time.Time) time.Time {
	floor := now.Truncate(time.Minute)
	if sched.Next(floor.Add(-time.Second)).Equal(floor) {
		return floor
	}
	if t, ok := PrevTick(sched, now, lastTickLookback); ok {
		return t
	}
	return floor
}

// PrevTick returns sched's latest time in (now-within, now], if it has one.
func PrevTick(sched cron.Schedule, now time.Time, within time.Duration) (time.Time, bool) {
	t := sched.Next(now.Add(-within))
	if t.IsZero() || t.After(now) {
		return time.Time{}, false
	}
	for {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			return t, true
		}
		t = n
	}
}

// cronLogger lets robfig/cron log through zerolog: skipped runs and recovered panics.
type cronLogger struct{ l zerolog.Logger }

func (c cronLogger) Info(msg string, kv ...any) {
	// cron logs every wake-up and schedule at Info: those are debug noise; a skipped run is not.
	if msg == "skip" {
		c.l.Warn().Fields(kv).Msg("scheduled job still running from its previous tick: this run is skipped")
		return
	}
	c.l.Debug().Fields(kv).Msg("cron: " + msg)
}

func (c cronLogger) Error(err error, msg string, kv ...any) {
	if msg == "panic" {
		c.l.Error().Err(err).Fields(kv).Msg("scheduled job panicked; recovered, the next run goes ahead")
		recovered.Panic(err)
		return
	}
	c.l.Error().Err(err).Fields(kv).Msg("cron: " + msg)
}
