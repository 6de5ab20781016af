package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/queue"
)

// Component states of /healthz and the rmad_component_state gauge.
const (
	stateOK       = "ok"
	stateDegraded = "degraded" // works, but an admin should look (why, since when)
	stateDown     = "down"     // cannot take or answer mail: /healthz answers 503
)

var componentStates = []string{stateOK, stateDegraded, stateDown}

// componentCheck is what one look at a component found.
type componentCheck struct {
	state  string
	why    string
	since  time.Time      // when the trouble began, when the component knows (else first seen)
	detail map[string]any // extra fields shown as they are (depths, mailbox state)
}

// healthTracker remembers since when each component is not ok, across looks, and logs changes.
type healthTracker struct {
	mu   sync.Mutex
	seen map[string]trackedState
	log  zerolog.Logger // component=health
}

type trackedState struct {
	state string
	since time.Time
}

// note records c for name and returns it with its since filled in.
func (t *healthTracker) note(name string, c componentCheck, now time.Time) componentCheck {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen == nil {
		t.seen = map[string]trackedState{}
	}
	prev, known := t.seen[name]
	switch {
	case c.state == stateOK:
		c.since = time.Time{}
	case known && prev.state == c.state:
		if c.since.IsZero() || prev.since.Before(c.since) {
			c.since = prev.since
		}
	case c.since.IsZero():
		c.since = now
	}
	if !known || prev.state != c.state {
		ev := t.log.Info()
		if c.state != stateOK {
			ev = t.log.Warn().Str("why", c.why)
		}
		if known || c.state != stateOK {
			ev.Str("check", name).Str("state", c.state).Str("was", prev.state).Msg("component state changed")
		}
	}
	t.seen[name] = trackedState{state: c.state, since: c.since}
	return c
}

// healthWriteTTL: the health check's write key expires by itself.
const healthWriteTTL = 30 * time.Second

// checkRedis pings every master and writes a short-lived key: a Redis that answers PING but
// refuses writes (out of memory, NOREPLICAS, READONLY, a Cluster slot without master), or whose
// replicas do not confirm writes when redis.min_replicas asks for them, cannot take or answer
// mail either.
func (d *Daemon) checkRedis(ctx context.Context) componentCheck {
	ping := func(ctx context.Context, c redis.Cmdable) error { return c.Ping(ctx).Err() }
	var err error
	if cc, ok := d.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return ping(ctx, m) })
	} else {
		err = ping(ctx, d.rdb)
	}
	if err != nil {
		return componentCheck{state: stateDown, why: "unreachable: " + err.Error()}
	}
	key := d.cfg.Redis.KeyPrefix + "health:" + d.opt.Consumer
	if err := d.rdb.Set(ctx, key, time.Now().UnixMilli(), healthWriteTTL).Err(); err != nil {
		return componentCheck{state: stateDown, why: "refuses writes: " + err.Error()}
	}
	// With redis.min_replicas, a write the replicas do not confirm in time releases nothing: no
	// mail leaves its mailbox and no reply is queued.
	if err := d.store.ConfirmReplicas(ctx, d.inbox.Key()); err != nil {
		return componentCheck{state: stateDown, why: "replicas: " + err.Error()}
	}
	return componentCheck{state: stateOK}
}

// checkSMTP: while sessions cannot be opened (relay down, password or token refused) replies
// wait on the outbox, so rmad cannot answer mail.
func (d *Daemon) checkSMTP() componentCheck {
	up, since, err := d.courier.smtp.Relay()
	if up {
		return componentCheck{state: stateOK}
	}
	return componentCheck{state: stateDown, why: err.Error(), since: since}
}

// checkMailbox: a mailbox this instance holds the lease of but is not connected to takes no
// mail; one another instance reads (standby) is fine here.
func (d *Daemon) checkMailbox(i int) componentCheck {
	st := d.watchers[i].State()
	c := componentCheck{state: stateOK, detail: map[string]any{"delivered": st.Delivered}}
	if st.Paused {
		c.detail["paused"] = "limits.inbox_backlog" // fetching waits for the queues to drain
	}
	if !st.LastSync.IsZero() {
		c.detail["last_sync"] = st.LastSync.UTC().Format(time.RFC3339)
	}
	switch {
	case !st.Leased:
		c.detail["mode"] = "standby" // another instance holds the lease, or Redis is away
	case st.Connected && st.Idle:
		c.detail["mode"] = "idle"
	case st.Connected:
		c.detail["mode"] = "connected"
	case st.LastError != "" && st.LastErrorAt.After(st.LastSync):
		c.state, c.why, c.since = stateDown, "reconnecting: "+st.LastError, st.LastErrorAt
	default:
		c.state, c.why = stateDegraded, "connecting"
	}
	return c
}

