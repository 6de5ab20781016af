package outbound

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// Scheduled rules (SPEC §3 "Reminders"). The names are stable: they are in RMA histories (the
// event's extra "rule"), in Message-IDs and in Redis keys.
const (
	// RuleGoodsReminder: awaiting_goods for more than policy.awaiting_goods_days; the partner is
	// reminded to send the goods, once.
	RuleGoodsReminder = "goods_reminder"
	// RuleGoodsExpired: awaiting_goods for more than twice that; the RMA expires, the partner
	// and staff are told.
	RuleGoodsExpired = "goods_expired"
	// RuleAccessoriesTimeout: awaiting_accessories for more than policy.customer_delay_days; the
	// item is returned unchecked at the partner's cost (returned_unrepaired), partner and staff
	// are told.
	RuleAccessoriesTimeout = "accessories_timeout"
	// RuleUncollected: repaired or replaced in-house items not collected (no status change) for
	// more than policy.uncollected_days; staff are asked to issue the credit note, once.
	RuleUncollected = "uncollected"
)

// ScheduleActor is the actor of the history events scheduled rules write.
const ScheduleActor = "rmad:schedule"

// Extras of a scheduled rule's history event.
const (
	extraRule  = "rule"
	extraDays  = "days"
	extraSince = "since" // when the RMA entered the status the rule is about (RFC 3339)
	extraUntil = "until" // goods_reminder: the day the RMA expires (YYYY-MM-DD)
)

// Reminder is one scheduled rule applying to one RMA.
type Reminder struct {
	Rule   string
	Record rma.Record
	Since  time.Time  // when the RMA entered the status the rule is about
	Days   int        // the policy's days that have passed
	Until  time.Time  // goods_reminder: when the RMA expires if the goods do not come
	To     rma.Status // the status the rule moves the RMA to; "" when it only tells someone
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// Due tells which scheduled rule applies to r at now under pol, if any. Ages count from when r
// entered its status, in whole 24-hour days: "more than 14 days" is more than 14×24 h. Rules
// that only tell (the goods reminder, uncollected items) apply once per RMA: an RMA whose
// history has the rule's event is not due again. Rules that change the status apply once by
// nature, because the status they start from is left.
func Due(r rma.Record, pol config.Policy, now time.Time) (Reminder, bool) {
	since := StatusSince(r)
	age := now.Sub(since)
	rem := Reminder{Record: r, Since: since}
	switch r.Status {
	case rma.StatusAwaitingGoods:
		n := pol.AwaitingGoodsDays
		switch {
		case n <= 0:
		case age > days(2*n):
			rem.Rule, rem.Days, rem.To = RuleGoodsExpired, 2*n, rma.StatusExpired
			return rem, true
		case age > days(n):
			if _, done := RuleEvent(r, RuleGoodsReminder); done {
				return rem, false
			}
			rem.Rule, rem.Days, rem.Until = RuleGoodsReminder, n, since.Add(days(2*n))
			return rem, true
		}
	case rma.StatusAwaitingAccessories:
		if n := pol.CustomerDelayDays; n > 0 && age > days(n) {
			rem.Rule, rem.Days, rem.To = RuleAccessoriesTimeout, n, rma.StatusReturnedUnrepaired
			return rem, true
		}
	case rma.StatusRepaired, rma.StatusReplaced:
		// Only items at the distributor's service wait to be collected; the manufacturer ships
		// forwarded items itself.
		if n := pol.UncollectedDays; n > 0 && age > days(n) && shipsToUs(r.Decision) {
			if _, done := RuleEvent(r, RuleUncollected); done {
				return rem, false
			}
			rem.Rule, rem.Days = RuleUncollected, n
			return rem, true
		}
	}
	return rem, false
}

// StatusSince is when r entered its current status: the first event of the newest run of
// events with that status (events that do not change the status, such as reminders, do not
// reset it).
func StatusSince(r rma.Record) time.Time {
	since := r.UpdatedAt
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Status != r.Status {
			break
		}
		since = r.History[i].At
	}
	return since
}

// RuleEvent finds the history event a scheduled rule wrote for r.
func RuleEvent(r rma.Record, rule string) (rma.Event, bool) {
	for i := len(r.History) - 1; i >= 0; i-- {
		if ev := r.History[i]; ev.Actor == ScheduleActor && ev.Extra[extraRule] == rule {
			return ev, true
		}
	}
	return rma.Event{}, false
}

// Event is the history event that records the rule, at at, with a note in the partner's
// language (partners see notes in digests and STATUS answers; staff read the extras).
func (rem Reminder) Event(locale string, at time.Time) rma.Event {
	st := rem.To
	if st == "" {
		st = rem.Record.Status
	}
	extra := map[string]string{
		extraRule:  rem.Rule,
		extraDays:  strconv.Itoa(rem.Days),
		extraSince: rem.Since.UTC().Format(time.RFC3339),
	}
	if !rem.Until.IsZero() {
		extra[extraUntil] = rem.Until.UTC().Format(time.RFC3339)
	}
	return rma.Event{At: at, Status: st, Actor: ScheduleActor, Note: RuleNote(locale, rem), Extra: extra}
}

// ReminderFromEvent rebuilds a rule's Reminder from the history event it wrote, for telling
// about it later (after a crash, the record may have moved on).
func ReminderFromEvent(r rma.Record, ev rma.Event) Reminder {
	rem := Reminder{Rule: ev.Extra[extraRule], Record: r}
	rem.Days, _ = strconv.Atoi(ev.Extra[extraDays])
	rem.Since, _ = time.Parse(time.RFC3339, ev.Extra[extraSince])
	rem.Until, _ = time.Parse(time.RFC3339, ev.Extra[extraUntil])
	if ev.Status != "" && rem.Rule != RuleGoodsReminder && rem.Rule != RuleUncollected {
		rem.To = ev.Status
	}
	return rem
}

