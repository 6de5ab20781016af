// Package metrics holds rmad's Prometheus metrics on a registry of their own (not the global
// default registry, so tests and several servers in one process never collide). Components get a
// *Metrics and update its fields; GET /metrics serves Handler().
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rmad/rmad/rma"
)

// Namespace prefixes every rmad metric name.
const Namespace = "rmad"

// Metrics are rmad's own metrics plus the Go runtime and process collectors.
//
// Label values are always bounded sets chosen by rmad (configured names, result and problem
// codes, HTTP status codes), never strings taken from input, so an attacker cannot blow up the
// number of series.
type Metrics struct {
	Registry *prometheus.Registry

	// Submissions counts processed inputs by kind (rma.Kind: submission, command, ignored,
	// unknown_sender) and result ("ok", or the first whole-submission problem code such as
	// proof_missing).
	Submissions *prometheus.CounterVec
	// Items counts decided items by result (accepted, rejected, redirected, duplicate).
	Items *prometheus.CounterVec
	// ItemCodes counts item problems by code (docs/contract.md §7).
	ItemCodes *prometheus.CounterVec
	// WebhookRequests counts answered webhook requests by source (configured name, or "unknown")
	// and HTTP status code.
	WebhookRequests *prometheus.CounterVec
	// QueueDepth is the number of entries waiting in each queue (inbox, outbox).
	QueueDepth *prometheus.GaugeVec
	// DeadLetters is the number of entries in each dead-letter stream.
	DeadLetters *prometheus.GaugeVec
	// ReplyLatency is the time from a mail's arrival (or a request's receipt) to its reply being
	// handed to SMTP, in seconds. The goal is about one second (docs/contract.md §10), so the buckets are
	// dense around it.
	ReplyLatency prometheus.Histogram
	// IMAPLastSync is the Unix time of each mailbox's last successful sync.
	IMAPLastSync *prometheus.GaugeVec
	// MailsProcessed counts mails taken into the inbox queue by mailbox (configured name) and
	// disposition: the folder the mail is filed in (processed, rejected).
	MailsProcessed *prometheus.CounterVec
	// ComponentUp is 1 while a component (redis, smtp, mailbox:<name>, queue:<name>) can do its
	// work and 0 while it is down, as /healthz reports it: what an alert rule fires on.
	ComponentUp *prometheus.GaugeVec
	// ComponentState is 1 for each component's current state (ok, degraded, down), 0 for the others.
	ComponentState *prometheus.GaugeVec

	// Refresh, when set, runs before every scrape (bounded by a short timeout) so that values
	// read from Redis, such as queue depths, are current without a polling loop. Set it before
	// the handler serves; it must not block for long.
	Refresh func(ctx context.Context)
}

// ReplyLatencyBuckets suit the ~1 s reply goal: fine steps below and around it, a few above to
// show how bad a bad day is.
var ReplyLatencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300}

// New creates the metrics on a fresh registry with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Submissions: counterVec("submissions_total",
			"Processed inputs by kind (submission, command, ignored, unknown_sender) and result (ok or the whole-submission problem code).",
			"kind", "result"),
		Items:           counterVec("items_total", "Decided items by result (accepted, rejected, redirected, duplicate).", "result"),
		ItemCodes:       counterVec("item_problems_total", "Item problems by code.", "code"),
		WebhookRequests: counterVec("webhook_requests_total", "Answered webhook requests by source and HTTP status code.", "source", "status"),
		QueueDepth:      gaugeVec("queue_depth", "Entries waiting in each queue.", "queue"),
		DeadLetters:     gaugeVec("dead_letters", "Entries in each dead-letter stream.", "queue"),
		ReplyLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "reply_latency_seconds",
			Help:    "Time from receipt of a submission to its reply being sent.",
			Buckets: ReplyLatencyBuckets,
		}),
		IMAPLastSync:   gaugeVec("imap_last_sync_timestamp_seconds", "Unix time of each mailbox's last successful IMAP sync.", "mailbox"),
		MailsProcessed: counterVec("mails_processed_total", "Mails taken in by mailbox and disposition (processed, rejected).", "mailbox", "disposition"),
		ComponentUp:    gaugeVec("component_up", "1 while the component (redis, smtp, mailbox:<name>, queue:<name>) works, 0 while it is down.", "component"),
		ComponentState: gaugeVec("component_state", "1 for the component's current state (ok, degraded, down), else 0.", "component", "state"),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Submissions, m.Items, m.ItemCodes, m.WebhookRequests, m.QueueDepth, m.DeadLetters,
		m.ReplyLatency, m.IMAPLastSync, m.MailsProcessed, m.ComponentUp, m.ComponentState,
	)
	// Pre-create the series whose label values are known, so dashboards and alerts see zeros
	// rather than absent series.
	for _, r := range []rma.Result{rma.ResultAccepted, rma.ResultRejected, rma.ResultRedirected, rma.ResultDuplicate} {
		m.Items.WithLabelValues(string(r))
	}
	for _, c := range rma.AllCodes {
		m.ItemCodes.WithLabelValues(string(c))
	}
	return m
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

// refreshTimeout bounds Refresh so a slow Redis cannot hang a scrape.
const refreshTimeout = 2 * time.Second

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// Errors of one collector should not hide the others.
		ErrorHandling: promhttp.ContinueOnError,
		// Cap concurrent scrapes: metrics are for a scraper, not for the world.
		MaxRequestsInFlight: 4,
		Registry:            m.Registry, // promhttp_* self-metrics on our registry too
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.Refresh != nil {
			ctx, cancel := context.WithTimeout(r.Context(), refreshTimeout)
			m.Refresh(ctx)
			cancel()
		}
		h.ServeHTTP(w, r)
	})
}

// ObserveSubmission counts one processed input and its decisions: Submissions by kind and
// result, Items by result and ItemCodes by code. Mail and HTTP paths both call it, so the
// numbers mean the same whatever the channel.
func (m *Metrics) ObserveSubmission(sub rma.Submission, decisions []rma.Decision) {
	if m == nil {
		return
	}
	kind := string(sub.Kind)
	if kind == "" {
		kind = string(rma.KindSubmission)
	}
	result := "ok"
	if len(sub.Problems) > 0 {
		result = string(sub.Problems[0].Code)
	}
	m.Submissions.WithLabelValues(kind, result).Inc()
	for _, d := range decisions {
		m.Items.WithLabelValues(string(d.Result)).Inc()
		for _, p := range d.Problems {
			m.ItemCodes.WithLabelValues(string(p.Code)).Inc()
		}
	}
}

// ObserveWebhook counts one answered webhook request.
func (m *Metrics) ObserveWebhook(source string, status int) {
	if m == nil {
		return
	}
	m.WebhookRequests.WithLabelValues(source, strconv.Itoa(status)).Inc()
}
