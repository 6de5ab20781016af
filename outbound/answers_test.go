package outbound

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

func statusRecord() rma.Record {
	d := inHouse(1, "RMA/12/SR/2026", archer, rma.Item{OwnNumber: "ALFA-7781", Serial: "RT-88812"})
	created := time.Date(2026, 11, 2, 7, 30, 0, 0, time.UTC)
	return rma.Record{
		Number: "RMA/12/SR/2026", PartnerID: "P-GR-001", Decision: d, Status: rma.StatusReceived,
		CreatedAt: created, UpdatedAt: created.Add(26 * time.Hour),
		History: []rma.Event{
			{At: created, Status: rma.StatusAwaitingGoods, Actor: "rmad"},
			{At: created.Add(26 * time.Hour), Status: rma.StatusReceived, Actor: "staff:maria", Note: "parcel complete,\nPSU included"},
		},
	}
}

func TestStatusAnswer(t *testing.T) {
	c := testComposer()
	names := map[string][2]string{ // awaiting_goods, received
		"en": {"Awaiting the goods", "Received"},
		"el": {"Αναμονή παραλαβής", "Παραλήφθηκε"},
		"ro": {"În așteptarea coletului", "Recepționat"},
		"fr": {"En attente de réception", "Reçu"},
	}
	for _, loc := range i18n.Locales {
		t.Run(loc, func(t *testing.T) {
			sub := submissionFor(loc, "STATUS ALFA-7781")
			sub.Kind = rma.KindCommand
			m, err := c.StatusAnswer(sub, partners[loc], "ALFA-7781", []rma.Record{statusRecord()}, now)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, m)
			mustContain(t, "status answer", p.body, "RMA/12/SR/2026", "TP-Link Archer AX55", "ALFA-7781", "RT-88812", "5204001000013",
				"received — "+names[loc][1], "awaiting_goods — "+names[loc][0],
				"2026-11-02", "2026-11-03",
				"2026-11-02 09:30", // history in the distributor's time zone (Athens, UTC+2)
				"parcel complete, PSU included")
			if got := p.get(t, "Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted %q", got)
			}
			if got := p.subject(t); got != "Re: STATUS ALFA-7781" {
				t.Errorf("Subject %q", got)
			}
			if got := p.msgIDs(t, "In-Reply-To"); !slices.Equal(got, []string{sub.Source.MessageID}) {
				t.Errorf("In-Reply-To %v", got)
			}
			if !strings.HasPrefix(m.ID, "status.") || len(p.files) != 0 {
				t.Errorf("id %s, attachments %v", m.ID, p.types)
			}
		})
	}
}

func TestStatusAnswerNothingMatched(t *testing.T) {
	c := testComposer()
	want := map[string]string{
		"en": "We found no RMA of yours matching “NOPE-1”",
		"el": "Δεν βρήκαμε κανένα RMA σας που να αντιστοιχεί στο «NOPE-1»",
		"ro": "Nu am găsit niciun RMA al dumneavoastră care să corespundă cu „NOPE-1”",
		"fr": "Nous n'avons trouvé aucun RMA à votre nom correspondant à « NOPE-1 »",
	}
	for _, loc := range i18n.Locales {
		sub := submissionFor(loc, "STATUS NOPE-1")
		m, err := c.StatusAnswer(sub, partners[loc], "NOPE-1", nil, now)
		if err != nil {
			t.Fatal(err)
		}
		p := parse(t, m)
		mustContain(t, loc+" empty status answer", p.body, want[loc])
		mustNotContain(t, loc+" empty status answer", p.body, "awaiting_goods")
	}
}

