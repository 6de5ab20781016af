package mailbox

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rmad/rmad/ingest"
)

// deliverError is a failure on the Sink or Cursor side: the IMAP connection is fine, the mails
// concerned stay in the mailbox and the next sync offers them again.
type deliverError struct{ err error }

func (e *deliverError) Error() string { return e.err.Error() }
func (e *deliverError) Unwrap() error { return e.err }

// msgInfo is one mail found by a sync.
type msgInfo struct {
	uid  imap.UID
	size int64
}

// batch is a run of mails fetched with one UID FETCH: either whole mails or, for mails over the
// size limit, only their headers.
type batch struct {
	msgs     []msgInfo
	tooLarge bool
	retry    bool // mails that failed in an earlier sync: fetched after the others
}

// sync delivers and moves every undeleted mail in the selected mailbox. All of them, not only
// those past the cursor: a mail delivered just before a crash (not yet moved) must be seen again.
// \Deleted mails are skipped: someone deleted them, or our COPY fallback did after copying.
// With a Sink's Backlog it delivers at most as many as the Backlog has room for; more reports
// that mails were left in the mailbox for that reason (the caller waits for the queue to drain).
func (w *Watcher) sync(ctx context.Context, c *imapclient.Client, uidValidity uint32) (more bool, err error) {
	name := w.cfg.Name
	start := time.Now()
	room := w.room(ctx)
	if room == 0 {
		return true, nil
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("imap %s: search %s: %w", name, w.cfg.Mailbox, err)
	}
	uids := found.AllUIDs()
	if room > 0 && len(uids) > room+len(w.failed) {
		// Only the oldest ones can be delivered now: asking the sizes of a 20,000-mail backlog
		// at each step would cost more than the step.
		slices.Sort(uids)
		uids, more = uids[:room+len(w.failed)], true
	}
	var msgs []msgInfo
	if len(uids) > 0 {
		// RFC822.SIZE first, so that a mail over the limit is never downloaded.
		sizes, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		if err != nil {
			return false, fmt.Errorf("imap %s: fetch sizes in %s: %w", name, w.cfg.Mailbox, err)
		}
		for _, m := range sizes {
			if m.UID != 0 { // a mail expunged meanwhile may answer without UID; skip it
				msgs = append(msgs, msgInfo{uid: m.UID, size: m.RFC822Size})
			}
		}
		slices.SortFunc(msgs, func(a, b msgInfo) int { return cmp.Compare(a.uid, b.uid) })
	}
	w.log.Debug().Int("found", len(msgs)).Msg("searched")

	// Mails that began a run of failures before go last, the most often failed last of all: one
	// mail that cannot be stored must not hold up those behind it (the sync stops after a few
	// failures in a row), and it is still tried again at each sync.
	if len(w.failed) > 0 {
		present := make(map[imap.UID]bool, len(msgs))
		for _, m := range msgs {
			present[m.uid] = true
		}
		for uid := range w.failed {
			if !present[uid] || w.failedValidity != uidValidity {
				delete(w.failed, uid) // moved or deleted meanwhile, or the UIDs start over
			}
		}
		slices.SortStableFunc(msgs, func(a, b msgInfo) int {
			return cmp.Compare(w.failed[a.uid], w.failed[b.uid]) // 0 for fresh mails
		})
	}
	w.failedValidity = uidValidity

	var stats syncStats
	var firstErr error
	for _, b := range w.plan(msgs) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if room >= 0 { // the Backlog's room is spent over the batches
			if room == 0 {
				more = true
				break
			}
			if len(b.msgs) > room {
				b.msgs, more = b.msgs[:room], true
			}
			room -= len(b.msgs)
		}
		bs, err := w.processBatch(ctx, c, uidValidity, b)
		stats.add(bs)
		if err != nil {
			if _, ok := err.(*deliverError); !ok {
				return false, err
			}
			if firstErr == nil {
				firstErr = err
			}
			if bs.stopped {
				break // the Sink is failing every mail: retry the rest later
			}
		}
	}

	now := time.Now()
	w.update(func(s *State) {
		s.Delivered += uint64(stats.delivered)
		if firstErr == nil {
			s.LastSync = now
		}
	})
	ev := w.log.Debug()
	if stats.delivered > 0 || stats.failed > 0 {
		ev = w.log.Info()
	}
	ev.Int("found", len(msgs)).Int("delivered", stats.delivered).Int("rejected", stats.rejected).
		Int("too_large", stats.tooLarge).Int("failed", stats.failed).Bool("more", more).
		Dur("took", now.Sub(start)).Msg("sync")
	if firstErr == nil && w.afterSync != nil {
		w.afterSync()
	}
	return more, firstErr
}