// RuleNote is the history note of a rule, in the partner's language.
func RuleNote(locale string, rem Reminder) string {
	l := i18n.For(locale)
	key := "history." + rem.Rule
	if !l.Has(key) {
		return rem.Rule
	}
	return l.T(key, "days", strconv.Itoa(rem.Days))
}

// TellsPartner reports whether a rule mails the partner; TellsStaff whether it mails
// notify.staff (every escalation: SPEC §3).
func TellsPartner(rule string) bool { return rule != RuleUncollected }

// TellsStaff reports whether a rule is an escalation that staff hear of.
func TellsStaff(rule string) bool { return rule != RuleGoodsReminder }

// PartnerReminder is the partner's mail about a rule: the goods reminder, the expiry, the
// return of an item whose accessories did not come. It is in the partner's language, goes to
// the partner's first registered address, refers to the partner's original request, and keeps
// one Message-ID per rule and RMA.
func (c *Composer) PartnerReminder(p rma.Partner, rem Reminder, now time.Time) (Message, error) {
	if !TellsPartner(rem.Rule) {
		return Message{}, fmt.Errorf("outbound: rule %s does not mail the partner", rem.Rule)
	}
	to, err := partnerAddress(p)
	if err != nil {
		return Message{}, err
	}
	l := i18n.For(p.Locale)
	r := rem.Record
	args := []string{"number", r.Number, "product", productName(r.Decision), "date", c.day(rem.Since),
		"days", strconv.Itoa(rem.Days), "until", c.day(rem.Until), "staff", c.StaffAddr}
	var b body
	b.line(l.T("greeting"))
	b.blank()
	var subject string
	switch rem.Rule {
	case RuleGoodsReminder:
		subject = l.T("reminder.goods.subject", args...)
		b.line(l.T("reminder.goods.body", args...))
		if sc, ok := c.center(p.Country); ok {
			b.blank()
			b.line(l.T("reply.ship.address", "name", sc.Name, "address", sc.Address))
		}
		b.blank()
		b.line(l.T("reminder.goods.sent"))
	case RuleGoodsExpired:
		subject = l.T("reminder.expired.subject", args...)
		b.line(l.T("reminder.expired.body", args...))
		b.blank()
		b.line(l.T("reminder.expired.late", args...))
	case RuleAccessoriesTimeout:
		subject = l.T("reminder.accessories.subject", args...)
		b.line(l.T("reminder.accessories.body", args...))
		if addr := strings.TrimSpace(p.ReturnAddress); addr != "" {
			b.blank()
			b.line(l.T("reminder.accessories.address", "address", addr))
		}
	default:
		return Message{}, fmt.Errorf("outbound: unknown rule %q", rem.Rule)
	}
	b.blank()
	c.footer(&b, l)
	d := draft{
		kind:    "remind",
		seed:    rem.Rule + "\x00" + r.Number,
		to:      []*mail.Address{to},
		subject: subject,
		locale:  string(l),
		auto:    autoGenerated,
		body:    b.String(),
	}
	// Thread it under the partner's request, so their mail client shows the whole story.
	if id := strings.Trim(r.Source.MessageID, "<> "); id != "" {
		d.inReplyTo, d.references = id, []string{id}
	}
	return c.build(d, now)
}

// escalationView is what templates/escalation.tmpl reads.
type escalationView struct {
	Rule, Number, Partner, PartnerID, Country    string
	Product, EAN, Serial, OwnNumber, Handling    string
	Status, Since, Days, PartnerTold, ReturnAddr string
}

// StaffEscalation is the mail to notify.staff about an escalation (expiry, an unchecked
// return, an uncollected item), in English. It reports false when the rule is not an escalation
// or no staff address is configured.
func (c *Composer) StaffEscalation(p rma.Partner, rem Reminder, now time.Time) (Message, bool, error) {
	if !TellsStaff(rem.Rule) || strings.TrimSpace(c.StaffAddr) == "" {
		return Message{}, false, nil
	}
	staff, err := mail.ParseAddressList(c.StaffAddr)
	if err != nil {
		return Message{}, false, fmt.Errorf("outbound: notify.staff %q: %w", c.StaffAddr, err)
	}
	r := rem.Record
	it := r.Decision.Item
	v := escalationView{
		Rule: rem.Rule, Number: r.Number, Partner: p.Name, PartnerID: r.PartnerID, Country: p.Country,
		Product: productName(r.Decision), EAN: it.EAN, Serial: it.Serial, OwnNumber: it.OwnNumber,
		Handling: string(r.Decision.Route.Handling), Status: string(r.Status), Since: c.stamp(rem.Since),
		Days: strconv.Itoa(rem.Days), ReturnAddr: strings.TrimSpace(p.ReturnAddress),
	}
	if v.Partner == "" {
		v.Partner = r.PartnerID
	}
	if TellsPartner(rem.Rule) {
		if a, err := partnerAddress(p); err == nil {
			v.PartnerTold = a.Address
		}
	}
	subject, text, err := render("escalation.tmpl", v)
	if err != nil {
		return Message{}, false, err
	}
	d := draft{
		kind:    "escalation",
		seed:    rem.Rule + "\x00" + r.Number,
		to:      staff,
		subject: subject,
		locale:  i18n.Fallback,
		auto:    autoGenerated,
		body:    text,
	}
	if a, err := partnerAddress(p); err == nil {
		d.replyTo = []*mail.Address{a} // staff can answer the partner straight away
	}
	m, err := c.build(d, now)
	return m, err == nil, err
}