func TestWarrantyAnswer(t *testing.T) {
	c := testComposer()
	covered := WarrantyInfo{EAN: qnap.EAN, Product: qnap, Purchase: day0("2026-06-15"), Until: day0("2028-06-15"), Status: rma.WarrantyIn}
	expired := WarrantyInfo{EAN: qnap.EAN, Serial: "Q1", Product: qnap, Purchase: day0("2023-01-10"), Until: day0("2025-01-10"), Status: rma.WarrantyExpired}
	sci := rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "4.71263E+12", "reason", "scientific_notation")
	tests := []struct {
		name      string
		loc       string
		w         WarrantyInfo
		reject    bool
		want, not []string
	}{
		{name: "covered en", loc: "en", w: covered, want: []string{"QNAP TS-264 (EAN 4712633000024)", "covered until 2028-06-15", "latest purchase on 2026-06-15"}},
		{name: "covered el", loc: "el", w: covered, want: []string{"έως 2028-06-15", "2026-06-15"}},
		{name: "covered ro", loc: "ro", w: covered, want: []string{"până la 2028-06-15", "2026-06-15"}},
		{name: "covered fr", loc: "fr", w: covered, want: []string{"jusqu'au 2028-06-15", "2026-06-15"}},
		{name: "expired, paid repair", loc: "en", w: expired, want: []string{"ended on 2025-01-10", "serial number Q1", "repair it for a fee"}},
		{name: "expired, policy reject", loc: "fr", w: expired, reject: true, want: []string{"a pris fin le 2025-01-10", "n'acceptons pas"},
			not: []string{"contre paiement"}},
		{name: "unknown EAN", loc: "el", w: WarrantyInfo{EAN: "5200000000009", Status: rma.WarrantyUnknown, Reason: "ean_unknown"},
			want: []string{"EAN 5200000000009", "δεν υπάρχει στον κατάλογο"}},
		{name: "no purchase", loc: "ro", w: WarrantyInfo{EAN: qnap.EAN, Product: qnap, Status: rma.WarrantyUnknown, Reason: "no_purchase"},
			want: []string{"QNAP TS-264", "Nu am găsit nicio achiziție"}},
		{name: "invalid EAN with its problem", loc: "en", w: WarrantyInfo{EAN: "4.71263E+12", Status: rma.WarrantyUnknown, Reason: "ean_invalid", Problem: &sci},
			want: []string{"4.71263E+12", "Excel"}},
		{name: "unknown reason", loc: "fr", w: WarrantyInfo{EAN: qnap.EAN, Status: rma.WarrantyUnknown, Reason: "solar_flare"},
			want: []string{"Merci de vérifier l'EAN"}, not: []string{"solar_flare"}},
		{name: "in warranty without a date is unknown", loc: "en", w: WarrantyInfo{EAN: qnap.EAN, Status: rma.WarrantyIn},
			want: []string{"We cannot tell"}, not: []string{"covered until"}},
		{name: "notes on the serial", loc: "en", w: func() WarrantyInfo {
			w := covered
			w.Serial = "X9"
			w.Notes = []rma.Note{{Key: rma.NoteSerialOtherPartner, Params: map[string]string{"serial": "X9"}}}
			return w
		}(), want: []string{"Note: serial number X9 was sold to another customer", "2028-06-15"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := *c
			if tt.reject {
				cc.Policy.OutOfWarranty = "reject"
			}
			sub := submissionFor(tt.loc, "WARRANTY "+tt.w.EAN)
			m, err := cc.WarrantyAnswer(sub, partners[tt.loc], tt.w, now)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, m)
			mustContain(t, "warranty answer", p.body, tt.want...)
			mustNotContain(t, "warranty answer", p.body, tt.not...)
			mustNotContain(t, "warranty answer", p.body, "warranty.", "<no value>")
			if p.get(t, "Auto-Submitted") != "auto-replied" || !strings.HasPrefix(m.ID, "warranty.") {
				t.Errorf("Auto-Submitted %q, id %s", p.get(t, "Auto-Submitted"), m.ID)
			}
		})
	}
}

func TestRegistrationHint(t *testing.T) {
	c := testComposer()
	sub := rma.Submission{Kind: rma.KindUnknownSender, From: "new@shop.example", Subject: "RMA",
		Source: rma.Source{MessageID: "x1@shop.example", RawSHA256: "ab"}}
	m, err := c.RegistrationHint(sub, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.To, []string{"new@shop.example"}) || !strings.HasPrefix(m.ID, "hint.") {
		t.Errorf("To %v, id %s", m.To, m.ID)
	}
	p := parse(t, m)
	mustContain(t, "hint", p.body, "Hello,", "Γεια σας,", "Bună ziua,", "Bonjour,",
		"new@shop.example", "service-desk@example.com", "VAT number", "ΑΦΜ", "codul fiscal", "numéro de TVA")
	if strings.Index(p.body, "Hello,") > strings.Index(p.body, "Γεια σας,") {
		t.Error("English must come first")
	}
	if p.get(t, "Auto-Submitted") != "auto-replied" || p.subject(t) != "Re: RMA" {
		t.Errorf("Auto-Submitted %q, Subject %q", p.get(t, "Auto-Submitted"), p.subject(t))
	}
	if got := p.msgIDs(t, "In-Reply-To"); !slices.Equal(got, []string{"x1@shop.example"}) {
		t.Errorf("In-Reply-To %v", got)
	}
	again, _ := c.RegistrationHint(sub, now.Add(time.Hour))
	if again.ID != m.ID {
		t.Error("the same mail must get the same hint id")
	}

	// Without notify.staff the hint points to the account manager instead.
	cc := *c
	cc.StaffAddr = ""
	m, err = cc.RegistrationHint(sub, now)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "hint without staff", parse(t, m).body, "your account manager")

	if _, err := c.RegistrationHint(rma.Submission{}, now); err == nil {
		t.Error("a hint with no sender must fail, not go nowhere")
	}
}

