package outbound

import (
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// samplePolicy has config.sample.yaml's deadlines.
var samplePolicy = config.Policy{AwaitingGoodsDays: 14, CustomerDelayDays: 10, UncollectedDays: 15}

var remOpened = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// remRecord is an RMA opened at remOpened that entered st at entered (st == awaiting_goods:
// entered is ignored, it has been waiting since it was opened).
func remRecord(st rma.Status, entered time.Time, h rma.Handling) rma.Record {
	d := inHouse(1, "RMA/7/SR/2026", archer, rma.Item{OwnNumber: "ALFA-7", Serial: "RT-7"})
	d.Route.Handling = h
	r := rma.Record{Number: "RMA/7/SR/2026", PartnerID: "P-GR-001", Decision: d, Status: rma.StatusAwaitingGoods,
		CreatedAt: remOpened, UpdatedAt: remOpened,
		Source:  rma.Source{Channel: "mail", MessageID: "req-7@alfa-computers.gr"},
		History: []rma.Event{{At: remOpened, Status: rma.StatusAwaitingGoods, Actor: "rmad"}}}
	if st != rma.StatusAwaitingGoods {
		r.History = append(r.History, rma.Event{At: entered.Add(-time.Hour), Status: rma.StatusReceived, Actor: "staff:maria"},
			rma.Event{At: entered, Status: st, Actor: "staff:maria"})
		r.Status, r.UpdatedAt = st, entered
	}
	return r
}

func TestDueRules(t *testing.T) {
	day := 24 * time.Hour
	entered := remOpened.Add(5 * day)
	withEvent := func(r rma.Record, rule string) rma.Record {
		rem := Reminder{Rule: rule, Record: r, Since: StatusSince(r), Days: 14}
		r.History = append(r.History, rem.Event("el", r.History[len(r.History)-1].At.Add(day)))
		return r
	}
	goods := remRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse)
	cases := []struct {
		name string
		r    rma.Record
		at   time.Time
		rule string // "" for nothing due
		to   rma.Status
		days int
	}{
		{"goods, exactly 14 days", goods, remOpened.Add(14 * day), "", "", 0},
		{"goods, past 14 days", goods, remOpened.Add(14*day + time.Minute), RuleGoodsReminder, "", 14},
		{"goods, reminded already", withEvent(goods, RuleGoodsReminder), remOpened.Add(20 * day), "", "", 0},
		{"goods, exactly 28 days", withEvent(goods, RuleGoodsReminder), remOpened.Add(28 * day), "", "", 0},
		{"goods, past 28 days", withEvent(goods, RuleGoodsReminder), remOpened.Add(28*day + time.Minute), RuleGoodsExpired, rma.StatusExpired, 28},
		{"goods, past 28 days never reminded", goods, remOpened.Add(40 * day), RuleGoodsExpired, rma.StatusExpired, 28},
		{"accessories, 10 days", remRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse), entered.Add(10 * day), "", "", 0},
		{"accessories, past 10 days", remRecord(rma.StatusAwaitingAccessories, entered, rma.HandlingInHouse), entered.Add(10*day + time.Second), RuleAccessoriesTimeout, rma.StatusReturnedUnrepaired, 10},
		{"repaired, 15 days", remRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), entered.Add(15 * day), "", "", 0},
		{"repaired, past 15 days", remRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), entered.Add(16 * day), RuleUncollected, "", 15},
		{"replaced, vendor_ticket, past 15 days", remRecord(rma.StatusReplaced, entered, rma.HandlingVendorTicket), entered.Add(16 * day), RuleUncollected, "", 15},
		{"repaired by the manufacturer", remRecord(rma.StatusRepaired, entered, rma.HandlingForward), entered.Add(60 * day), "", "", 0},
		{"repaired, staff told already", withEvent(remRecord(rma.StatusRepaired, entered, rma.HandlingInHouse), RuleUncollected), entered.Add(60 * day), "", "", 0},
		{"diagnosing for long", remRecord(rma.StatusDiagnosing, entered, rma.HandlingInHouse), entered.Add(90 * day), "", "", 0},
		{"closed", remRecord(rma.StatusClosed, entered, rma.HandlingInHouse), entered.Add(90 * day), "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rem, ok := Due(c.r, samplePolicy, c.at)
			if c.rule == "" {
				if ok {
					t.Fatalf("due %s, want nothing", rem.Rule)
				}
				return
			}
			if !ok || rem.Rule != c.rule || rem.To != c.to || rem.Days != c.days {
				t.Fatalf("due %v: %s → %q after %d days; want %s → %q after %d", ok, rem.Rule, rem.To, rem.Days, c.rule, c.to, c.days)
			}
			if rem.Rule == RuleGoodsReminder && !rem.Until.Equal(remOpened.Add(28*day)) {
				t.Fatalf("expiry date %v", rem.Until)
			}
		})
	}
	if _, ok := Due(goods, config.Policy{}, remOpened.Add(400*day)); ok {
		t.Fatal("a zero policy applied a rule")
	}
}

