// Package mailbox is rmad's IMAP watcher: for one configured mailbox it holds a lease, keeps a
// connection (IDLE when offered, polling as fallback and safety net), and hands every mail in the
// mailbox to a Sink before moving it out of the way. It is the only package that talks IMAP.
//
// Per mail the order is: read RFC822.SIZE → fetch the raw bytes (only the header when the mail is
// over the size limit) → Sink.Deliver (durable) → set the cursor → MOVE to the processed or the
// rejected mailbox. A crash between any two steps leaves the mail in the mailbox (or already
// moved); since every sync looks at all undeleted mails rather than only those past the cursor,
// it is delivered again and the daemon's dedupe makes that harmless.
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/mailauth"
)

// Mail is one message handed to the Sink.
type Mail struct {
	Mailbox     string // the configured mailbox name (config imap[].name), not the IMAP folder
	UIDValidity uint32
	UID         uint32
	Size        int64  // RFC822.SIZE as the server reported it
	Raw         []byte // the whole message; nil when TooLarge
	Header      []byte // always: the header block (with its closing blank line), for too_large answers
	TooLarge    bool   // over limits.max_message_bytes: the body was never downloaded
}

// Disposition says where a delivered mail goes.
type Disposition int

const (
	// Processed mails go to processed_mailbox.
	Processed Disposition = iota
	// Rejected mails (automatic mail, unknown senders, too large) go to rejected_mailbox.
	Rejected
)