func TestStaffCopy(t *testing.T) {
	c := testComposer()
	sub := submissionFor("el", "Επιστροφή")
	refund := inHouse(2, "RMA/6/SR/2026", archer, rma.Item{IBAN: "GR16 0110 1250 0000 0001 2300 695", Description: "Δεν ανάβει καθόλου, ούτε LED", ReceiverPays: "ναι", Tracking: "ACS 123"})
	refund.ClaimType = "fast_refund"
	vt := inHouse(3, "RMA/7/SR/2026", grp2612, rma.Item{VendorTicket: "GS-1", Serial: "20EZ"})
	vt.Route.Handling = rma.HandlingVendorTicket
	fwd := inHouse(4, "RMA/8/SR/2026", mini4, rma.Item{Serial: "SN-DJI-0001"})
	fwd.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	dup := inHouse(5, "RMA/1/SR/2026", archer, rma.Item{})
	dup.Result = rma.ResultDuplicate
	rej := rejected(1, nil, rma.Item{EAN: "1"}, rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "1", "reason", "length"))

	if _, ok, err := c.StaffCopy(sub, partners["el"], []rma.Decision{rej, fwd, dup}, now); ok || err != nil {
		t.Errorf("no new in-house RMA: ok=%v err=%v, want no mail", ok, err)
	}
	noStaff := *c
	noStaff.StaffAddr = ""
	if _, ok, err := noStaff.StaffCopy(sub, partners["el"], []rma.Decision{refund}, now); ok || err != nil {
		t.Errorf("no notify.staff: ok=%v err=%v, want no mail", ok, err)
	}

	ds := []rma.Decision{rej, refund, vt, fwd, dup}
	m, ok, err := c.StaffCopy(sub, partners["el"], ds, now)
	if err != nil || !ok {
		t.Fatalf("StaffCopy: ok=%v err=%v", ok, err)
	}
	if !slices.Equal(m.To, []string{"service-desk@example.com"}) || !strings.HasPrefix(m.ID, "staff.") {
		t.Errorf("To %v, id %s", m.To, m.ID)
	}
	p := parse(t, m)
	if got := p.get(t, "Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted %q, want auto-generated", got)
	}
	if got := p.addrs(t, "Reply-To"); !slices.Equal(got, []string{sub.From}) {
		t.Errorf("Reply-To %v, want the partner", got)
	}
	if got := p.subject(t); got != "2 new RMAs — Alfa Computers (RMA/6/SR/2026 …)" {
		t.Errorf("Subject %q", got)
	}
	mustContain(t, "staff copy", p.body, "2 new RMAs from Alfa Computers (P-GR-001, GR, VAT EL094019245)",
		"RMA/6/SR/2026 — in_house — TP-Link Archer AX55", "fast_refund", "GR16 0110 1250 0000 0001 2300 695",
		"Δεν ανάβει καθόλου, ούτε LED", "Receiver pays:   requested", "ACS 123",
		"RMA/7/SR/2026 — vendor_ticket", "GS-1", "in_warranty until 2029-02-10", "Message-ID <pub-el@partner.example>")
	mustNotContain(t, "staff copy", p.body, "RMA/8/SR/2026", "RMA/1/SR/2026", "<no value>")
	rows, err := csv.NewReader(bytes.NewReader(p.files[ResultsFilename])).ReadAll()
	if err != nil || len(rows) != len(ds)+1 {
		t.Errorf("staff CSV: %d rows, %v", len(rows), err)
	}
	m2, _, _ := c.StaffCopy(sub, partners["el"], ds, now.Add(time.Hour))
	if m2.ID != m.ID {
		t.Error("staff copy id must be stable")
	}
}

