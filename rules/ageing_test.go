package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// agePolicy has config.sample.yaml's deadlines.
var agePolicy = config.Policy{AwaitingGoodsDays: 14, CustomerDelayDays: 10, UncollectedDays: 15, EstimateReminderDays: 7}

var ageOpened = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const ageDay = 24 * time.Hour

// ageRecord is an RMA opened at ageOpened that entered st at entered (st == awaiting_goods:
// entered is ignored, it has been waiting since it was opened).
func ageRecord(st rma.Status, entered time.Time, h rma.Handling) rma.Record {
	d := rma.Decision{Line: 1, Result: rma.ResultAccepted, Route: rma.Route{Handling: h},
		Item: rma.Item{Line: 1, OwnNumber: "ALFA-7", Serial: "RT-7"}}
	r := rma.Record{Number: "RMA/7/SR/2026", PartnerID: "P-GR-001", Decision: d, Status: rma.StatusAwaitingGoods,
		CreatedAt: ageOpened, UpdatedAt: ageOpened,
		History: []rma.Event{{At: ageOpened, Status: rma.StatusAwaitingGoods, Actor: "rmad"}}}
	if st != rma.StatusAwaitingGoods {
		r.History = append(r.History, rma.Event{At: entered.Add(-time.Hour), Status: rma.StatusReceived, Actor: "staff:maria"},
			rma.Event{At: entered, Status: st, Actor: "staff:maria"})
		r.Status, r.UpdatedAt = st, entered
	}
	return r
}

// withRuleEvent adds the event rule would have written a day after r's last event.
func withRuleEvent(r rma.Record, rule string) rma.Record {
	rem := Reminder{Rule: rule, Record: r, Since: StatusSince(r), Days: 14}
	r.History = append(r.History, rem.Event("note", r.History[len(r.History)-1].At.Add(ageDay)))
	return r
}

func TestDue(t *testing.T) {
	entered := ageOpened.Add(5 * ageDay)
	goods := ageRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse)
	reminded := withRuleEvent(goods, RuleGoodsReminder)
	cases := []struct {
		name string
		r    rma.Record
		pol  config.Policy
		at   time.Time
		rule string // "" for nothing due
		to   rma.Status
		days int
	}{
		{"goods, exactly 14 days", goods, agePolicy, ageOpened.Add(14 * ageDay), "", "", 0},
		{"goods, past 14 days", goods, agePolicy, ageOpened.Add(14*ageDay + time.Minute), RuleGoodsReminder, "", 14},
		{"goods, reminded already", reminded, agePolicy, ageOpened.Add(20 * ageDay), "", "", 0},
		{"goods, exactly 28 days", reminded, agePolicy, ageOpened.Add(28 * ageDay), "", "", 0},
		{"goods, past 28 days", reminded, agePolicy, ageOpened.Add(28*ageDay + time.Minute), RuleGoodsExpired, rma.StatusExpired, 28},
		{"goods, past 28 days never reminded", goods, agePolicy, ageOpened.Add(40 * ageDay), RuleGoodsExpired, rma.StatusExpired, 28},
		{"goods, other deadline", goods, config.Policy{AwaitingGoodsDays: 3}, ageOpened.Add(3*ageDay + time.Second), RuleGoodsReminder, "", 3},
		{"goods, no deadline", goods, config.Policy{CustomerDelayDays: 10, UncollectedDays: 15}, ageOpened.Add(400 * ageDay), "", "", 0},
		{"accessories, 10 days", ageRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse), agePolicy, entered.Add(10 * ageDay), "", "", 0},
		{"accessories, past 10 days", ageRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse), agePolicy, entered.Add(10*ageDay + time.Second), RuleAccessoriesTimeout, rma.StatusReturnedUnrepaired, 10},
		{"accessories, forwarded item too", ageRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingForward), agePolicy, entered.Add(11 * ageDay), RuleAccessoriesTimeout, rma.StatusReturnedUnrepaired, 10},
		{"repaired, 15 days", ageRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), agePolicy, entered.Add(15 * ageDay), "", "", 0},
		{"repaired, past 15 days", ageRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), agePolicy, entered.Add(16 * ageDay), RuleUncollected, "", 15},
		{"replaced, vendor_ticket, past 15 days", ageRecord(rma.StatusReplaced, entered, rma.HandlingVendorTicket), agePolicy, entered.Add(16 * ageDay), RuleUncollected, "", 15},
		{"repaired by the manufacturer", ageRecord(rma.StatusRepaired, entered, rma.HandlingForward), agePolicy, entered.Add(60 * ageDay), "", "", 0},
		{"repaired, staff told already", withRuleEvent(ageRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), RuleUncollected), agePolicy, entered.Add(60 * ageDay), "", "", 0},
		{"estimate, 7 days", ageRecord(rma.StatusEstimateSent, entered, rma.HandlingInHouse), agePolicy, entered.Add(7 * ageDay), "", "", 0},
		{"estimate, past 7 days", ageRecord(rma.StatusEstimateSent, entered, rma.HandlingInHouse), agePolicy, entered.Add(7*ageDay + time.Second), RuleEstimateReminder, "", 7},
		{"estimate, reminded already", withRuleEvent(ageRecord(rma.StatusEstimateSent, entered, rma.HandlingInHouse), RuleEstimateReminder), agePolicy, entered.Add(10 * ageDay), "", "", 0},
		{"estimate, past 14 days", withRuleEvent(ageRecord(rma.StatusEstimateSent, entered, rma.HandlingInHouse), RuleEstimateReminder), agePolicy, entered.Add(14*ageDay + time.Second), RuleEstimateExpired, rma.StatusReturnedUnrepaired, 14},
		{"diagnosing for long", ageRecord(rma.StatusDiagnosing, entered, rma.HandlingInHouse), agePolicy, entered.Add(90 * ageDay), "", "", 0},
		{"closed", ageRecord(rma.StatusClosed, entered, rma.HandlingInHouse), agePolicy, entered.Add(90 * ageDay), "", "", 0},
		{"zero policy", goods, config.Policy{}, ageOpened.Add(400 * ageDay), "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rem, ok := Due(c.r, c.pol, c.at)
			if c.rule == "" {
				if ok {
					t.Fatalf("due %s, want nothing", rem.Rule)
				}
				return
			}
			if !ok || rem.Rule != c.rule || rem.To != c.to || rem.Days != c.days {
				t.Fatalf("due %v: %s → %q after %d days; want %s → %q after %d", ok, rem.Rule, rem.To, rem.Days, c.rule, c.to, c.days)
			}
			if rem.Record.Number != c.r.Number || !rem.Since.Equal(StatusSince(c.r)) {
				t.Fatalf("reminder about %s since %v", rem.Record.Number, rem.Since)
			}
			if rem.Rule == RuleGoodsReminder || rem.Rule == RuleEstimateReminder {
				if want := rem.Since.Add(time.Duration(2*c.days) * ageDay); !rem.Until.Equal(want) {
					t.Fatalf("expiry date %v, want %v", rem.Until, want)
				}
			} else if !rem.Until.IsZero() {
				t.Fatalf("%s has an expiry date %v", rem.Rule, rem.Until)
			}
		})
	}
}

