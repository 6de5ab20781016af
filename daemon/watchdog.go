package daemon

import (
	"context"
	"sync"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// liveness counts the running goroutines of each long-running component, so the watchdog can
// tell that the inbox and outbox consumers are still at work.
type liveness struct {
	mu      sync.Mutex
	running map[string]int
}

func (l *liveness) enter(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running == nil {
		l.running = map[string]int{}
	}
	l.running[name]++
}

func (l *liveness) leave(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[name]--
}

func (l *liveness) alive(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running[name] > 0
}

// watchedComponents must be running for rmad to be healthy: without them nothing is decided or
// answered, while a mailbox watcher in standby or reconnecting is normal.
var watchedComponents = []string{"inbox", "outbox"}

// watchdog pings systemd's watchdog (WatchdogSec=, seen as WATCHDOG_USEC) at half its
// interval, but only while rmad is healthy: the consumers run and Redis answers PING. When it
// is not, the pings stop and systemd restarts rmad once the interval has passed — a stuck
// daemon is restarted instead of silently answering nobody. Without WATCHDOG_USEC it returns.
func (d *Daemon) watchdog(ctx context.Context) error {
	log := d.log.With().Str("component", "systemd").Logger()
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("watchdog settings unreadable: no watchdog pings")
		return nil
	}
	if interval <= 0 {
		return nil
	}
	ping := interval / 2
	log.Info().Dur("interval", interval).Msg("systemd watchdog on")
	healthy := true
	every(ctx, ping, func() {
		if why := d.unhealthy(ctx, ping/2); why != "" {
			if healthy {
				log.Error().Str("why", why).Msg("unhealthy: watchdog pings withheld; systemd restarts rmad if this lasts")
			}
			healthy = false
			return
		}
		if !healthy {
			log.Info().Msg("healthy again: watchdog pings resumed")
		}
		healthy = true
		_, _ = sd.SdNotify(false, sd.SdNotifyWatchdog)
	})
	return nil
}

// unhealthy says what is wrong, or "" when the consumers run and Redis answers within timeout.
func (d *Daemon) unhealthy(ctx context.Context, timeout time.Duration) string {
	for _, c := range watchedComponents {
		if !d.live.alive(c) {
			return c + " consumer is not running"
		}
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := d.rdb.Ping(pctx).Err(); err != nil {
		return "redis does not answer: " + err.Error()
	}
	return ""
}

// waitRedis returns once Redis answers PING, so that READY tells systemd rmad can work; false
// when ctx ends first.
func (d *Daemon) waitRedis(ctx context.Context) bool {
	backoff := 100 * time.Millisecond
	warned := false
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := d.rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			if warned {
				d.log.Info().Str("component", "systemd").Msg("redis answers again: ready")
			}
			return true
		}
		if !warned {
			warned = true
			d.log.Warn().Err(err).Str("component", "systemd").Msg("redis does not answer: not ready yet")
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