func TestStatusSinceIgnoresEventsWithoutChange(t *testing.T) {
	r := remRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse)
	rem := Reminder{Rule: RuleGoodsReminder, Record: r, Since: remOpened, Days: 14, Until: remOpened.Add(28 * 24 * time.Hour)}
	r.History = append(r.History, rem.Event("fr", remOpened.Add(15*24*time.Hour)))
	if got := StatusSince(r); !got.Equal(remOpened) {
		t.Fatalf("since %v, want %v", got, remOpened)
	}
	ev, ok := RuleEvent(r, RuleGoodsReminder)
	if !ok || ev.Actor != ScheduleActor || ev.Status != rma.StatusAwaitingGoods {
		t.Fatalf("rule event %+v %v", ev, ok)
	}
	if !strings.Contains(ev.Note, "14") || !strings.Contains(ev.Note, "Rappel") {
		t.Fatalf("note %q is not the French history note", ev.Note)
	}
	back := ReminderFromEvent(r, ev)
	if back.Rule != RuleGoodsReminder || back.Days != 14 || !back.Since.Equal(remOpened) || !back.Until.Equal(rem.Until) || back.To != "" {
		t.Fatalf("rebuilt %+v", back)
	}
	exp := Reminder{Rule: RuleGoodsExpired, Record: r, Since: remOpened, Days: 28, To: rma.StatusExpired}
	if back := ReminderFromEvent(r, exp.Event("en", remOpened.Add(29*24*time.Hour))); back.To != rma.StatusExpired || back.Days != 28 {
		t.Fatalf("rebuilt expiry %+v", back)
	}
}

func TestRuleNotes(t *testing.T) {
	for _, loc := range i18n.Locales {
		seen := map[string]bool{}
		for _, rule := range []string{RuleGoodsReminder, RuleGoodsExpired, RuleAccessoriesTimeout, RuleUncollected} {
			n := RuleNote(loc, Reminder{Rule: rule, Days: 10})
			if n == rule || !strings.Contains(n, "10") || seen[n] {
				t.Errorf("%s %s: note %q", loc, rule, n)
			}
			seen[n] = true
		}
	}
}

