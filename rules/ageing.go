package rules

import (
	"strconv"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// The ageing policy (docs/contract.md §3 "Reminders"): which scheduled rule applies to an RMA that has stayed
// too long in a status. The functions here only compute; the schedule package applies them and
// outbound composes the mails. The rule names are stable: they are in RMA histories (the event's
// extra "rule"), in Message-IDs and in Redis keys.
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
	// RuleEstimateReminder: a repair estimate unanswered (estimate_sent) for more than
	// policy.estimate_reminder_days; the partner is reminded, once.
	RuleEstimateReminder = "estimate_reminder"
	// RuleEstimateExpired: unanswered for more than twice that; the unit is returned unrepaired
	// (returned_unrepaired), partner and staff are told.
	RuleEstimateExpired = "estimate_expired"
)

// AgeingRules lists the scheduled rules.
var AgeingRules = []string{RuleGoodsReminder, RuleGoodsExpired, RuleAccessoriesTimeout, RuleUncollected,
	RuleEstimateReminder, RuleEstimateExpired}

// AgeingStatuses are the statuses a scheduled rule is about: only RMAs in them can be due.
var AgeingStatuses = []rma.Status{rma.StatusAwaitingGoods, rma.StatusAwaitingAccessories, rma.StatusRepaired, rma.StatusReplaced,
	rma.StatusEstimateSent}

// ScheduleActor is the actor of the history events scheduled rules write.
const ScheduleActor = "rmad:schedule"

// Extras of a scheduled rule's history event.
const (
	extraRule  = "rule"
	extraDays  = "days"
	extraSince = "since" // when the RMA entered the status the rule is about (RFC 3339)
	extraUntil = "until" // goods_reminder: the day the RMA expires (RFC 3339)
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
		return remindThenLeave(rem, pol.AwaitingGoodsDays, age, RuleGoodsReminder, RuleGoodsExpired, rma.StatusExpired)
	case rma.StatusEstimateSent:
		return remindThenLeave(rem, pol.EstimateReminderDays, age, RuleEstimateReminder, RuleEstimateExpired, rma.StatusReturnedUnrepaired)
	case rma.StatusAwaitingAccessories:
		if n := pol.CustomerDelayDays; n > 0 && age > days(n) {
			rem.Rule, rem.Days, rem.To = RuleAccessoriesTimeout, n, rma.StatusReturnedUnrepaired
			return rem, true
		}
	case rma.StatusRepaired, rma.StatusReplaced:
		// Only items at the distributor's service wait to be collected; the manufacturer ships
		// forwarded items itself.
		if n := pol.UncollectedDays; n > 0 && age > days(n) && WaitsForCollection(r.Decision.Route.Handling) {
			if _, done := RuleEvent(r, RuleUncollected); done {
				return rem, false
			}
			rem.Rule, rem.Days = RuleUncollected, n
			return rem, true
		}
	}
	return rem, false
}

// remindThenLeave is the two-step rule of a status that waits for the partner: after more than
// n days the remind rule (once, with the day the RMA leaves the status), after more than 2n
// the leave rule, which moves it to to.
func remindThenLeave(rem Reminder, n int, age time.Duration, remind, leave string, to rma.Status) (Reminder, bool) {
	switch {
	case n <= 0:
	case age > days(2*n):
		rem.Rule, rem.Days, rem.To = leave, 2*n, to
		return rem, true
	case age > days(n):
		if _, done := RuleEvent(rem.Record, remind); done {
			return rem, false
		}
		rem.Rule, rem.Days, rem.Until = remind, n, rem.Since.Add(days(2*n))
		return rem, true
	}
	return rem, false
}

// WaitsForCollection reports whether a repaired or replaced item of this handling waits at the
// distributor's own service to be collected (the manufacturer ships forwarded items itself).
func WaitsForCollection(h rma.Handling) bool {
	return h == rma.HandlingInHouse || h == rma.HandlingVendorTicket
}

// OverdueAfter is how long an RMA may stay in each status before a scheduled rule acts on it
// (the staff console's overdue mark and filter); repaired and replaced RMAs only when
// WaitsForCollection says so for their handling.
func OverdueAfter(pol config.Policy) map[rma.Status]time.Duration {
	out := map[rma.Status]time.Duration{}
	if pol.AwaitingGoodsDays > 0 {
		out[rma.StatusAwaitingGoods] = days(pol.AwaitingGoodsDays)
	}
	if pol.CustomerDelayDays > 0 {
		out[rma.StatusAwaitingAccessories] = days(pol.CustomerDelayDays)
	}
	if pol.EstimateReminderDays > 0 {
		out[rma.StatusEstimateSent] = days(pol.EstimateReminderDays)
	}
	if pol.UncollectedDays > 0 {
		out[rma.StatusRepaired] = days(pol.UncollectedDays)
		out[rma.StatusReplaced] = days(pol.UncollectedDays)
	}
	return out
}

// Overdue reports whether r has been in its status longer than OverdueAfter allows, by the
// scheduled rules' measure (also after a rule that only tells has told).
func Overdue(r rma.Record, pol config.Policy, now time.Time) bool {
	lim, ok := OverdueAfter(pol)[r.Status]
	if !ok || now.Sub(StatusSince(r)) <= lim {
		return false
	}
	if r.Status == rma.StatusRepaired || r.Status == rma.StatusReplaced {
		return WaitsForCollection(r.Decision.Route.Handling)
	}
	return true
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

// Event is the history event that records the rule, at at, with note (in the partner's
// language: partners see notes in digests and STATUS answers; staff read the extras).
func (rem Reminder) Event(note string, at time.Time) rma.Event {
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
	return rma.Event{At: at, Status: st, Actor: ScheduleActor, Note: note, Extra: extra}
}

// ReminderFromEvent rebuilds a rule's Reminder from the history event it wrote, for telling
// about it later (after a crash, the record may have moved on).
func ReminderFromEvent(r rma.Record, ev rma.Event) Reminder {
	rem := Reminder{Rule: ev.Extra[extraRule], Record: r}
	rem.Days, _ = strconv.Atoi(ev.Extra[extraDays])
	rem.Since, _ = time.Parse(time.RFC3339, ev.Extra[extraSince])
	rem.Until, _ = time.Parse(time.RFC3339, ev.Extra[extraUntil])
	if ev.Status != "" && !remindsOnly(rem.Rule) {
		rem.To = ev.Status
	}
	return rem
}

// remindsOnly reports whether a rule only tells, leaving the status as it is.
func remindsOnly(rule string) bool {
	return rule == RuleGoodsReminder || rule == RuleUncollected || rule == RuleEstimateReminder
}

// TellsPartner reports whether a rule mails the partner.
func TellsPartner(rule string) bool { return rule != RuleUncollected }

// TellsStaff reports whether a rule is an escalation that notify.staff hears of (every
// escalation: docs/contract.md §3).
func TellsStaff(rule string) bool { return rule != RuleGoodsReminder && rule != RuleEstimateReminder }