func (d Disposition) String() string {
	switch d {
	case Processed:
		return "processed"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// Sink takes mails from the watcher. Deliver returns only after the mail is durably enqueued; it
// decides processed vs rejected (the daemon's sink from the mail's header alone, with
// ingest.Parser.ClassifyHeader; the whole mail is parsed later, once, by the inbox worker).
// A too-large mail always goes to rejected, whatever Deliver says. An error leaves the mail in
// the mailbox; it is offered again later.
type Sink interface {
	Deliver(ctx context.Context, m Mail) (Disposition, error)
}

// Confirmer is a Sink whose Deliver may return before the mail is safe from a failover (Redis
// with replicas, redis.min_replicas): Confirm returns nil once every mail delivered so far is.
// The watcher moves no mail out of the mailbox before that; when Confirm fails, the mails stay
// and are delivered again later.
type Confirmer interface {
	Confirm(ctx context.Context) error
}

// Backlog is implemented by a Sink whose mail is processed later (the daemon's inbox stream):
// before it fetches, the watcher asks how many delivered mails still wait and how many may. At
// the limit it fetches nothing more (the mail waits in the IMAP mailbox, where it is safe) and
// keeps the connection, IDLE included; once the waiting count is down to half the limit it syncs
// again, so a backlog is moved into the queue in steps instead of all at once. An error is logged
// and does not pause: Deliver then fails or succeeds on its own.
type Backlog interface {
	Backlog(ctx context.Context) (waiting, limit int64, err error)
}

// Cursor stores, per configured mailbox, the UIDVALIDITY and the highest UID delivered. The
// watcher does not skip mails by it (a mail left behind by a crash must be picked up again); it
// serves logs, metrics and the detection of a UIDVALIDITY change.
type Cursor interface {
	Cursor(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error)
	SetCursor(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error
}

// Locker gives the watcher its lease so that one rmad instance at a time reads a mailbox. Lock
// takes the configured mailbox name (config imap[].name) and names the lease itself; it blocks
// until the lease is acquired or ctx is done; lost is closed when the lease is lost (the watcher
// then disconnects at once and asks again); release gives it back.
type Locker interface {
	Lock(ctx context.Context, mailbox string) (lost <-chan struct{}, release func(), err error)
}

// Errors that a retry cannot fix: Run returns them (wrapped) instead of retrying.
var (
	// ErrPlaintext: tls: none with an address that is not loopback.
	ErrPlaintext = errors.New("tls: none is allowed only for loopback addresses (127.0.0.1, ::1, localhost); use implicit or starttls")
	// ErrNoSafeMove: the server has neither MOVE nor UIDPLUS, so moving a mail would need a plain
	// EXPUNGE, which also removes every other \Deleted mail in the folder.
	ErrNoSafeMove = errors.New("the server offers neither MOVE nor UIDPLUS: rmad cannot move mail without expunging other \\Deleted mail, so it refuses")
	// ErrConfig: the mailbox configuration cannot work (missing address, unknown tls mode, ...).
	ErrConfig = errors.New("invalid imap mailbox configuration")
)

// State is the watcher's health, for /healthz and metrics.
type State struct {
	Mailbox     string    // configured name
	Leased      bool      // this instance holds the mailbox's lease
	Connected   bool      // logged in and the mailbox selected
	Idle        bool      // an IDLE command is running now
	IdleCapable bool      // the server offers IDLE and the config wants it
	LastSync    time.Time // end of the last complete sync
	LastError   string    // the last error (not cleared by success: compare LastErrorAt with LastSync)
	LastErrorAt time.Time
	UIDValidity uint32 // of the selected mailbox
	LastUID     uint32 // highest UID delivered (the cursor)
	Delivered   uint64 // mails handed to the Sink successfully since start
	Paused      bool   // fetching stopped: the Sink's Backlog is at its limit
}

// Watcher watches one mailbox. Create it with New and start it with Run.
type Watcher struct {
	cfg    config.Mailbox
	limits config.Limits
	sink   Sink
	cur    Cursor
	lock   Locker
	log    zerolog.Logger

	exists chan struct{} // EXISTS from the server → sync now

	tokens *mailauth.Tokens // auth xoauth2/oauthbearer: the mailbox's access tokens; nil with passwords

	mu    sync.Mutex
	state State

	// failed counts, for mails still in the mailbox (by UID, of failedValidity), how often each
	// began a run of failed deliveries: a sync tries them after the others. Only the sync
	// goroutine uses it.
	failed         map[imap.UID]int
	failedValidity uint32

	// Tunables: production values from New; tests shorten them.
	backoffMin, backoffMax time.Duration // reconnect and lease retry
	retryMin               time.Duration // first retry after a Sink/Cursor failure (doubles up to the poll interval)
	probeEvery             time.Duration // while the server refuses connections: how often a TCP dial checks it is back
	idleRefresh            time.Duration // re-issue IDLE at least this often
	batchBytes             int64         // raw bytes fetched per UID FETCH
	batchCount             int           // mails per UID FETCH
	backlogCheck           time.Duration // while paused by the Sink's Backlog: how often it is asked again
	tlsConfig              *tls.Config   // nil: system roots
	afterSync              func()        // test hook, called after each complete sync
}

// Bounds of a sync. Missing config values take config's defaults (Load normally fills them in).
const (
	// maxHeaderBytes bounds the header kept for a too-large mail.
	maxHeaderBytes = 1 << 20
	// consecutiveFailuresStop: after this many Sink failures in a row the sync stops early (the
	// Sink's store is likely down); a single poison mail does not stop the others.
	consecutiveFailuresStop = 3
	// reconnectCap is the longest step of the reconnect backoff; with jitter a wait at the cap
	// is 10–20 s. While the server cannot even be reached, a TCP dial every probeEvery ends the
	// wait as soon as it listens again, so intake resumes within seconds of its return.
	reconnectCap = 20 * time.Second
)

// New makes a watcher for one configured mailbox. lock may be nil when the caller guarantees a
// single instance (tests, `rmad demo`); cur must not be nil.
func New(cfg config.Mailbox, limits config.Limits, sink Sink, cur Cursor, lock Locker, log zerolog.Logger) *Watcher {
	if cfg.Mailbox == "" {
		cfg.Mailbox = config.DefaultMailbox
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = config.DefaultPollInterval
	}
	if limits.MaxMessageBytes <= 0 {
		limits.MaxMessageBytes = config.DefaultMaxMessageBytes
	}
	var tokens *mailauth.Tokens
	if config.UsesOAuth(cfg.Auth) && cfg.OAuth2 != nil {
		tokens = mailauth.NewTokens(*cfg.OAuth2, nil)
	}
	return &Watcher{
		tokens:       tokens,
		cfg:          cfg,
		limits:       limits,
		sink:         sink,
		cur:          cur,
		lock:         lock,
		log:          log.With().Str("component", "imap").Str("mailbox", cfg.Name).Logger(),
		exists:       make(chan struct{}, 1),
		failed:       map[imap.UID]int{},
		state:        State{Mailbox: cfg.Name},
		backoffMin:   time.Second,
		backoffMax:   reconnectCap,
		retryMin:     time.Second,
		probeEvery:   time.Second,
		idleRefresh:  25 * time.Minute,
		batchBytes:   8 << 20,
		batchCount:   200,
		backlogCheck: 250 * time.Millisecond,
	}
}

// State returns a snapshot of the watcher's health.
func (w *Watcher) State() State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func (w *Watcher) update(f func(s *State)) {
	w.mu.Lock()
	f(&w.state)
	w.mu.Unlock()
}

func (w *Watcher) recordError(err error) {
	w.update(func(s *State) {
		s.LastError = err.Error()
		s.LastErrorAt = time.Now()
	})
}

// Run watches the mailbox until ctx is done, then returns nil. It takes the lease first, and
// reconnects with backoff and jitter when the connection drops or cannot be made. It returns an
// error only for problems no retry can fix (ErrConfig, ErrPlaintext, ErrNoSafeMove, wrapped).
func (w *Watcher) Run(ctx context.Context) error {
	if err := w.checkConfig(); err != nil {
		w.recordError(err)
		w.log.Error().Err(err).Msg("not starting")
		return err
	}
	bo := backoff{min: w.backoffMin, max: w.backoffMax}
	for ctx.Err() == nil {
		lost, release, err := w.acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			err = fmt.Errorf("imap %s: lease: %w", w.cfg.Name, err)
			w.recordError(err)
			d := bo.next()
			w.log.Warn().Err(err).Dur("retry_in", d).Msg("cannot take the lease")
			if !sleep(ctx, d) {
				break
			}
			continue
		}
		bo.reset()
		w.update(func(s *State) { s.Leased = true })
		w.log.Debug().Msg("lease acquired")
		err = w.runLeased(ctx, lost)
		w.update(func(s *State) { s.Leased = false }) // before release: never two Leased at once
		release()
		if err != nil {
			w.recordError(err)
			w.log.Error().Err(err).Msg("stopped")
			return err
		}
	}
	return nil
}

func (w *Watcher) acquire(ctx context.Context) (<-chan struct{}, func(), error) {
	if w.lock == nil {
		return nil, func() {}, nil
	}
	return w.lock.Lock(ctx, w.cfg.Name)
}

// runLeased keeps a session going while the lease is held. It returns nil when ctx is done or the
// lease is lost, and a permanent error otherwise.
func (w *Watcher) runLeased(ctx context.Context, lost <-chan struct{}) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			w.log.Warn().Msg("lease lost: disconnecting")
			cancel()
		case <-lctx.Done():
		}
	}()

	bo := backoff{min: w.backoffMin, max: w.backoffMax}
	for {
		synced, err := w.session(lctx)
		w.update(func(s *State) { s.Connected, s.Idle = false, false })
		if lctx.Err() != nil {
			return nil
		}
		if isPermanent(err) {
			return err
		}
		if synced {
			bo.reset() // the connection worked for a while: start the backoff over
		}
		d := bo.next()
		w.recordError(err)
		w.log.Warn().Err(err).Dur("retry_in", d).Msg("disconnected")
		if isUnreachable(err) {
			if !w.sleepUntilReachable(lctx, d) {
				return nil
			}
		} else if !sleep(lctx, d) {
			return nil
		}
	}
}

