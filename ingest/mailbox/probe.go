package mailbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/mailauth"
)

// ProbeResult is what Probe found on a mailbox's server.
type ProbeResult struct {
	IDLE, MOVE, UIDPLUS bool
	Folders             []FolderState // mailbox, processed_mailbox, rejected_mailbox
}

// FolderState is one configured folder as Probe found it.
type FolderState struct {
	Key     string // the config key: mailbox, processed_mailbox or rejected_mailbox
	Name    string
	Created bool  // it did not exist and Probe made it (as rmad run would)
	Err     error // it does not exist and cannot be made
}

// session connects and logs in as the watcher would, on a connection of its own for one task
// (Probe, Original); done closes it, and so does ctx ending.
func session(ctx context.Context, cfg config.Mailbox, tokens *mailauth.Tokens) (c *imapclient.Client, done func(), err error) {
	w := &Watcher{cfg: cfg, tokens: tokens, log: zerolog.Nop(), exists: make(chan struct{}, 1)}
	if cfg.TLS == config.TLSNone && !isLoopback(cfg.Address) {
		return nil, nil, fmt.Errorf("%s: %w", cfg.Address, ErrPlaintext)
	}
	if c, err = w.dial(); err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", cfg.Address, err)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done = func() { stop(); c.Close() }
	if err := c.WaitGreeting(); err != nil {
		done()
		return nil, nil, fmt.Errorf("greeting from %s: %w", cfg.Address, err)
	}
	if err := w.login(ctx, c); err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

// Probe connects and logs in as the watcher would (tokens: the mailbox's OAuth tokens, nil for
// a password), reads the capabilities, and checks that the folders exist, making the processed
// and rejected folders when they are missing. It reads and moves no mail: `rmad doctor`.
func Probe(ctx context.Context, cfg config.Mailbox, tokens *mailauth.Tokens) (ProbeResult, error) {
	var res ProbeResult
	c, done, err := session(ctx, cfg, tokens)
	if err != nil {
		return res, err
	}
	defer done()
	caps := c.Caps()
	res.IDLE, res.MOVE, res.UIDPLUS = caps.Has(imap.CapIdle), caps.Has(imap.CapMove), caps.Has(imap.CapUIDPlus)
	for _, f := range []FolderState{{Key: "mailbox", Name: cfg.Mailbox}, {Key: "processed_mailbox", Name: cfg.ProcessedMailbox},
		{Key: "rejected_mailbox", Name: cfg.RejectedMailbox}} {
		if _, err := c.Status(f.Name, &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) {
				return res, fmt.Errorf("status %s: %w", f.Name, err)
			}
			if f.Key == "mailbox" {
				f.Err = err // rmad reads it; it never makes it
			} else if f.Err = ensureMailbox(c, f.Name); f.Err == nil {
				f.Created = true
			}
		}
		res.Folders = append(res.Folders, f)
	}
	_ = c.Logout().Wait()
	return res, nil
}
