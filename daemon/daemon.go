// Package daemon wires rmad's stages together and runs them: mailbox watchers and the HTTP
// server take work in, inbox workers decide and record, the outbox courier delivers. It owns the
// lifecycle: start-up checks, reload on SIGHUP, and a two-phase shutdown (stop taking work, then
// give in-flight work a grace period).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/ingest/mailbox"
	"github.com/rmad/rmad/metrics"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/queue"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/schedule"
	"github.com/rmad/rmad/store"
	"github.com/rmad/rmad/web"
)

// Options tune a Daemon; the zero value is what `rmad run` uses.
type Options struct {
	Now      func() time.Time // clock (tests); default time.Now
	Consumer string           // consumer name in the stream groups; default the host name (+ RMAD_INSTANCE)
	Grace    time.Duration    // how long in-flight work may finish after a stop; default 20s
	Workers  int              // inbox workers; default 4
	// SMTPMessagesPerSession caps the messages per SMTP session (0: outbound's default); 1 is
	// a session per message, for rmadbench to compare.
	SMTPMessagesPerSession int
	// SMTPTimeouts, when set, changes the Sender's command timeouts and relay probe pacing
	// before it is used (tests shorten them).
	SMTPTimeouts func(*outbound.Sender)
	// Ready is called once every component has started and Redis answers (sd_notify READY).
	Ready func()
	// Stopping is called when Run begins to stop (sd_notify STOPPING).
	Stopping func()
}

// Daemon is one running rmad instance.
type Daemon struct {
	cfg      *config.Config
	log      zerolog.Logger
	opt      Options
	rdb      redis.UniversalClient
	store    *store.Store
	inbox    *queue.Queue
	outbox   *queue.Queue
	engine   *rules.Engine
	pipe     *pipeline
	courier  *courier
	watchers []*mailbox.Watcher
	metrics  *metrics.Metrics
	parser   *ingest.Parser
	http     *web.Server
	sched    *schedule.Schedule // digests and reminders
	live     liveness           // running components, for the watchdog (watchdog.go)
	// healthSeen remembers since when each component is not ok (health.go).
	healthSeen healthTracker
}

