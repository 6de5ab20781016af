package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/mailauth"
)

// errClosed: the server closed the connection (or it broke) while we were waiting.
var errClosed = errors.New("connection closed")

// session runs one connection: connect, log in, prepare the folders, select, then sync and wait
// until something fails or ctx is done. synced reports whether at least one sync completed, so
// that the caller can reset its backoff.
func (w *Watcher) session(ctx context.Context) (synced bool, err error) {
	name := w.cfg.Name
	c, err := w.dial()
	if err != nil {
		if isPermanent(err) {
			return false, err
		}
		return false, fmt.Errorf("imap %s: connect %s: %w", name, w.cfg.Address, err)
	}
	// imapclient has no contexts: closing the client is how a blocked command is cancelled.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()

	if err := c.WaitGreeting(); err != nil {
		return false, fmt.Errorf("imap %s: greeting from %s: %w", name, w.cfg.Address, err)
	}
	if err := w.login(ctx, c); err != nil {
		return false, fmt.Errorf("imap %s: %w", name, err)
	}
	caps := c.Caps()
	if caps == nil {
		return false, fmt.Errorf("imap %s: capabilities: %w", name, errClosed)
	}
	strategy, err := moveStrategy(caps)
	if err != nil {
		return false, fmt.Errorf("imap %s: %s: %w", name, w.cfg.Address, err)
	}
	for _, mbox := range []string{w.cfg.ProcessedMailbox, w.cfg.RejectedMailbox} {
		if err := ensureMailbox(c, mbox); err != nil {
			return false, fmt.Errorf("imap %s: create %s: %w", name, mbox, err)
		}
	}
	sel, err := c.Select(w.cfg.Mailbox, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("imap %s: select %s: %w", name, w.cfg.Mailbox, err)
	}
	uidValidity := sel.UIDValidity
	lastUID := w.loadCursor(ctx, uidValidity)
	useIdle := w.cfg.UseIDLE() && caps.Has(imap.CapIdle)
	w.update(func(s *State) {
		s.Connected, s.IdleCapable = true, useIdle
		s.UIDValidity, s.LastUID = uidValidity, lastUID
	})
	w.log.Info().Str("folder", w.cfg.Mailbox).Uint32("messages", sel.NumMessages).
		Uint32("uid_validity", uidValidity).Bool("idle", useIdle).Str("move", strategy.String()).
		Msg("connected")

	retry := backoff{min: w.retryMin, max: w.cfg.PollInterval}
	var retryIn time.Duration // > 0: the last sync failed on the Sink or Cursor side
	for {
		drain(w.exists) // this sync sees everything announced so far
		more, err := w.sync(ctx, c, uidValidity)
		var de *deliverError
		switch {
		case errors.As(err, &de):
			// The connection is fine; the Sink's store is not. Keep the session, retry sooner
			// than the poll interval, with backoff so a down store is not hammered.
			retryIn = retry.next()
			w.recordError(err)
			w.log.Warn().Err(err).Dur("retry_in", retryIn).Msg("delivery failed; the mails stay in the mailbox")
		case err != nil:
			return synced, err
		default:
			synced, retryIn = true, 0
			retry.reset()
		}
		if err := w.wait(ctx, c, useIdle, retryIn, more); err != nil {
			return synced, fmt.Errorf("imap %s: %w", name, err)
		}
	}
}

// login logs in with the password, or with an OAuth access token (a refused token is
// replaced by a new one once; then the error says the server refused it).
func (w *Watcher) login(ctx context.Context, c *imapclient.Client) error {
	if !config.UsesOAuth(w.cfg.Auth) {
		if err := c.Login(w.cfg.Username, w.cfg.Password.Reveal()).Wait(); err != nil {
			return fmt.Errorf("login as %s: %w", w.cfg.Username, err)
		}
		return nil
	}
	mech := mailauth.Mechanism(w.cfg.Auth)
	if !c.Caps().Has(imap.Cap("AUTH=" + mech)) {
		return fmt.Errorf("auth %s: %s does not offer AUTH=%s", w.cfg.Auth, w.cfg.Address, mech)
	}
	err := mailauth.Login(ctx, w.tokens, mech, w.cfg.Username,
		func(sc mailauth.Client) error { return c.Authenticate(sc) },
		func(err error) bool { var ie *imap.Error; return errors.As(err, &ie) })
	var refused *mailauth.RefusedError
	if err != nil && !errors.As(err, &refused) { // a refusal says it all: "the server refused the OAuth token: ..."
		return fmt.Errorf("%s as %s: %w", mech, w.cfg.Username, err)
	}
	return err
}

// dial connects with the configured TLS mode. TCP keepalive makes a silently dead connection
// (NAT timeout, server gone) fail within about a minute: imapclient itself has no read timeout
// while it waits for a response.
func (w *Watcher) dial() (*imapclient.Client, error) {
	host, _, err := net.SplitHostPort(w.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w: address %q: %v", w.cfg.Name, ErrConfig, w.cfg.Address, err)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if w.tlsConfig != nil {
		tlsConfig = w.tlsConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	opts := &imapclient.Options{
		TLSConfig: tlsConfig,
		Dialer: &net.Dialer{
			Timeout: 30 * time.Second,
			KeepAliveConfig: net.KeepAliveConfig{
				Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3,
			},
		},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			// Runs on the client's reader goroutine: only signal, never block.
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					signal(w.exists)
				}
			},
		},
	}
	switch w.cfg.TLS {
	case config.TLSNone:
		if !isLoopback(w.cfg.Address) { // checked in Run too; never send a password in clear
			return nil, fmt.Errorf("imap %s: %s: %w", w.cfg.Name, w.cfg.Address, ErrPlaintext)
		}
		return imapclient.DialInsecure(w.cfg.Address, opts)
	case config.TLSStartTLS:
		return imapclient.DialStartTLS(w.cfg.Address, opts)
	default:
		return imapclient.DialTLS(w.cfg.Address, opts)
	}
}

