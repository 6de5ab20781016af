package daemon

import (
	"context"
	"time"

	"github.com/rmad/rmad/queue"
)

// health answers GET /healthz: Redis reachable, and each mailbox watcher's state.
func (d *Daemon) health(ctx context.Context) (bool, map[string]any) {
	ok := true
	details := map[string]any{}
	if err := d.rdb.Ping(ctx).Err(); err != nil {
		ok = false
		details["redis"] = "unreachable: " + err.Error()
	} else {
		details["redis"] = "ok"
	}
	boxes := map[string]any{}
	for _, w := range d.watchers {
		st := w.State()
		state := "standby" // another instance holds the mailbox's lease
		switch {
		case st.Leased && st.Connected && st.Idle:
			state = "idle"
		case st.Leased && st.Connected:
			state = "connected"
		case st.Leased:
			state = "reconnecting"
			ok = false
		}
		b := map[string]any{"state": state, "delivered": st.Delivered}
		if !st.LastSync.IsZero() {
			b["last_sync"] = st.LastSync.UTC().Format(time.RFC3339)
		}
		if st.LastError != "" && st.LastErrorAt.After(st.LastSync) {
			b["last_error"] = st.LastError
		}
		boxes[st.Mailbox] = b
	}
	details["mailboxes"] = boxes
	// SMTP trouble (down, or the password or OAuth token refused) holds replies on the outbox.
	smtpOK, smtpState := d.courier.smtp.Health()
	details["smtp"] = smtpState
	ok = ok && smtpOK
	return ok, details
}

// refreshGauges reads the metrics that are state rather than counts (queue depths, dead letters,
// last mailbox sync) at scrape time, through metrics.Refresh: no polling loop between scrapes.
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
}