// New connects to Redis, checks it persists, loads the data files and builds every stage.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger, opt Options) (*Daemon, error) {
	if opt.Now == nil {
		// The RMA year and "today" are the distributor's, not the server's UTC.
		loc := cfg.Schedule.Location
		if loc == nil {
			loc = time.Local
		}
		opt.Now = func() time.Time { return time.Now().In(loc) }
	}
	if opt.Consumer == "" {
		opt.Consumer = consumerName()
	}
	if opt.Grace <= 0 {
		opt.Grace = 20 * time.Second
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	rdb, err := store.Connect(ctx, cfg.Redis)
	if err != nil {
		return nil, err
	}
	if err := store.CheckPersistence(ctx, rdb, cfg.Redis.AllowVolatile); err != nil {
		rdb.Close()
		return nil, err
	}
	data, err := rules.LoadData(cfg)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, opt: opt, rdb: rdb, metrics: metrics.New()}
	d.metrics.Refresh = d.refreshGauges
	d.healthSeen.log = log.With().Str("component", "health").Logger()
	d.engine = rules.NewEngine(cfg, data)
	prefix := cfg.Redis.KeyPrefix
	d.store = store.New(rdb, prefix)
	d.store.SetReplication(store.Replication{Replicas: cfg.Redis.MinReplicas, Timeout: cfg.Redis.ReplicaTimeout})
	d.store.SetLogger(log)
	qlog := log.With().Str("component", "queue").Logger()
	d.inbox = queue.New(rdb, prefix, queue.Options{Stream: "inbox", Group: "workers", Consumer: opt.Consumer,
		Concurrency: opt.Workers, ReadAhead: opt.Workers, ShutdownGrace: opt.Grace, Log: qlog.With().Str("queue", "inbox").Logger()})
	d.courier = newCourier(cfg, d.store, d.metrics, opt.Now, log)
	d.courier.smtp.MaxPerSession = opt.SMTPMessagesPerSession
	if opt.SMTPTimeouts != nil {
		opt.SMTPTimeouts(d.courier.smtp)
	}
	d.outbox = newOutboxQueue(rdb, prefix, opt.Consumer, opt.Grace, d.courier.smtp.WaitRelay, qlog)
	d.parser = &ingest.Parser{Partners: partnerFinder{d.engine}, Limits: cfg.Limits, Security: cfg.Security,
		OwnAddresses: ingest.OwnAddresses(cfg)}
	d.pipe = &pipeline{
		parser:      d.parser,
		engine:      d.engine,
		store:       d.store,
		composer:    outbound.NewComposer(cfg),
		outbox:      d.outbox,
		metrics:     d.metrics,
		replyTo:     cfg.Security.ReplyToUnknown(),
		acknowledge: cfg.Conversation.Acknowledge,
		now:         opt.Now,
		log:         log.With().Str("component", "worker").Logger(),
	}
	sink := &mailSink{confirm: d.store.ConfirmWrites, parser: d.parser, inbox: d.inbox, outbox: d.outbox,
		backlog: cfg.Limits.InboxBacklog, metrics: d.metrics, now: opt.Now}
	// The mailbox leases belong to the instance name, so a restarted instance takes its
	// mailboxes back at once; Run's instance claim keeps two live processes off one name.
	locks := &leaseLocker{leases: d.store.InstanceLeases(opt.Consumer), log: log.With().Str("component", "imap").Logger()}
	for _, mb := range cfg.IMAP {
		for _, disp := range []mailbox.Disposition{mailbox.Processed, mailbox.Rejected} {
			d.metrics.MailsProcessed.WithLabelValues(mb.Name, disp.String()) // zeros, not absent series
		}
		// The watcher adds component=imap and mailbox itself: adding them here too would write
		// each key twice in every JSON line.
		d.watchers = append(d.watchers, mailbox.New(mb, cfg.Limits, sink, d.store, locks, log))
	}
	if d.pipe.estimates, err = d.newEstimates(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	if d.pipe.oldKeysUntil, err = d.store.OldKeysUntil(ctx, opt.Now()); err != nil {
		rdb.Close()
		return nil, err
	}
	consoleHandler, err := d.newConsole(ctx)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	d.http = web.New(web.Config{
		Console:        consoleHandler,
		Estimates:      d.pipe.estimates,
		HTTP:           cfg.HTTP,
		Sources:        cfg.Webhooks.Sources,
		Store:          d.store,
		Submitter:      d.pipe,
		PartnerByToken: func(h string) (rma.Partner, bool) { return d.engine.Data().Partners.ByTokenSHA256(h) },
		PartnerByID:    func(id string) (rma.Partner, bool) { return d.engine.Data().Partners.ByID(id) },
		Health:         d.health,
		Metrics:        d.metrics,
		Log:            log,
		Now:            opt.Now,
		MaxItems:       cfg.Limits.MaxItemsPerSubmission,
	})
	d.sched, err = d.newSchedule(schedule.OutboxFunc(func(ctx context.Context, m outbound.Message) error {
		return d.pipe.send(ctx, "", m)
	}))
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return d, nil
}

// newSchedule builds the scheduled jobs on the daemon's store, data and clock, putting their
// mails on outbox.
func (d *Daemon) newSchedule(outbox schedule.Outbox) (*schedule.Schedule, error) {
	return schedule.New(schedule.Config{
		Store:     d.store,
		Partner:   func(id string) (rma.Partner, bool) { return d.engine.Data().Partners.ByID(id) },
		Composer:  d.pipe.composer,
		Policy:    d.cfg.Policy,
		Schedule:  d.cfg.Schedule,
		Retention: d.cfg.Retention,
		Outbox:    outbox,
		Now:       d.opt.Now,
		Log:       d.log,
	})
}

