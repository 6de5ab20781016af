package daemon

import (
	"context"
	"time"
)

// masterCheckEvery is how often the daemon asks which master holds the numbering counters.
const masterCheckEvery = 2 * time.Second

// guardNumbering runs store.NumberingGuard on start and whenever the master holding the
// counters changed (a Sentinel or Cluster failover, a restart): a counter that lost writes is
// raised to the highest number issued before any mail is numbered from it. Every reservation
// also checks the counter itself; this puts what this instance alone knows (the numbers it gave
// out) where the other instances' reservations see it.
func (d *Daemon) guardNumbering(ctx context.Context) error {
	log := d.log.With().Str("component", "store").Logger()
	var master string
	check := func() {
		id, err := d.store.MasterID(ctx)
		if err != nil || id == master {
			return // Redis away: the queues say so; checked again next time
		}
		now := d.opt.Now()
		raised, err := d.store.NumberingGuard(ctx, now.Year(), now.Year()-1)
		if err != nil {
			log.Warn().Err(err).Msg("numbering guard: could not compare the counters; trying again")
			return
		}
		if master != "" {
			log.Info().Str("run_id", id).Msg("redis master changed; numbering counters checked")
		}
		master = id
		for _, r := range raised {
			log.Warn().Int("year", r.Year).Int("counter", r.From).Int("issued", r.To).
				Msg("numbering counter was below the highest number issued (Redis lost writes); raised")
		}
	}
	check()
	every(ctx, masterCheckEvery, check)
	return nil
}

// every calls f each period until ctx ends (the first time one period from now).
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