func TestPartnerReminders(t *testing.T) {
	c := testComposer()
	day := 24 * time.Hour
	goods := remRecord(rma.StatusAwaitingGoods, time.Time{}, rma.HandlingInHouse)
	acc := remRecord(rma.StatusAwaitingAccessories, remOpened.Add(5*day), rma.HandlingInHouse)
	rems := map[string]Reminder{
		RuleGoodsReminder:      {Rule: RuleGoodsReminder, Record: goods, Since: remOpened, Days: 14, Until: remOpened.Add(28 * day)},
		RuleGoodsExpired:       {Rule: RuleGoodsExpired, Record: goods, Since: remOpened, Days: 28, To: rma.StatusExpired},
		RuleAccessoriesTimeout: {Rule: RuleAccessoriesTimeout, Record: acc, Since: remOpened.Add(5 * day), Days: 10, To: rma.StatusReturnedUnrepaired},
	}
	// Per locale and rule, words the partner must read (beside the number and the dates).
	words := map[string]map[string][]string{
		"en": {RuleGoodsReminder: {"Reminder", "2026-03-30", "Example Street 1"}, RuleGoodsExpired: {"has expired", "28 days"}, RuleAccessoriesTimeout: {"unchecked", "10 days", "at your cost"}},
		"el": {RuleGoodsReminder: {"Υπενθύμιση", "2026-03-30", "Example Street 1"}, RuleGoodsExpired: {"έληξε", "28 ημέρες"}, RuleAccessoriesTimeout: {"χωρίς έλεγχο", "10 ημέρες"}},
		"ro": {RuleGoodsReminder: {"Reamintire", "2026-03-30", "Example Street 3"}, RuleGoodsExpired: {"a expirat", "28 zile"}, RuleAccessoriesTimeout: {"neverificat", "10 zile"}},
		"fr": {RuleGoodsReminder: {"Rappel", "2026-03-30", "Example Street 1"}, RuleGoodsExpired: {"a expiré", "28 jours"}, RuleAccessoriesTimeout: {"sans contrôle", "10 jours", "à votre charge"}},
	}
	at := remOpened.Add(30 * day)
	for _, loc := range i18n.Locales {
		for rule, rem := range rems {
			t.Run(loc+"/"+rule, func(t *testing.T) {
				p := partners[loc]
				p.ReturnAddress = "Return Street 9"
				m, err := c.PartnerReminder(p, rem, at)
				if err != nil {
					t.Fatal(err)
				}
				msg := parse(t, m)
				if len(m.To) != 1 || m.To[0] != p.Emails[0] {
					t.Fatalf("to %v", m.To)
				}
				text := msg.subject(t) + "\n" + msg.body
				mustContain(t, "mail", text, append([]string{"RMA/7/SR/2026", rem.Since.Format(time.DateOnly), "TP-Link Archer AX55"}, words[loc][rule]...)...)
				mustNotContain(t, "mail", text, "{{", "<no value>", "reminder.goods", "reminder.expired", "reminder.accessories", "history.")
				if rule == RuleAccessoriesTimeout {
					mustContain(t, "mail", msg.body, "Return Street 9")
				}
				if got := msg.msgIDs(t, "References"); len(got) != 1 || got[0] != "req-7@alfa-computers.gr" {
					t.Errorf("References %v: the reminder should thread under the partner's request", got)
				}
				if msg.get(t, "Auto-Submitted") != "auto-generated" {
					t.Error("not auto-generated")
				}
				again, _ := c.PartnerReminder(p, rem, at.Add(time.Hour))
				if again.ID != m.ID || !strings.HasPrefix(m.ID, "remind.") {
					t.Errorf("Message-ID %q then %q: a resend must keep it", m.ID, again.ID)
				}
			})
		}
	}
	ids := map[string]bool{}
	for _, rem := range rems {
		m, _ := c.PartnerReminder(partners["en"], rem, at)
		ids[m.ID] = true
	}
	if len(ids) != len(rems) {
		t.Fatal("two rules share a Message-ID for one RMA")
	}
	if _, err := c.PartnerReminder(partners["en"], Reminder{Rule: RuleUncollected, Record: goods}, at); err == nil {
		t.Fatal("uncollected items are for staff, not the partner")
	}
}

func TestStaffEscalations(t *testing.T) {
	c := testComposer()
	day := 24 * time.Hour
	r := remRecord(rma.StatusRepaired, remOpened.Add(5*day), rma.HandlingInHouse)
	p := partners["el"]
	p.ReturnAddress = "Leoforos Irakleiou 120"
	at := remOpened.Add(30 * day)
	want := map[string][]string{
		RuleGoodsExpired:       {"RMA expired: RMA/7/SR/2026", "goods not received in 28 days", "set-status RMA/7/SR/2026 received", "told the partner (service@alfa-computers.gr)"},
		RuleAccessoriesTimeout: {"Return unchecked: RMA/7/SR/2026", "Leoforos Irakleiou 120", "shipped_back", "told the partner"},
		RuleUncollected:        {"Issue the credit note: RMA/7/SR/2026", "not been collected", "15 days", "closed"},
	}
	for rule, words := range want {
		t.Run(rule, func(t *testing.T) {
			rem := Reminder{Rule: rule, Record: r, Since: remOpened.Add(5 * day), Days: map[string]int{RuleGoodsExpired: 28, RuleAccessoriesTimeout: 10, RuleUncollected: 15}[rule]}
			m, ok, err := c.StaffEscalation(p, rem, at)
			if err != nil || !ok {
				t.Fatalf("%v %v", ok, err)
			}
			msg := parse(t, m)
			if len(m.To) != 1 || m.To[0] != "service-desk@example.com" {
				t.Fatalf("to %v", m.To)
			}
			mustContain(t, "escalation", msg.subject(t)+"\n"+msg.body, append(words, "Alfa Computers", "P-GR-001", "RT-7", "ALFA-7")...)
			if got := msg.addrs(t, "Reply-To"); len(got) != 1 || got[0] != "service@alfa-computers.gr" {
				t.Errorf("Reply-To %v", got)
			}
			if !strings.HasPrefix(m.ID, "escalation.") {
				t.Errorf("Message-ID %q", m.ID)
			}
		})
	}
	if _, ok, err := c.StaffEscalation(p, Reminder{Rule: RuleGoodsReminder, Record: r}, at); ok || err != nil {
		t.Fatalf("a plain reminder is no escalation: %v %v", ok, err)
	}
	c.StaffAddr = ""
	if _, ok, err := c.StaffEscalation(p, Reminder{Rule: RuleGoodsExpired, Record: r}, at); ok || err != nil {
		t.Fatalf("no staff address: %v %v", ok, err)
	}
}
