package outbound

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// StatusFilename is the status digest's attachment (docs/contract.md §3).
const StatusFilename = "rma-status.csv"

// StatusHeader is the header row of rma-status.csv; partners' tools rely on it.
var StatusHeader = []string{"rma_number", "own_number", "ean", "serial", "status", "updated_at", "note"}

// DigestEntry is one RMA as a status digest shows it: its state at the digest's time, and the
// status changes since the partner's previous digest.
type DigestEntry struct {
	Record  rma.Record
	Status  rma.Status  // the status at the digest's time
	Since   time.Time   // when the RMA entered Status (its last status change)
	Note    string      // the newest note in its history, up to the digest's time
	Changes []rma.Event // status changes after the previous digest, oldest first
}

// Changed reports whether the RMA's status changed since the previous digest.
func (e DigestEntry) Changed() bool { return len(e.Changes) > 0 }

// DigestEntries picks what a partner's digest for the window (from, to] lists, from its
// candidate records (those open now and those changed after from; duplicates are fine):
//
//   - every RMA whose status changed in the window — also one that has just closed (shipped
//     back, credited, expired), because that is news the partner is waiting for;
//   - every other RMA that is open at to, so the digest is the partner's whole open list.
//
// A status change is a history event whose status differs from the one before it (the
// creation of an RMA is not a change: its reply told the partner). Everything is read as of
// to, from the history: a change made after to belongs to the next digest, and a rerun of the
// same digest lists the same. Changed RMAs come first, oldest change first; then open ones by
// number.
func DigestEntries(recs []rma.Record, from, to time.Time) []DigestEntry {
	seen := map[string]bool{}
	var changed, open []DigestEntry
	for _, r := range recs {
		if seen[r.Number] {
			continue
		}
		seen[r.Number] = true
		e, ok := entryAsOf(r, from, to)
		switch {
		case !ok:
		case e.Changed():
			changed = append(changed, e)
		case e.Status.IsOpen():
			open = append(open, e)
		}
	}
	slices.SortStableFunc(changed, func(a, b DigestEntry) int {
		if c := a.Changes[len(a.Changes)-1].At.Compare(b.Changes[len(b.Changes)-1].At); c != 0 {
			return c
		}
		return compareNumbers(a.Record.Number, b.Record.Number)
	})
	slices.SortStableFunc(open, func(a, b DigestEntry) int { return compareNumbers(a.Record.Number, b.Record.Number) })
	return append(changed, open...)
}

// entryAsOf reads a record as it stood at to; ok is false when it did not exist yet.
func entryAsOf(r rma.Record, from, to time.Time) (DigestEntry, bool) {
	e := DigestEntry{Record: r}
	if len(r.History) == 0 {
		// Records always have their creation event; without one, trust the record's fields.
		if r.UpdatedAt.After(to) {
			return e, false
		}
		e.Status, e.Since = r.Status, r.UpdatedAt
		return e, true
	}
	var prev rma.Status
	n := 0
	for i, ev := range r.History {
		if ev.At.After(to) {
			break
		}
		n++
		if ev.Note != "" {
			e.Note = ev.Note
		}
		if i == 0 || ev.Status != prev {
			e.Since = ev.At
			if i > 0 && ev.At.After(from) {
				e.Changes = append(e.Changes, ev)
			}
		}
		prev = ev.Status
	}
	if n == 0 {
		return e, false
	}
	e.Status = prev
	return e, true
}