// isUnreachable reports whether err is a failed TCP connect (refused, no route, timed out):
// the server is down, not unhappy with us, so a bare TCP dial tells when it is back.
func isUnreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// sleepUntilReachable waits d, or less: it dials the server every probeEvery and returns as
// soon as the port accepts a connection (which is closed at once). It reports false when ctx
// ended.
func (w *Watcher) sleepUntilReachable(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	dialer := net.Dialer{Timeout: w.probeEvery}
	for {
		wait := min(w.probeEvery, time.Until(deadline))
		if wait <= 0 || !sleep(ctx, wait) {
			return ctx.Err() == nil
		}
		if c, err := dialer.DialContext(ctx, "tcp", w.cfg.Address); err == nil {
			_ = c.Close()
			w.log.Info().Msg("server reachable again: reconnecting")
			return true
		}
	}
}

func isPermanent(err error) bool {
	return errors.Is(err, ErrPlaintext) || errors.Is(err, ErrNoSafeMove) || errors.Is(err, ErrConfig)
}

func (w *Watcher) checkConfig() error {
	c := w.cfg
	bad := func(format string, args ...any) error {
		return fmt.Errorf("imap %s: %w: %s", c.Name, ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Address == "":
		return bad("address is empty")
	case c.ProcessedMailbox == "" || c.RejectedMailbox == "":
		return bad("processed_mailbox and rejected_mailbox must be set")
	case c.ProcessedMailbox == c.Mailbox || c.RejectedMailbox == c.Mailbox:
		return bad("processed_mailbox and rejected_mailbox must differ from mailbox %q", c.Mailbox)
	case w.sink == nil || w.cur == nil:
		return bad("no sink or cursor store (a bug in the caller)")
	case config.UsesOAuth(c.Auth) && w.tokens == nil:
		return bad("auth %s needs an oauth2 block", c.Auth)
	}
	switch c.TLS {
	case "", config.TLSImplicit, config.TLSStartTLS:
	case config.TLSNone:
		if !isLoopback(c.Address) {
			return fmt.Errorf("imap %s: %s: %w", c.Name, c.Address, ErrPlaintext)
		}
	default:
		return bad("tls %q is not one of implicit, starttls, none", c.TLS)
	}
	return nil
}

// backoff is exponential with jitter: each wait is between half and all of the current step, so
// that several instances (or mailboxes on one server) do not reconnect in lockstep.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx is done; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