func TestForward(t *testing.T) {
	c := testComposer()
	sub := submissionFor("el", "RMA drones")
	dji1 := inHouse(1, "RMA/4/SR/2026", mini4, rma.Item{Serial: "SN-DJI-0001", FaultType: "gimbal error", Description: "Gimbal shakes after takeoff", PurchaseDate: "04.05.2026", OwnNumber: "ALFA-1"})
	dji1.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	dji1.Warranty.Until = day0("2027-05-04")
	dji1.Purchase = day0("2026-05-04")
	dji2 := dji1
	dji2.Line, dji2.Number, dji2.Item.Serial, dji2.Item.Description = 2, "RMA/5/SR/2026", "=SN2", "Battery swells"
	eco := inHouse(3, "RMA/6/SR/2026", ecoflow, rma.Item{Serial: "R2-77"})
	eco.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "service@ecoflow.example"}
	home := inHouse(4, "RMA/7/SR/2026", archer, rma.Item{})
	rejFwd := rejected(5, mini4, rma.Item{EAN: mini4.EAN}, rma.NewProblem(rma.CodeSerialRequired, "serial", "brand", "DJI"))

	msgs, err := c.Forward(sub, partners["el"], []rma.Decision{dji1, home, eco, dji2, rejFwd}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d forwards, want one per forward_to address (2)", len(msgs))
	}
	want := []struct {
		to      string
		numbers []string
		subject string
	}{
		{"rma@dji.example", []string{"RMA/4/SR/2026", "RMA/5/SR/2026"}, "2 warranty claims — DJI — Example Distribution RMA (RMA/4/SR/2026 …)"},
		{"service@ecoflow.example", []string{"RMA/6/SR/2026"}, "Warranty claim RMA/6/SR/2026 — EcoFlow — Example Distribution RMA"},
	}
	for i, w := range want {
		m := msgs[i]
		if !slices.Equal(m.To, []string{w.to}) || !strings.HasPrefix(m.ID, "fwd.") {
			t.Errorf("forward %d: To %v id %s, want %s", i, m.To, m.ID, w.to)
		}
		p := parse(t, m)
		if p.get(t, "Auto-Submitted") != "auto-generated" || p.subject(t) != w.subject {
			t.Errorf("forward %d: Auto-Submitted %q, Subject %q", i, p.get(t, "Auto-Submitted"), p.subject(t))
		}
		if got := p.addrs(t, "Reply-To"); !slices.Equal(got, []string{"service-desk@example.com"}) {
			t.Errorf("forward %d: Reply-To %v, want staff", i, got)
		}
		mustContain(t, "forward body", p.body, w.numbers...)
		mustNotContain(t, "forward body", p.body, "RMA/7/SR/2026", "ALFA-1", "<no value>")
		rows := readCSV(t, p.files[ClaimsFilename], ',')
		if strings.Join(rows[0], ",") != strings.Join(ClaimsHeader, ",") || len(rows) != len(w.numbers)+1 {
			t.Errorf("forward %d CSV: %q", i, rows)
		}
		for j, n := range w.numbers {
			if rows[j+1][0] != n {
				t.Errorf("forward %d CSV row %d: %q, want %s", i, j+1, rows[j+1][0], n)
			}
		}
	}
	p := parse(t, msgs[0])
	mustContain(t, "DJI claim", p.body, "SN-DJI-0001", "2026-05-04", "2027-05-04", "gimbal error", "Gimbal shakes after takeoff")
	rows := readCSV(t, p.files[ClaimsFilename], ',')
	if rows[2][4] != "'=SN2" {
		t.Errorf("claims CSV not neutralised: %q", rows[2][4])
	}
	if msgs[0].ID == msgs[1].ID {
		t.Error("each address needs its own Message-ID")
	}

	again, _ := c.Forward(sub, partners["el"], []rma.Decision{eco, dji2, dji1}, now.Add(time.Hour))
	if len(again) != 2 || again[0].ID != msgs[0].ID || again[1].ID != msgs[1].ID {
		t.Error("forward ids and order must be stable")
	}

	broken := eco
	broken.Route.ForwardTo = ""
	if _, err := c.Forward(sub, partners["el"], []rma.Decision{broken}, now); err == nil || !strings.Contains(err.Error(), "RMA/6/SR/2026") {
		t.Errorf("forward without an address: %v, want an error naming the RMA", err)
	}
	if msgs, err := c.Forward(sub, partners["el"], []rma.Decision{home}, now); err != nil || len(msgs) != 0 {
		t.Errorf("nothing to forward: %d msgs, %v", len(msgs), err)
	}
}