// room is how many mails the Sink's Backlog takes now: -1 without a Backlog (or when it cannot
// be read), 0 at its limit.
func (w *Watcher) room(ctx context.Context) int {
	bl, ok := w.sink.(Backlog)
	if !ok {
		return -1
	}
	waiting, limit, err := bl.Backlog(ctx)
	if err != nil || limit <= 0 {
		if err != nil {
			w.log.Warn().Err(err).Msg("cannot read the backlog; fetching anyway")
		}
		return -1
	}
	return int(max(limit-waiting, 0))
}

// plan cuts the mails into fetch batches bounded by bytes and count, in UID order, so that a
// backlog is fetched in a few pipelined commands without holding it all in memory.
func (w *Watcher) plan(msgs []msgInfo) []batch {
	var out []batch
	var cur batch
	var bytes int64
	flush := func() {
		if len(cur.msgs) > 0 {
			out = append(out, cur)
		}
		cur, bytes = batch{}, 0
	}
	for _, m := range msgs {
		large := m.size > w.limits.MaxMessageBytes
		retry := w.failed[m.uid] > 0
		if len(cur.msgs) > 0 && (large != cur.tooLarge || retry != cur.retry || len(cur.msgs) >= w.batchCount ||
			(!large && bytes+m.size > w.batchBytes)) {
			flush()
		}
		cur.tooLarge, cur.retry = large, retry
		cur.msgs = append(cur.msgs, m)
		if !large {
			bytes += m.size
		}
	}
	flush()
	return out
}

type syncStats struct {
	delivered, rejected, tooLarge, failed int
	stopped                               bool
}

func (s *syncStats) add(o syncStats) {
	s.delivered += o.delivered
	s.rejected += o.rejected
	s.tooLarge += o.tooLarge
	s.failed += o.failed
}

// processBatch fetches one batch, delivers each mail, sets the cursor, then moves the delivered
// mails. IMAP errors are returned as they are (the connection is suspect); Sink and Cursor errors
// as *deliverError.
func (w *Watcher) processBatch(ctx context.Context, c *imapclient.Client, uidValidity uint32, b batch) (syncStats, error) {
	name := w.cfg.Name
	var stats syncStats
	sizes := make(map[imap.UID]int64, len(b.msgs))
	var set imap.UIDSet
	for _, m := range b.msgs {
		sizes[m.uid] = m.size
		set.AddNum(m.uid)
	}
	section := &imap.FetchItemBodySection{Peek: true} // BODY.PEEK[]: the raw mail, \Seen untouched
	if b.tooLarge {
		section.Specifier = imap.PartSpecifierHeader
	}
	fetch := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer fetch.Close() // always drained, or the client stalls

	var processed, rejected imap.UIDSet
	var maxUID imap.UID
	var firstErr error
	failsInRow := 0
	for {
		msg := fetch.Next()
		if msg == nil {
			break
		}
		m, ok, err := w.readMessage(msg, b.tooLarge, sizes)
		if err != nil {
			return stats, fmt.Errorf("imap %s: fetch from %s: %w", name, w.cfg.Mailbox, err)
		}
		if !ok {
			continue // no body: expunged meanwhile, or not asked for
		}
		m.UIDValidity = uidValidity
		disp, err := w.sink.Deliver(ctx, m)
		if err != nil {
			stats.failed++
			failsInRow++
			if failsInRow == 1 {
				// It began a run of failures; those right behind it may only have failed with
				// it (a store out of memory after a big mail), so only it goes last next time.
				w.failed[imap.UID(m.UID)]++
			}
			if firstErr == nil {
				firstErr = &deliverError{fmt.Errorf("imap %s: deliver uid %d: %w", name, m.UID, err)}
			}
			w.log.Warn().Err(err).Uint32("uid", m.UID).Msg("sink refused the mail; it stays in the mailbox")
			if failsInRow >= consecutiveFailuresStop || ctx.Err() != nil {
				stats.stopped = true
				break
			}
			continue
		}
		failsInRow = 0
		delete(w.failed, imap.UID(m.UID))
		if m.TooLarge {
			disp = Rejected
			stats.tooLarge++
		}
		stats.delivered++
		uid := imap.UID(m.UID)
		maxUID = max(maxUID, uid)
		if disp == Rejected {
			stats.rejected++
			rejected.AddNum(uid)
		} else {
			processed.AddNum(uid)
		}
		w.log.Debug().Uint32("uid", m.UID).Int64("size", m.Size).Bool("too_large", m.TooLarge).
			Str("disposition", disp.String()).Msg("delivered")
	}
	if err := fetch.Close(); err != nil {
		return stats, fmt.Errorf("imap %s: fetch from %s: %w", name, w.cfg.Mailbox, err)
	}
	if maxUID == 0 {
		return stats, firstErr
	}

	// Replicated before MOVE: a failover to a replica that lacks them must not lose mails that
	// are no longer in the mailbox.
	if cf, ok := w.sink.(Confirmer); ok {
		if err := cf.Confirm(ctx); err != nil {
			return stats, &deliverError{fmt.Errorf("imap %s: delivered mails not confirmed by the replicas: %w", name, err)}
		}
	}
	// Cursor before MOVE: if it cannot be written, nothing moves and the mails come again.
	if err := w.advanceCursor(ctx, uidValidity, uint32(maxUID)); err != nil {
		return stats, &deliverError{fmt.Errorf("imap %s: set cursor: %w", name, err)}
	}
	if err := w.move(c, processed, w.cfg.ProcessedMailbox); err != nil {
		return stats, err
	}
	if err := w.move(c, rejected, w.cfg.RejectedMailbox); err != nil {
		return stats, err
	}
	return stats, firstErr
}

