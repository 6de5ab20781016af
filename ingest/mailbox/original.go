package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/mailauth"
)

// ErrNoOriginal is returned by Original when the processed folder has no mail with that
// Message-ID (deleted, archived away, or never filed there).
var ErrNoOriginal = errors.New("the mail is not in the processed folder")

// Name is the mailbox's configured name (imap[].name), as rma.Source.Mailbox records it.
func (w *Watcher) Name() string { return w.cfg.Name }

// Original fetches a partner's mail back from this mailbox's processed folder by its
// Message-ID (without angle brackets), for the staff console: rmad keeps no copy, the mail
// server does. It logs in on a connection of its own (the watcher's session is left alone),
// opens the folder read-only and fetches with BODY.PEEK, so nothing changes on the server; at
// most limits.max_message_bytes are read.
func (w *Watcher) Original(ctx context.Context, messageID string) ([]byte, error) {
	return Original(ctx, w.cfg, w.tokens, messageID, w.limits.MaxMessageBytes)
}

// Original is Watcher.Original for a mailbox configuration (tokens: its OAuth tokens, nil for
// a password; a mail over maxBytes is an error).
func Original(ctx context.Context, cfg config.Mailbox, tokens *mailauth.Tokens, messageID string, maxBytes int64) ([]byte, error) {
	messageID = strings.Trim(strings.TrimSpace(messageID), "<>")
	if messageID == "" || strings.ContainsAny(messageID, "\r\n\"\\") {
		return nil, fmt.Errorf("message-id %q: %w", messageID, ErrNoOriginal)
	}
	if maxBytes <= 0 {
		maxBytes = config.DefaultMaxMessageBytes
	}
	c, done, err := session(ctx, cfg, tokens)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := c.Select(cfg.ProcessedMailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("examine %s: %w", cfg.ProcessedMailbox, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<" + messageID + ">"}}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search %s for <%s>: %w", cfg.ProcessedMailbox, messageID, err)
	}
	uids := found.AllUIDs()
	if len(uids) == 0 {
		return nil, fmt.Errorf("<%s> in %s: %w", messageID, cfg.ProcessedMailbox, ErrNoOriginal)
	}
	// The newest copy (a mail filed twice is the same mail).
	fetch := c.Fetch(imap.UIDSetNum(uids[len(uids)-1]), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	defer fetch.Close()
	var raw []byte
	for msg := fetch.Next(); msg != nil; msg = fetch.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if sec, ok := item.(imapclient.FetchItemDataBodySection); ok && sec.Literal != nil && raw == nil {
				raw, err = io.ReadAll(io.LimitReader(sec.Literal, maxBytes+1))
				if err != nil {
					return nil, fmt.Errorf("fetch <%s>: %w", messageID, err)
				}
			}
		}
	}
	if err := fetch.Close(); err != nil {
		return nil, fmt.Errorf("fetch <%s>: %w", messageID, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("<%s> in %s: %w", messageID, cfg.ProcessedMailbox, ErrNoOriginal)
	}
	if int64(len(raw)) > maxBytes {
		return nil, fmt.Errorf("<%s> is larger than %d bytes", messageID, maxBytes)
	}
	_ = c.Logout().Wait()
	return raw, nil
}
