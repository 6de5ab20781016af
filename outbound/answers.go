package outbound

import (
	"strings"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// WarrantyInfo is the outcome of a WARRANTY command: the partner's latest purchase of the EAN
// and until when it is covered. Reason says why Status is unknown ("ean_invalid",
// "ean_unknown", "no_purchase").
type WarrantyInfo struct {
	EAN, Serial string
	Product     *rma.Product
	Purchase    time.Time // invoice date of the latest purchase; zero when none
	Until       time.Time // last covered day; zero when unknown
	Status      rma.WarrantyStatus
	Reason      string
	// Problem, when set, says exactly what is wrong with the EAN (Reason "ean_invalid").
	Problem *rma.Problem
	// Notes explain why a given serial was not used (not sold to this partner, another product).
	Notes []rma.Note
}

// StatusAnswer answers "STATUS <query>" (docs/contract.md §1.3) with the partner's matching RMAs: status
// code beside its localised name, dates and history; or says plainly that nothing matched.
func (c *Composer) StatusAnswer(sub rma.Submission, p rma.Partner, query string, recs []rma.Record, now time.Time) (Message, error) {
	l := i18n.For(p.Locale, sub.Locale)
	query = oneLine(query)
	var b body
	b.line(l.T("greeting"))
	b.blank()
	if len(recs) == 0 {
		b.line(l.T("status.none", "query", query))
	} else {
		b.line(l.T("status.intro", "query", query))
	}
	for _, r := range recs {
		b.blank()
		c.writeRecord(&b, l, r)
	}
	b.blank()
	c.footer(&b, l)
	return c.answer(sub, p, string(l), "status", b.String(), now)
}

func (c *Composer) writeRecord(b *body, l i18n.Lang, r rma.Record) {
	const in = "  "
	writeRecordHead(b, l, r, in)
	b.item(in, l.Pair(l.T("status.label.status"), statusText(l, r.Status)))
	dates := l.Pair(l.T("status.label.created"), c.day(r.CreatedAt))
	if !r.UpdatedAt.IsZero() {
		dates += " · " + l.Pair(l.T("status.label.updated"), c.day(r.UpdatedAt))
	}
	b.item(in, dates)
	if len(r.History) == 0 {
		return
	}
	b.item(in, l.T("status.label.history"))
	for _, e := range r.History {
		b.item(in+"- ", c.eventLine(l, e))
	}
}

// writeRecordHead writes the lines that name a record in a status answer or a digest: "number —
// product", then the partner's own number, EAN and serial (those the item has), indented by in.
func writeRecordHead(b *body, l i18n.Lang, r rma.Record, in string) {
	title := r.Number
	if pn := productName(r.Decision); pn != "" {
		title += " — " + pn
	}
	b.line(title)
	var ids []string
	for _, f := range []string{"own_number", "ean", "serial"} {
		if v := strings.TrimSpace(r.Decision.Item.Get(f)); v != "" {
			ids = append(ids, l.Pair(l.Field(f), v))
		}
	}
	if len(ids) > 0 {
		b.item(in, strings.Join(ids, " · "))
	}
}

// eventLine is one history event: "time  status — words — note".
func (c *Composer) eventLine(l i18n.Lang, e rma.Event) string {
	line := c.stamp(e.At) + "  " + statusText(l, e.Status)
	if note := oneLine(e.Note); note != "" {
		line += " — " + note
	}
	return line
}

// statusText is "awaiting_goods — Αναμονή παραλαβής": the code partners' tools know, and words.
func statusText(l i18n.Lang, s rma.Status) string {
	return string(s) + " — " + i18n.StatusName(string(l), s)
}

// WarrantyAnswer answers "WARRANTY <ean> [serial]": covered until when (YYYY-MM-DD), from the
// partner's latest purchase, or why it cannot be told.
func (c *Composer) WarrantyAnswer(sub rma.Submission, p rma.Partner, w WarrantyInfo, now time.Time) (Message, error) {
	l := i18n.For(p.Locale, sub.Locale)
	product := "EAN " + w.EAN
	if w.Product != nil {
		if name := strings.TrimSpace(w.Product.Brand + " " + w.Product.Model); name != "" {
			product = name + " (EAN " + w.EAN + ")"
		}
	}
	args := []string{"product", product, "ean", w.EAN, "serial", strings.TrimSpace(w.Serial),
		"until", day(w.Until), "purchase", day(w.Purchase)}
	var b body
	b.line(l.T("greeting"))
	b.blank()
	switch {
	case w.Status == rma.WarrantyIn && !w.Until.IsZero():
		b.line(l.T("warranty.covered", args...))
	case w.Status == rma.WarrantyExpired && !w.Until.IsZero():
		b.line(l.T("warranty.expired", args...))
		if c.Policy.OutOfWarranty == config.OutOfWarrantyReject {
			b.line(l.T("warranty.expired_reject"))
		} else {
			b.line(l.T("warranty.expired_paid"))
		}
	default:
		b.line(l.T("warranty.unknown", args...))
		key := "warranty.reason." + strings.TrimSpace(w.Reason)
		switch {
		case w.Problem != nil:
			b.line(l.Describe(*w.Problem))
		case l.Has(key):
			b.line(l.T(key, args...))
		default:
			b.line(l.T("warranty.reason.other", args...))
		}
	}
	for _, n := range w.Notes {
		b.line(l.T("reply.item.note", "text", l.DescribeNote(n)))
	}
	b.blank()
	c.footer(&b, l)
	return c.answer(sub, p, string(l), "warranty", b.String(), now)
}

// answer wraps a command answer or hint: to the sender, threaded, auto-replied.
func (c *Composer) answer(sub rma.Submission, p rma.Partner, locale, kind, text string, now time.Time) (Message, error) {
	to, err := recipient(sub, p)
	if err != nil {
		return Message{}, err
	}
	return c.build(autoReply(sub, to, kind, locale, replySubject(sub.Subject, nil), text), now)
}

// RegistrationHint answers an unknown sender (docs/contract.md §1.4) with how to register, in all four
// languages since nothing tells which one the sender reads; English first. The once-per-24h
// limit is the caller's.
func (c *Composer) RegistrationHint(sub rma.Submission, now time.Time) (Message, error) {
	to, err := recipient(sub, rma.Partner{})
	if err != nil {
		return Message{}, err
	}
	var b body
	for i, loc := range i18n.Locales {
		l := i18n.Lang(loc)
		if i > 0 {
			b.blank()
			b.line("— " + l.T("language.name") + " —")
		}
		b.line(l.T("greeting"))
		b.blank()
		b.line(l.T("hint.body", "from", to.Address, "staff", c.StaffAddr))
	}
	b.blank()
	c.signature(&b, i18n.Fallback)
	return c.answer(sub, rma.Partner{}, strings.Join(i18n.Locales, ", "), "hint", b.String(), now)
}
