package outbound

import (
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

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

func TestRuleNotes(t *testing.T) {
	for _, loc := range i18n.Locales {
		seen := map[string]bool{}
		for _, rule := range rules.AgeingRules {
			n := RuleNote(loc, rules.Reminder{Rule: rule, Days: 10})
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
	rems := map[string]rules.Reminder{
		rules.RuleGoodsReminder:      {Rule: rules.RuleGoodsReminder, Record: goods, Since: remOpened, Days: 14, Until: remOpened.Add(28 * day)},
		rules.RuleGoodsExpired:       {Rule: rules.RuleGoodsExpired, Record: goods, Since: remOpened, Days: 28, To: rma.StatusExpired},
		rules.RuleAccessoriesTimeout: {Rule: rules.RuleAccessoriesTimeout, Record: acc, Since: remOpened.Add(5 * day), Days: 10, To: rma.StatusReturnedUnrepaired},
	}
	// Per locale and rule, words the partner must read (beside the number and the dates).
	words := map[string]map[string][]string{
		"en": {rules.RuleGoodsReminder: {"Reminder", "2026-03-30", "Example Street 1"}, rules.RuleGoodsExpired: {"has expired", "28 days"}, rules.RuleAccessoriesTimeout: {"unchecked", "10 days", "at your cost"}},
		"el": {rules.RuleGoodsReminder: {"Υπενθύμιση", "2026-03-30", "Example Street 1"}, rules.RuleGoodsExpired: {"έληξε", "28 ημέρες"}, rules.RuleAccessoriesTimeout: {"χωρίς έλεγχο", "10 ημέρες"}},
		"ro": {rules.RuleGoodsReminder: {"Reamintire", "2026-03-30", "Example Street 3"}, rules.RuleGoodsExpired: {"a expirat", "28 zile"}, rules.RuleAccessoriesTimeout: {"neverificat", "10 zile"}},
		"fr": {rules.RuleGoodsReminder: {"Rappel", "2026-03-30", "Example Street 1"}, rules.RuleGoodsExpired: {"a expiré", "28 jours"}, rules.RuleAccessoriesTimeout: {"sans contrôle", "10 jours", "à votre charge"}},
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
				if rule == rules.RuleAccessoriesTimeout {
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
	if _, err := c.PartnerReminder(partners["en"], rules.Reminder{Rule: rules.RuleUncollected, Record: goods}, at); err == nil {
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
		rules.RuleGoodsExpired:       {"RMA expired: RMA/7/SR/2026", "goods not received in 28 days", "set-status RMA/7/SR/2026 received", "told the partner (service@alfa-computers.gr)"},
		rules.RuleAccessoriesTimeout: {"Return unchecked: RMA/7/SR/2026", "Leoforos Irakleiou 120", "shipped_back", "told the partner"},
		rules.RuleUncollected:        {"Issue the credit note: RMA/7/SR/2026", "not been collected", "15 days", "closed"},
	}
	for rule, words := range want {
		t.Run(rule, func(t *testing.T) {
			rem := rules.Reminder{Rule: rule, Record: r, Since: remOpened.Add(5 * day), Days: map[string]int{rules.RuleGoodsExpired: 28, rules.RuleAccessoriesTimeout: 10, rules.RuleUncollected: 15}[rule]}
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
	if _, ok, err := c.StaffEscalation(p, rules.Reminder{Rule: rules.RuleGoodsReminder, Record: r}, at); ok || err != nil {
		t.Fatalf("a plain reminder is no escalation: %v %v", ok, err)
	}
	c.StaffAddr = ""
	if _, ok, err := c.StaffEscalation(p, rules.Reminder{Rule: rules.RuleGoodsExpired, Record: r}, at); ok || err != nil {
		t.Fatalf("no staff address: %v %v", ok, err)
	}
}