// Close releases what New opened, for a Daemon that is not Run (Run closes it itself).
func (d *Daemon) Close() error {
	d.courier.smtp.Close()
	return d.rdb.Close()
}

// Handler is the HTTP API (for tests; Run serves it on http.listen).
func (d *Daemon) Handler() http.Handler { return d.http.Handler() }

// instanceBeat is how often a running instance renews the claim on its name; a claim found
// unchanged for 2½ beats at start belongs to a process that is gone.
const instanceBeat = time.Second

// claimInstance claims the instance name (store.ClaimInstance), waiting for Redis if it does not
// answer yet; another live process under the same name is an error that says what to change.
func (d *Daemon) claimInstance(ctx context.Context) (*store.Instance, error) {
	log := d.log.With().Str("component", "instance").Logger()
	warned := false
	for {
		inst, err := d.store.ClaimInstance(ctx, d.opt.Consumer, instanceBeat)
		switch {
		case err == nil:
			return inst, nil
		case errors.Is(err, store.ErrInstanceRunning), ctx.Err() != nil:
			return nil, err
		case !warned:
			warned = true
			log.Warn().Err(err).Msg("cannot claim the instance name yet; waiting for redis")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// consumerName names this instance in the stream groups. It stays the same across restarts, so a
// restarted rmad takes up its own unfinished entries at once instead of waiting for the
// visibility timeout; RMAD_INSTANCE tells apart several instances on one host.
func consumerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "rmad"
	}
	if inst := os.Getenv("RMAD_INSTANCE"); inst != "" {
		return host + "-" + inst
	}
	return host
}

// Store gives the CLI and tests the daemon's record store.
func (d *Daemon) Store() *store.Store { return d.store }

// Metrics gives the HTTP server the daemon's registry.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Reload re-reads partners, catalog and sales. A broken file keeps the old data and says why.
func (d *Daemon) Reload() error {
	data, err := rules.LoadData(d.cfg)
	if err != nil {
		d.log.Error().Err(err).Str("component", "reload").Msg("data files not reloaded; the previous data stays in use")
		return err
	}
	d.engine.SetData(data)
	d.log.Info().Str("component", "reload").Msg("partners, catalog and sales reloaded")
	return nil
}

// Run runs every stage until ctx ends, then stops taking new work and lets in-flight work finish
// within the grace period. It returns the first component failure, or nil on a clean stop.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.rdb.Close()
	intake, stopIntake := context.WithCancel(context.WithoutCancel(ctx))
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	defer stopIntake()

	inst, err := d.claimInstance(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = inst.Release(context.WithoutCancel(ctx)) }()

	// Bind the HTTP port before anything starts, so READY means the port is open, and a port
	// already taken stops rmad at once with a clear error.
	var httpLn net.Listener
	if d.cfg.HTTP.Listen != "" {
		ln, err := net.Listen("tcp", d.cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("http: listen on %s (http.listen): %w", d.cfg.HTTP.Listen, err)
		}
		httpLn = ln
	}

	// Any number of components may fail, and after the first failure nobody waits for the next:
	// a failure is recorded, never sent where sending could block a component (and so the
	// shutdown, which waits for every component).
	var (
		failOnce sync.Once
		failed   = make(chan struct{})
		failure  error // set once, before failed is closed
	)
	fail := func(err error) {
		first := false
		failOnce.Do(func() { failure, first = err, true; close(failed) })
		if !first {
			d.log.Error().Err(err).Msg("component failed")
		}
	}
	var intakeWG, workWG sync.WaitGroup
	start := func(wg *sync.WaitGroup, name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.live.enter(name)
			defer d.live.leave(name)
			if err := f(); err != nil && !errors.Is(err, context.Canceled) {
				fail(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	start(&workWG, "inbox", func() error { return d.inbox.Run(work, d.pipe.handleInbox) })
	start(&workWG, "outbox", func() error { return d.outbox.Run(work, d.courier.handle) })
	for i, w := range d.watchers {
		start(&intakeWG, "imap "+d.cfg.IMAP[i].Name, func() error { return w.Run(intake) })
	}
	if httpLn != nil {
		start(&intakeWG, "http", func() error { return d.http.Serve(intake, httpLn) })
	}
	d.sched.Start(work) // the jobs may finish their run after intake stops
	start(&intakeWG, "schedule", func() error { <-intake.Done(); d.sched.Stop(); return nil })
	start(&workWG, "watchdog", func() error { return d.watchdog(work) })
	start(&workWG, "health", func() error { return d.healthLoop(work) })
	start(&intakeWG, "instance", func() error {
		select {
		case <-intake.Done():
			return nil
		case <-inst.Lost():
			return fmt.Errorf("another process took over instance name %q (this one did not renew its claim in time): stopping", d.opt.Consumer)
		}
	})
	start(&workWG, "numbering guard", func() error { return d.guardNumbering(work) })
	if d.opt.Ready != nil && d.waitRedis(ctx) {
		d.opt.Ready()
	}
	d.log.Info().Int("mailboxes", len(d.watchers)).Str("consumer", d.opt.Consumer).Msg("rmad running")

	select {
	case <-ctx.Done():
	case <-failed:
		d.log.Error().Err(failure).Msg("component failed; stopping")
	}
	if d.opt.Stopping != nil {
		d.opt.Stopping()
	}
	// Phase 1: take no new work.
	stopIntake()
	intakeWG.Wait()
	// Phase 2: the queues stop reading and give in-flight work the grace period; what is cut off
	// is retried after a restart.
	stopWork()
	workWG.Wait()
	d.sched.Wait()
	d.courier.smtp.Close() // QUIT the idle SMTP sessions
	d.log.Info().Msg("rmad stopped")
	select {
	case <-failed:
		return failure
	default:
		return nil
	}
}

// partnerFinder looks partners up in the engine's current data, so a reload is seen at once.
type partnerFinder struct{ engine *rules.Engine }

func (p partnerFinder) BySender(addr string) (rma.Partner, bool) {
	return p.engine.Data().Partners.BySender(addr)
}

// mailSink puts fetched mail durably into the inbox stream and tells the watcher where the mail
// goes: partner mail to processed, automatic mail and unknown senders to rejected.
type mailSink struct {
	confirm func(ctx context.Context, keys ...string) error // store.ConfirmWrites
	parser  *ingest.Parser
	inbox   *queue.Queue
	outbox  *queue.Queue
	backlog int64 // limits.inbox_backlog
	metrics *metrics.Metrics
	now     func() time.Time
}

// Backlog is what waits in Redis for the mail the watchers fetched: the inbox stream's entries
// or the outbox's (one per mail answered: its reply, staff copy and forwards together),
// whichever is more.
// The watchers stop fetching at limits.inbox_backlog, so a backlog of mail (or an SMTP outage)
// cannot fill Redis: the mail waits in IMAP instead.
// Both depths are read in one round trip: the watcher asks before each sync, so with IDLE
// before it fetches every new mail.
func (s *mailSink) Backlog(ctx context.Context) (waiting, limit int64, err error) {
	pipe := s.inbox.Pipeline() // the inbox and the outbox share the daemon's client
	inDepth, outDepth := s.inbox.DepthIn(ctx, pipe), s.outbox.DepthIn(ctx, pipe)
	_, _ = pipe.Exec(ctx) // the results read their commands' own outcomes
	in, inErr := inDepth()
	out, outErr := outDepth()
	if err := errors.Join(inErr, outErr); err != nil {
		return 0, s.backlog, err
	}
	return max(in, out), s.backlog, nil
}

func (s *mailSink) Deliver(ctx context.Context, m mailbox.Mail) (mailbox.Disposition, error) {
	attrs := map[string]string{
		attrMailbox:     m.Mailbox,
		attrUIDValidity: strconv.FormatUint(uint64(m.UIDValidity), 10),
		attrUID:         strconv.FormatUint(uint64(m.UID), 10),
		attrEnqueued:    strconv.FormatInt(s.now().UnixNano(), 10),
	}
	payload := m.Raw
	disp := mailbox.Processed
	if m.TooLarge {
		payload, attrs[attrTooLarge], disp = m.Header, "1", mailbox.Rejected
	} else if sub, err := s.parser.ClassifyHeader(m.Header); err != nil ||
		sub.Kind == rma.KindIgnored || sub.Kind == rma.KindUnknownSender {
		// The header decides where the mail is filed; the worker parses the whole mail once.
		disp = mailbox.Rejected
	}
	if _, err := s.inbox.Add(ctx, payload, attrs); err != nil {
		return disp, fmt.Errorf("enqueue uid %d: %w", m.UID, err)
	}
	s.metrics.MailsProcessed.WithLabelValues(m.Mailbox, disp.String()).Inc()
	return disp, nil
}

// Confirm waits until the replicas hold what Deliver wrote (redis.min_replicas), before the
// watcher moves those mails out of the mailbox.
func (s *mailSink) Confirm(ctx context.Context) error {
	return s.confirm(ctx, s.inbox.Key())
}

// leaseLocker gives each mailbox watcher a Redis lease, so one instance at a time reads a mailbox.
type leaseLocker struct {
	leases *store.Leases
	log    zerolog.Logger // with component=imap
}

// mailboxLeaseTTL bounds how long a mailbox waits after its reader died (renewed every ttl/3).
const mailboxLeaseTTL = 15 * time.Second

// mailboxLease names the lease of a configured mailbox.
func mailboxLease(mailbox string) string { return "imap:" + mailbox }

// legacyMailboxLease is the name earlier versions gave it (the prefix twice). While an
// instance of such a version runs it renews that lease, so a new instance stands by rather than
// read the mailbox beside it; once the old one stops, its lease expires within mailboxLeaseTTL.
func legacyMailboxLease(mailbox string) string { return "imap:imap:" + mailbox }

func (l *leaseLocker) Lock(ctx context.Context, mailbox string) (<-chan struct{}, func(), error) {
	log := l.log.With().Str("mailbox", mailbox).Logger()
	waiting := ""
	standBy := func(why string) {
		if waiting != why {
			waiting = why
			log.Info().Msg(why + "; standing by")
		}
	}
	for {
		lease, ok, err := l.leases.TryAcquire(ctx, mailboxLease(mailbox), mailboxLeaseTTL)
		var old time.Duration
		if ok {
			old, err = l.leases.Remaining(ctx, legacyMailboxLease(mailbox))
		}
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("lease: redis error; retrying")
		case ok && old == 0:
			return lease.Lost(), func() { _ = lease.Release(context.WithoutCancel(ctx)) }, nil
		case ok:
			standBy("an instance of an older rmad version reads this mailbox")
		default:
			standBy("another instance reads this mailbox")
		}
		if lease != nil {
			_ = lease.Release(context.WithoutCancel(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Second + time.Duration(time.Now().UnixNano()%500)*time.Millisecond):
		}
	}
}

// Pending counts the entries waiting or in flight in the inbox and outbox streams: zero means
// every mail taken in so far has been decided and answered.
func (d *Daemon) Pending(ctx context.Context) (int64, error) {
	var total int64
	for _, q := range []*queue.Queue{d.inbox, d.outbox} {
		n, err := q.Depth(ctx)
		if err != nil {
			return 0, fmt.Errorf("queue depth: %w", err)
		}
		total += n
	}
	return total, nil
}