// readMessage turns one FETCH response into a Mail. ok is false when the body is missing.
func (w *Watcher) readMessage(msg *imapclient.FetchMessageData, headerOnly bool, sizes map[imap.UID]int64) (m Mail, ok bool, err error) {
	m.Mailbox = w.cfg.Name
	var body []byte
	var haveBody bool
	for {
		item := msg.Next()
		if item == nil {
			break
		}
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.UID = uint32(it.UID)
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			limit := w.limits.MaxMessageBytes
			if headerOnly {
				limit = maxHeaderBytes
			}
			// Read at most one byte past the limit: a server that understated RFC822.SIZE must
			// not make us hold an oversized mail in memory (the rest is discarded by msg.Next).
			body, err = readLiteral(it.Literal, limit+1)
			if err != nil {
				return m, false, err
			}
			haveBody = true
		}
	}
	if !haveBody || m.UID == 0 {
		return m, false, nil
	}
	size, known := sizes[imap.UID(m.UID)]
	if !known {
		return m, false, nil // a FETCH answer for a UID we did not ask for
	}
	m.Size = size
	switch {
	case headerOnly:
		m.TooLarge = true
		m.Header = headerOf(body)
	case int64(len(body)) > w.limits.MaxMessageBytes:
		m.TooLarge = true
		m.Header = headerOf(body)
		m.Size = max(m.Size, int64(len(body)))
		w.log.Warn().Uint32("uid", m.UID).Int64("reported_size", size).
			Msg("mail is larger than the server said; treated as too large")
	default:
		m.Raw = body
		m.Header = headerOf(body)
	}
	return m, true, nil
}

// readLiteral reads at most max bytes of a literal into one buffer of the literal's announced
// size (IMAP sends it before the bytes): io.ReadAll would grow its buffer by doubling, leaving
// about as much garbage again as a 25 MB mail's size.
func readLiteral(lit imap.LiteralReader, max int64) ([]byte, error) {
	n := lit.Size()
	if n < 0 || n > max {
		n = max
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(lit, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil // shorter than announced: what came is the mail
	}
	return buf[:got], err
}

// headerOf returns the header block of a raw mail, through the blank line that ends it, read as
// leniently as the parser reads it (blank lines, a BOM or an mbox "From " line above the header do
// not end it), so the header classification files such a mail as the whole mail would be.
func headerOf(raw []byte) []byte { return ingest.HeaderBlock(raw) }

func (w *Watcher) advanceCursor(ctx context.Context, uidValidity, uid uint32) error {
	w.mu.Lock()
	last, uv := w.state.LastUID, w.state.UIDValidity
	w.mu.Unlock()
	if uv == uidValidity && uid <= last {
		return nil // a redelivery of an older mail: the cursor already covers it
	}
	if err := w.cur.SetCursor(ctx, w.cfg.Name, uidValidity, uid); err != nil {
		return err
	}
	w.update(func(s *State) { s.UIDValidity, s.LastUID = uidValidity, uid })
	return nil
}

// move moves uids to dest with UID MOVE, or UID COPY + UID STORE \Deleted + UID EXPUNGE when the
// server has UIDPLUS but not MOVE (imapclient does that fallback; the strategy check keeps it
// from ever using a plain EXPUNGE).
func (w *Watcher) move(c *imapclient.Client, uids imap.UIDSet, dest string) error {
	if len(uids) == 0 {
		return nil
	}
	caps := c.Caps()
	if caps == nil { // the connection is gone, not a server without MOVE
		return fmt.Errorf("imap %s: move to %s: %w", w.cfg.Name, dest, errClosed)
	}
	if _, err := moveStrategy(caps); err != nil {
		return fmt.Errorf("imap %s: move to %s: %w", w.cfg.Name, dest, err)
	}
	if _, err := c.Move(uids, dest).Wait(); err != nil {
		return fmt.Errorf("imap %s: move %s to %s: %w", w.cfg.Name, uids, dest, err)
	}
	return nil
}