// compareNumbers orders RMA numbers by year, then number; unparsable ones as strings, last.
func compareNumbers(a, b string) int {
	na, errA := rma.ParseNumber(a)
	nb, errB := rma.ParseNumber(b)
	switch {
	case errA != nil || errB != nil:
		if (errA == nil) != (errB == nil) {
			if errA == nil {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case na.Year != nb.Year:
		return na.Year - nb.Year
	}
	return na.N - nb.N
}

// Digest is a partner's status digest for the window (from, to] (docs/contract.md §3): one mail in the
// partner's language listing the entries — each with its status code and name, dates and last
// note, the changed ones with what changed — and rma-status.csv. from is zero for the partner's
// first digest. Its Message-ID comes from the partner and to, so a resend after a crash is the
// same mail. It is an error to compose a digest without a change: nothing changed, no mail.
func (c *Composer) Digest(p rma.Partner, entries []DigestEntry, from, to time.Time) (Message, error) {
	nChanged := 0
	for _, e := range entries {
		if e.Changed() {
			nChanged++
		}
	}
	if nChanged == 0 {
		return Message{}, fmt.Errorf("outbound: digest for %s: nothing changed, nothing to send", p.ID)
	}
	to1, err := partnerAddress(p)
	if err != nil {
		return Message{}, err
	}
	l := i18n.For(p.Locale)
	today := c.day(to)
	var b body
	b.line(l.T("greeting"))
	b.blank()
	if from.IsZero() {
		b.line(l.T("digest.intro_first", "today", today))
	} else {
		b.line(l.T("digest.intro", "today", today, "date", c.stamp(from)))
	}
	b.blank()
	b.line(l.T("digest.changed", "n", strconv.Itoa(nChanged)))
	for _, e := range entries {
		if e.Changed() {
			b.blank()
			c.writeDigestEntry(&b, l, e, true)
		}
	}
	if nOpen := len(entries) - nChanged; nOpen > 0 {
		b.blank()
		b.line(l.T("digest.open", "n", strconv.Itoa(nOpen)))
		for _, e := range entries {
			if !e.Changed() {
				b.blank()
				c.writeDigestEntry(&b, l, e, false)
			}
		}
	}
	b.blank()
	b.line(l.T("digest.csv_note", "file", StatusFilename))
	c.footer(&b, l)
	d := draft{
		kind:    "digest",
		seed:    p.ID + "\x00" + to.UTC().Format(time.RFC3339),
		to:      []*mail.Address{to1},
		subject: l.T("digest.subject", "today", today, "n", strconv.Itoa(nChanged)),
		locale:  string(l),
		auto:    autoGenerated,
		body:    b.String(),
		files:   []file{{name: StatusFilename, contentType: "text/csv", data: c.StatusCSV(entries)}},
	}
	return c.build(d, to)
}

func (c *Composer) writeDigestEntry(b *body, l i18n.Lang, e DigestEntry, changes bool) {
	const in = "  "
	writeRecordHead(b, l, e.Record, in)
	b.item(in, l.Pair(l.T("status.label.status"), statusText(l, e.Status)+" ("+l.T("digest.since", "date", c.day(e.Since))+")"))
	if changes {
		for _, ev := range e.Changes {
			b.item(in+"- ", c.eventLine(l, ev))
		}
		return
	}
	if note := oneLine(e.Note); note != "" {
		b.item(in, l.T("digest.note", "text", note))
	}
}

// StatusCSV is rma-status.csv: UTF-8, a header row (StatusHeader), one row per entry, ','
// delimited, cells neutralised like rma-results.csv. status is the code partners' tools know;
// updated_at is the last status change in RFC 3339 with the distributor's UTC offset; note is
// the newest note, on one line.
func (c *Composer) StatusCSV(entries []DigestEntry) []byte {
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		it := e.Record.Decision.Item
		updated := ""
		if !e.Since.IsZero() {
			updated = e.Since.In(c.loc()).Format(time.RFC3339)
		}
		rows = append(rows, []string{e.Record.Number, it.OwnNumber, it.EAN, it.Serial, string(e.Status), updated, oneLine(e.Note)})
	}
	return writeCSV(StatusHeader, rows, ',')
}

// partnerAddress is where mail rmad starts itself goes to a partner: its first registered
// address (the partners file's emails).
func partnerAddress(p rma.Partner) (*mail.Address, error) {
	for _, e := range p.Emails {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		a, err := mail.ParseAddress(e)
		if err != nil {
			return nil, fmt.Errorf("outbound: partner %s: address %q: %w", p.ID, e, err)
		}
		if a.Name == "" {
			a.Name = p.Name
		}
		return a, nil
	}
	return nil, fmt.Errorf("outbound: partner %s has no e-mail address in the partners file: %w", p.ID, ErrNoAddress)
}

// ErrNoAddress is wrapped by errors for a mail that has nobody to go to.
var ErrNoAddress = errors.New("no recipient address")