// isLoopback reports whether host:port names this machine: a loopback IP or "localhost".
func isLoopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return strings.EqualFold(host, "localhost")
}

// moveKind is how mails leave the watched mailbox.
type moveKind int

const (
	moveNative    moveKind = iota // UID MOVE
	moveCopyUIDEx                 // UID COPY + UID STORE \Deleted + UID EXPUNGE (UIDPLUS)
)

func (k moveKind) String() string {
	if k == moveNative {
		return "MOVE"
	}
	return "COPY+UID EXPUNGE"
}

// moveStrategy decides how to move mail on a server with these capabilities. Without MOVE,
// imapclient falls back to COPY + STORE + EXPUNGE, and uses UID EXPUNGE only with UIDPLUS; a
// plain EXPUNGE would also delete other people's \Deleted mail, so that case is refused.
func moveStrategy(caps imap.CapSet) (moveKind, error) {
	switch {
	case caps.Has(imap.CapMove): // IMAP4rev2 implies MOVE
		return moveNative, nil
	case caps.Has(imap.CapUIDPlus):
		return moveCopyUIDEx, nil
	default:
		return 0, ErrNoSafeMove
	}
}

// ensureMailbox creates mbox unless it exists, and subscribes it so that staff see it.
func ensureMailbox(c *imapclient.Client, mbox string) error {
	err := c.Create(mbox, nil).Wait()
	var ierr *imap.Error
	if err != nil && errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil {
		// Some servers answer NO without ALREADYEXISTS: the mailbox is fine if it can be STATUSed.
		if _, serr := c.Status(mbox, &imap.StatusOptions{NumMessages: true}).Wait(); serr == nil {
			return nil
		}
		return err
	}
	_ = c.Subscribe(mbox).Wait() // cosmetic; a server without subscriptions is fine
	return nil
}

// loadCursor reads the cursor and resets it when UIDVALIDITY changed. The cursor is not what
// keeps mail from being lost, so a failure here is logged, not fatal.
func (w *Watcher) loadCursor(ctx context.Context, uidValidity uint32) uint32 {
	storedUV, lastUID, err := w.cur.Cursor(ctx, w.cfg.Name)
	if err != nil {
		w.log.Warn().Err(err).Msg("cannot read the cursor; carrying on without it")
		return 0
	}
	if storedUV != 0 && storedUV != uidValidity {
		w.log.Warn().Uint32("old_uid_validity", storedUV).Uint32("uid_validity", uidValidity).
			Msg("UIDVALIDITY changed: rescanning the whole mailbox (redelivered mails are deduplicated)")
		lastUID = 0
		if err := w.cur.SetCursor(ctx, w.cfg.Name, uidValidity, 0); err != nil {
			w.log.Warn().Err(err).Msg("cannot reset the cursor")
		}
	}
	return lastUID
}

// wait blocks until there may be new mail: EXISTS during IDLE, the poll interval (also
// the safety net under IDLE), or retryIn after a failed delivery. With paused (mails were left
// in the mailbox because the Sink's Backlog was full) it waits instead until the backlog is down
// to half its limit, or the poll interval passed, asking every backlogCheck; EXISTS does not end
// that wait (the next sync sees the new mail anyway). It returns an error when the connection is
// gone or ctx is done.
func (w *Watcher) wait(ctx context.Context, c *imapclient.Client, useIdle bool, retryIn time.Duration, paused bool) error {
	d := w.cfg.PollInterval
	if retryIn > 0 {
		d = min(d, retryIn)
	}
	if useIdle {
		d = min(d, w.idleRefresh)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	var check <-chan time.Time
	if paused {
		t := time.NewTicker(w.backlogCheck)
		defer t.Stop()
		check = t.C
	}
	switch was := w.State().Paused; {
	case paused && !was:
		w.log.Info().Msg("the queue holds as many mails as limits.inbox_backlog allows: fetching paused, mail waits in the mailbox")
	case !paused && was:
		w.log.Info().Msg("the queue has drained: fetching resumed")
	}
	w.update(func(s *State) { s.Paused = paused })

	var idle *imapclient.IdleCommand
	if useIdle {
		var err error
		if idle, err = c.Idle(); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		w.update(func(s *State) { s.Idle = true })
		defer w.update(func(s *State) { s.Idle = false })
	}

	var why string
	for why == "" {
		select {
		case <-w.exists:
			if !paused {
				why = "exists"
			}
		case <-check:
			if w.drained(ctx) {
				why = "drained"
			}
		case <-timer.C:
			why = "timer"
		case <-c.Closed():
			return errClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.log.Debug().Str("reason", why).Msg("wake up")
	if idle != nil {
		if err := idle.Close(); err != nil {
			return fmt.Errorf("stop idle: %w", err)
		}
		if err := idle.Wait(); err != nil {
			return fmt.Errorf("idle: %w", err)
		}
	}
	return nil
}

// drained reports whether the Sink's Backlog is down to half its limit (or cannot be read).
func (w *Watcher) drained(ctx context.Context) bool {
	waiting, limit, err := w.sink.(Backlog).Backlog(ctx)
	return err != nil || waiting <= limit/2
}
