package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/schedule"
	"github.com/rmad/rmad/store"
)

// Flags of run-job; flag.FlagSet rebinds them (and resets the defaults) on every run.
var (
	runJobNow  string
	runJobSend bool
)

func init() {
	register(&command{
		name:  "run-job",
		args:  "digest|reminders|compact [--now TIME] [--send]",
		short: "run a scheduled job (status digest, reminders or compaction) now, covering changes up to this moment",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&runJobNow, "now", "", "run it as the schedule would for the tick of `TIME`'s minute (2026-03-23 08:00 in schedule.timezone, or RFC 3339); default: now, up to this moment")
			fs.BoolVar(&runJobSend, "send", false, "deliver the mails over SMTP at once instead of queueing them for the running daemons")
		},
		run: runRunJob,
	})
}

// runJobTimeLayouts are what --now accepts; those without a zone are read in schedule.timezone.
var runJobTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02 15:04:05", time.DateOnly}

func parseRunJobTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range runJobTimeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--now %q: write it as 2026-03-23 08:00 (in schedule.timezone) or 2026-03-23T08:00:00+02:00", s)
}

func runRunJob(env *cliEnv, args []string) int {
	usage := func() int {
		fmt.Fprintln(env.stderr, "usage: rmad run-job digest|reminders|compact [--now TIME] [--send]")
		return 2
	}
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.Func("now", "", func(v string) error { runJobNow = v; return nil })
		fs.BoolFunc("send", "", func(string) error { runJobSend = true; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 1 {
		return usage()
	}
	job := args[0]
	if !slices.Contains(schedule.Jobs, job) {
		fmt.Fprintf(env.stderr, "rmad run-job: unknown job %q (known: %s)\n", job, strings.Join(schedule.Jobs, ", "))
		return usage()
	}
	// The report goes to stdout; the job's log lines (the same as under `rmad run`) to stderr.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, c, code := redisForCLI(ctx, env, "run-job")
	if c == nil {
		return code
	}
	defer c.Close()
	loc := cfg.Schedule.Location
	if loc == nil {
		loc = time.UTC
	}
	// The clock of the run is --now, so what the job composes is dated as the run it stands for.
	now := func() time.Time { return time.Now().In(loc) }
	if runJobNow != "" {
		at, err := parseRunJobTime(runJobNow, loc)
		if err != nil {
			fmt.Fprintf(env.stderr, "rmad run-job: %v\n", err)
			return 2
		}
		now = func() time.Time { return at }
	}
	sch, closeOutbox, err := openSchedule(ctx, cfg, c, config.NewLogger(cfg.Log, env.stderr), now, runJobSend)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad run-job: %v\n", err)
		return 1
	}
	defer closeOutbox() // QUIT the SMTP session --send kept open
	var rep schedule.Report
	if runJobNow != "" {
		rep, err = sch.RunTick(ctx, job, now())
	} else {
		rep, err = sch.RunNow(ctx, job)
	}
	printJobReport(env.stdout, rep, runJobSend)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad run-job: %v\n", err)
		if rep.ByHand {
			fmt.Fprintln(env.stderr, "what was done stays done; running it again (or the next scheduled run) finishes the rest")
		} else {
			fmt.Fprintln(env.stderr, "what was done stays done; running it again for the same --now finishes the rest")
		}
		return 1
	}
	return 0
}

// openSchedule builds the scheduled jobs on Redis c, without a daemon: the store, the partners
// file and the outbox — the running instances' couriers deliver what it queues, or with send
// it delivers over SMTP at once. The func closes the outbox's SMTP sessions.
func openSchedule(ctx context.Context, cfg *config.Config, c redis.UniversalClient, log zerolog.Logger, now func() time.Time, send bool) (*schedule.Schedule, func(), error) {
	if err := store.CheckPersistence(ctx, c, cfg.Redis.AllowVolatile); err != nil {
		return nil, nil, err
	}
	data, err := rules.LoadData(cfg)
	if err != nil {
		return nil, nil, err
	}
	ob := daemon.NewOutbox(c, cfg, log)
	var outbox schedule.Outbox = ob
	if send {
		outbox = schedule.OutboxFunc(ob.Deliver)
	}
	s, err := schedule.New(schedule.Config{
		Store:     store.New(c, cfg.Redis.KeyPrefix),
		Partner:   data.Partners.ByID,
		Composer:  outbound.NewComposer(cfg),
		Policy:    cfg.Policy,
		Schedule:  cfg.Schedule,
		Retention: cfg.Retention,
		Outbox:    outbox,
		Now:       now,
		Log:       log,
	})
	if err != nil {
		ob.Close()
		return nil, nil, err
	}
	return s, ob.Close, nil
}

func printJobReport(w io.Writer, rep schedule.Report, sent bool) {
	when := "for " + rep.Tick.Format("2006-01-02 15:04") + " " + rep.Tick.Location().String()
	if rep.ByHand {
		when = "up to " + rep.Tick.Format("2006-01-02 15:04:05") + " " + rep.Tick.Location().String()
	}
	if rep.Skipped != "" {
		fmt.Fprintf(w, "%s %s: %s, nothing to do\n", rep.Job, when, rep.Skipped)
		return
	}
	how := "queued on the outbox (the running rmad instances deliver them)"
	if sent {
		how = "delivered over SMTP"
	}
	if rep.Job == schedule.JobReminders {
		fmt.Fprintf(w, "%s %s: %d rule(s) applied, %d mail(s) %s\n", rep.Job, when, len(rep.Applied), len(rep.Mails), how)
	} else {
		fmt.Fprintf(w, "%s %s: %d mail(s) %s\n", rep.Job, when, len(rep.Mails), how)
	}
	for _, a := range rep.Applied {
		to := "told"
		if a.To != "" {
			to = "→ " + string(a.To)
		}
		fmt.Fprintf(w, "  %-20s %-16s %-10s %s\n", a.Rule, a.RMA, a.Partner, to)
	}
	for _, m := range rep.Mails {
		what := m.RMA
		if m.Kind == "digest" {
			what = fmt.Sprintf("%d RMA(s)", m.RMAs)
		}
		fmt.Fprintf(w, "  %-10s %-10s %-16s %s <%s>\n", m.Kind, m.Partner, what, strings.Join(m.To, ", "), m.MessageID)
	}
}