func TestStatusSince(t *testing.T) {
	entered := ageOpened.Add(5 * ageDay)
	back := ageRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse)
	// Back to a status it had before: the age counts from the latest entry, not the first.
	back.History = append(back.History, rma.Event{At: entered.Add(ageDay), Status: rma.StatusDiagnosing},
		rma.Event{At: entered.Add(2 * ageDay), Status: rma.StatusAwaitingAccessories})
	cases := []struct {
		name string
		r    rma.Record
		want time.Time
	}{
		{"never moved", ageRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse), ageOpened},
		{"moved on", ageRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), entered},
		{"a rule's event does not reset it", withRuleEvent(ageRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse), RuleGoodsReminder), ageOpened},
		{"note events do not reset it", withRuleEvent(ageRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), RuleUncollected), entered},
		{"entered again", back, entered.Add(2 * ageDay)},
		{"no history", rma.Record{Status: rma.StatusReceived, UpdatedAt: entered}, entered},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StatusSince(c.r); !got.Equal(c.want) {
				t.Fatalf("since %v, want %v", got, c.want)
			}
		})
	}
}

// A rule's event keeps everything needed to tell about it later: ReminderFromEvent gives back
// the Reminder that wrote it, for every rule.
func TestRuleEventRoundTrip(t *testing.T) {
	entered := ageOpened.Add(5 * ageDay)
	cases := []Reminder{
		{Rule: RuleGoodsReminder, Record: ageRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse), Since: ageOpened, Days: 14, Until: ageOpened.Add(28 * ageDay)},
		{Rule: RuleGoodsExpired, Record: ageRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse), Since: ageOpened, Days: 28, To: rma.StatusExpired},
		{Rule: RuleAccessoriesTimeout, Record: ageRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse), Since: entered, Days: 10, To: rma.StatusReturnedUnrepaired},
		{Rule: RuleUncollected, Record: ageRecord(rma.StatusReplaced, entered, rma.HandlingInHouse), Since: entered, Days: 15},
	}
	for _, rem := range cases {
		t.Run(rem.Rule, func(t *testing.T) {
			at := rem.Since.Add(40 * ageDay)
			ev := rem.Event("the note", at)
			wantStatus := rem.To
			if wantStatus == "" {
				wantStatus = rem.Record.Status
			}
			if ev.Actor != ScheduleActor || ev.Status != wantStatus || ev.Note != "the note" || !ev.At.Equal(at) {
				t.Fatalf("event %+v", ev)
			}
			r := rem.Record
			r.History = append(r.History, ev)
			if _, ok := RuleEvent(rem.Record, rem.Rule); ok {
				t.Fatal("rule event found before it was written")
			}
			got, ok := RuleEvent(r, rem.Rule)
			if !ok || got.Extra["rule"] != rem.Rule {
				t.Fatalf("rule event %+v %v", got, ok)
			}
			back := ReminderFromEvent(r, got)
			if back.Rule != rem.Rule || back.Days != rem.Days || !back.Since.Equal(rem.Since) || !back.Until.Equal(rem.Until) || back.To != rem.To {
				t.Fatalf("rebuilt %+v\nwant    %+v", back, rem)
			}
		})
	}
}

func TestWhoIsTold(t *testing.T) {
	var got []string
	for _, rule := range AgeingRules {
		got = append(got, fmt.Sprintf("%s partner=%v staff=%v", rule, TellsPartner(rule), TellsStaff(rule)))
	}
	want := "[goods_reminder partner=true staff=false goods_expired partner=true staff=true " +
		"accessories_timeout partner=true staff=true uncollected partner=false staff=true " +
		"estimate_reminder partner=true staff=false estimate_expired partner=true staff=true]"
	if fmt.Sprint(got) != want {
		t.Fatalf("%v\nwant %s", got, want)
	}
}