// checkQueue: dead letters wait for a person, and a backlog is worth a look; neither stops rmad.
func (d *Daemon) checkQueue(ctx context.Context, q *queue.Queue) componentCheck {
	depth, err := q.Depth(ctx)
	if err != nil {
		return componentCheck{state: stateDown, why: err.Error()}
	}
	dead, err := q.DeadLetterCount(ctx)
	if err != nil {
		return componentCheck{state: stateDown, why: err.Error()}
	}
	c := componentCheck{state: stateOK, detail: map[string]any{"depth": depth, "dead_letters": dead}}
	if dead > 0 {
		c.state = stateDegraded
		c.why = fmt.Sprintf("%d dead letters wait for a person (rmad dead-letters list %s)", dead, q.Name())
	}
	return c
}

// healthReport looks at every component; down is set when one of them is down.
func (d *Daemon) healthReport(ctx context.Context) (status string, checks map[string]componentCheck) {
	now := time.Now()
	checks = map[string]componentCheck{}
	add := func(name string, c componentCheck) { checks[name] = d.healthSeen.note(name, c, now) }
	redisCheck := d.checkRedis(ctx)
	add("redis", redisCheck)
	add("smtp", d.checkSMTP())
	for i, mb := range d.cfg.IMAP {
		add("mailbox:"+mb.Name, d.checkMailbox(i))
	}
	for _, q := range []*queue.Queue{d.inbox, d.outbox} {
		c := componentCheck{state: stateDown, why: "redis is down"}
		if redisCheck.state != stateDown {
			c = d.checkQueue(ctx, q)
		}
		add("queue:"+q.Name(), c)
	}
	status = stateOK
	for _, c := range checks {
		switch {
		case c.state == stateDown:
			status = stateDown
		case c.state == stateDegraded && status == stateOK:
			status = stateDegraded
		}
	}
	for name, c := range checks {
		up := 1.0
		if c.state == stateDown {
			up = 0
		}
		d.metrics.ComponentUp.WithLabelValues(name).Set(up)
		for _, s := range componentStates {
			v := 0.0
			if s == c.state {
				v = 1
			}
			d.metrics.ComponentState.WithLabelValues(name, s).Set(v)
		}
	}
	return status, checks
}

// health answers GET /healthz: every component with its state, why and since when.
func (d *Daemon) health(ctx context.Context) (string, map[string]any) {
	status, checks := d.healthReport(ctx)
	out := make(map[string]any, len(checks))
	for name, c := range checks {
		m := map[string]any{"state": c.state}
		if c.why != "" {
			m["why"] = c.why
		}
		if !c.since.IsZero() {
			m["since"] = c.since.UTC().Format(time.RFC3339)
		}
		for k, v := range c.detail {
			m[k] = v
		}
		out[name] = m
	}
	return status, out
}

// healthEvery is how often the daemon looks at its components by itself, so that since-times
// and the gauges are right between requests, and state changes are logged when they happen.
const healthEvery = 2 * time.Second

// healthLoop looks at the components every healthEvery until ctx ends.
func (d *Daemon) healthLoop(ctx context.Context) error {
	every(ctx, healthEvery, func() {
		cctx, cancel := context.WithTimeout(ctx, healthEvery)
		defer cancel()
		d.healthReport(cctx)
	})
	return nil
}

// refreshGauges reads the metrics that are state rather than counts (queue depths, dead letters,
// last mailbox sync, component states) at scrape time, through metrics.Refresh: no polling loop
// between scrapes.
func (d *Daemon) refreshGauges(ctx context.Context) {
	for name, q := range map[string]*queue.Queue{"inbox": d.inbox, "outbox": d.outbox} {
		if n, err := q.Depth(ctx); err == nil {
			d.metrics.QueueDepth.WithLabelValues(name).Set(float64(n))
		}
		if n, err := q.DeadLetterCount(ctx); err == nil {
			d.metrics.DeadLetters.WithLabelValues(name).Set(float64(n))
		}
	}
	for _, w := range d.watchers {
		if st := w.State(); !st.LastSync.IsZero() {
			d.metrics.IMAPLastSync.WithLabelValues(st.Mailbox).Set(float64(st.LastSync.Unix()))
		}
	}
	d.healthReport(ctx)
}
