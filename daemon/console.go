package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/rmad/rmad/explain"
	"github.com/rmad/rmad/ingest/mailbox"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/schedule"
	"github.com/rmad/rmad/web/console"
)

// newConsole builds the staff console when console.enabled, after building the worklist
// indexes of a store written before they existed (once; later changes keep them).
func (d *Daemon) newConsole(ctx context.Context) (http.Handler, error) {
	if !d.cfg.Console.Enabled {
		return nil, nil
	}
	n, err := d.store.BuildWorklistIndex(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if n > 0 {
		d.log.Info().Str("component", "console").Int("rmas", n).Msg("worklist indexes built from the records")
	}
	c, err := console.New(console.Config{
		Console:        d.cfg.Console,
		Listen:         d.cfg.HTTP.Listen,
		Store:          d.store,
		Partner:        func(id string) (rma.Partner, bool) { return d.engine.Data().Partners.ByID(id) },
		Partners:       func() []rma.Partner { return d.engine.Data().Partners.All() },
		Policy:         d.cfg.Policy,
		ServiceCenters: d.cfg.ServiceCenters,
		Labels:         d.cfg.Labels,
		Estimates:      d.pipe.estimates,
		Originals:      d.original,
		Outbox:         func(ctx context.Context, m outbound.Message) error { return enqueue(ctx, d.outbox, "", m) },
		DeadLetters:    []*queue.Queue{d.inbox, d.outbox},
		Jobs:           scheduleRunner{d},
		Explainer:      &explain.Explainer{Config: d.cfg, Engine: d.engine, Parser: d.parser, Now: d.opt.Now},
		Location:       d.cfg.Schedule.Location,
		Log:            d.log,
		Now:            d.opt.Now,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// scheduleRunner runs the daemon's jobs by hand for the console; the schedule is built after
// the console, so it is looked up at each run.
type scheduleRunner struct{ d *Daemon }

func (r scheduleRunner) RunNow(ctx context.Context, job string) (schedule.Report, error) {
	return r.d.sched.RunNow(ctx, job)
}

// original fetches an RMA's original mail from the processed folder of the mailbox it came in
// (by Message-ID; rmad keeps no copy): the console's original-mail page.
func (d *Daemon) original(ctx context.Context, src rma.Source) ([]byte, error) {
	for _, w := range d.watchers {
		if w.Name() != src.Mailbox {
			continue
		}
		raw, err := w.Original(ctx, src.MessageID)
		if errors.Is(err, mailbox.ErrNoOriginal) {
			return nil, fmt.Errorf("%w: %w", console.ErrNoOriginal, err)
		}
		return raw, err
	}
	return nil, fmt.Errorf("%w: mailbox %q is not configured any more", console.ErrNoOriginal, src.Mailbox)
}
