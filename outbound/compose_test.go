package outbound

import (
	"bytes"
	"encoding/csv"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
)

var replyIDRe = regexp.MustCompile(`^reply\.[0-9a-f]{16}@distributor\.example$`)

func TestReplyHeaders(t *testing.T) {
	subjects := map[string]string{
		"en": "RMA request GRP2612",
		"el": "Αίτηση RMA — router",
		"ro": "Cerere RMA defect",
		"fr": "Retour produit défectueux",
	}
	c := testComposer()
	for _, loc := range i18n.Locales {
		t.Run(loc, func(t *testing.T) {
			sub := submissionFor(loc, subjects[loc])
			ds := []rma.Decision{inHouse(1, "RMA/1/SR/2026", archer, rma.Item{Serial: "RT-88812", OwnNumber: "REF-1"})}
			m1, err := c.Reply(sub, partners[loc], ds, now)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := c.Reply(sub, partners[loc], ds, now.Add(3*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if m1.ID != m2.ID {
				t.Errorf("Message-ID changed between compositions: %s, %s", m1.ID, m2.ID)
			}
			if !replyIDRe.MatchString(m1.ID) {
				t.Errorf("Message-ID %q does not look like reply.<hash16>@distributor.example", m1.ID)
			}
			if m1.From != "rma@distributor.example" || !slices.Equal(m1.To, []string{sub.From}) {
				t.Errorf("envelope %s → %v, want rma@distributor.example → %s", m1.From, m1.To, sub.From)
			}
			p := parse(t, m1)
			if id, _ := p.h.MessageID(); id != m1.ID {
				t.Errorf("Message-ID header %q, Message.ID %q", id, m1.ID)
			}
			if got := p.msgIDs(t, "In-Reply-To"); !slices.Equal(got, []string{sub.Source.MessageID}) {
				t.Errorf("In-Reply-To = %v, want %s", got, sub.Source.MessageID)
			}
			if got := p.msgIDs(t, "References"); !slices.Equal(got, []string{"root@partner.example", sub.Source.MessageID}) {
				t.Errorf("References = %v", got)
			}
			if got := p.get(t, "Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q, want auto-replied", got)
			}
			if got, want := p.subject(t), "Re: "+subjects[loc]+" [RMA/1/SR/2026]"; got != want {
				t.Errorf("Subject = %q, want %q", got, want)
			}
			if raw := p.get(t, "Subject"); !isASCII(raw) || (!isASCII(subjects[loc]) && !strings.Contains(raw, "=?")) {
				t.Errorf("raw Subject %q must be an encoded word", raw)
			}
			if got := p.addrs(t, "From"); !slices.Equal(got, []string{"rma@distributor.example"}) {
				t.Errorf("From = %v", got)
			}
			if got := p.addrs(t, "To"); !slices.Equal(got, []string{sub.From}) {
				t.Errorf("To = %v", got)
			}
			if d, err := p.h.Date(); err != nil || !d.Equal(now) {
				t.Errorf("Date = %v (%v), want %v", d, err, now)
			}
			if p.get(t, "MIME-Version") != "1.0" || p.get(t, "Content-Language") != loc {
				t.Errorf("MIME-Version %q, Content-Language %q", p.get(t, "MIME-Version"), p.get(t, "Content-Language"))
			}
			if p.types[ResultsFilename] != "text/csv" || p.types[label.Filename] != "application/pdf" || len(p.files) != 2 {
				t.Errorf("attachments %v, want %s as text/csv and %s as application/pdf", p.types, ResultsFilename, label.Filename)
			}
			if !strings.HasPrefix(p.body, i18n.Lang(loc).T("greeting")) {
				t.Errorf("body does not start with the %s greeting:\n%s", loc, p.body)
			}
		})
	}
}

func TestMessageIDs(t *testing.T) {
	c := testComposer()
	p := partners["en"]
	base := submissionFor("en", "RMA")
	id := func(sub rma.Submission) string {
		m, err := c.Reply(sub, p, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	other := base
	other.Source.RawSHA256 = "different"
	hook := base
	hook.Source = rma.Source{Channel: "webhook", WebhookID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"}
	hook2 := hook
	hook2.Subject = "changed but same delivery"
	bare := base
	bare.Source = rma.Source{}

	if first, again := id(base), id(base); first != again {
		t.Error("the same submission must get the same reply id")
	}
	if id(base) == id(other) {
		t.Error("another raw mail with the same Message-ID must get another reply id")
	}
	if id(hook) != id(hook2) {
		t.Error("a webhook delivery is identified by its webhook-id")
	}
	if first, again := id(bare), id(bare); first != again || first == id(base) {
		t.Error("without a source the id must still be stable and distinct")
	}
	status, err := c.StatusAnswer(base, p, "X", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if status.ID == id(base) || !strings.HasPrefix(status.ID, "status.") {
		t.Errorf("kinds of mail must not share ids: status %s, reply %s", status.ID, id(base))
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct {
		orig    string
		numbers []string
		want    string
	}{
		{"RMA request", nil, "Re: RMA request"},
		{"RMA request", []string{"RMA/1/SR/2026"}, "Re: RMA request [RMA/1/SR/2026]"},
		{"RMA", []string{"RMA/1/SR/2026", "RMA/2/SR/2026", "RMA/3/SR/2026"}, "Re: RMA [RMA/1/SR/2026, RMA/2/SR/2026, RMA/3/SR/2026]"},
		{"RMA", []string{"RMA/1/SR/2026", "RMA/2/SR/2026", "RMA/3/SR/2026", "RMA/4/SR/2026"}, "Re: RMA"},
		{"Re: RMA", nil, "Re: RMA"},
		{"RE: RMA", nil, "RE: RMA"},
		{"AW: RMA", nil, "AW: RMA"},
		{"ΑΠ: αίτηση", nil, "ΑΠ: αίτηση"},
		{"Refus colis", nil, "Re: Refus colis"},
		{"", nil, "Re: RMA"},
		{"  RMA \r\n  request ", nil, "Re: RMA request"},
		{"RMA [RMA/1/SR/2026]", []string{"RMA/1/SR/2026"}, "Re: RMA [RMA/1/SR/2026]"},
		{"RMA", []string{"RMA/1/SR/2026", "RMA/1/SR/2026"}, "Re: RMA [RMA/1/SR/2026]"},
	}
	for _, tt := range tests {
		if got := replySubject(tt.orig, tt.numbers); got != tt.want {
			t.Errorf("replySubject(%q, %v) = %q, want %q", tt.orig, tt.numbers, got, tt.want)
		}
	}
}

func TestThreading(t *testing.T) {
	tests := []struct {
		name     string
		sub      rma.Submission
		wantIRT  string
		wantRefs []string
	}{
		{"new thread", rma.Submission{Source: rma.Source{MessageID: "a@x"}}, "a@x", []string{"a@x"}},
		{"with references", rma.Submission{Source: rma.Source{MessageID: "c@x"}, References: []string{"a@x", "<b@x>"}}, "c@x", []string{"a@x", "b@x", "c@x"}},
		{"in-reply-to only", rma.Submission{Source: rma.Source{MessageID: "c@x"}, InReplyTo: "b@x"}, "c@x", []string{"b@x", "c@x"}},
		{"webhook: no thread", rma.Submission{Source: rma.Source{WebhookID: "w1"}}, "", nil},
	}
	for _, tt := range tests {
		irt, refs := threading(tt.sub)
		if irt != tt.wantIRT || !slices.Equal(refs, tt.wantRefs) {
			t.Errorf("%s: threading = %q %v, want %q %v", tt.name, irt, refs, tt.wantIRT, tt.wantRefs)
		}
	}
	long := rma.Submission{Source: rma.Source{MessageID: "last@x"}}
	for i := 0; i < 50; i++ {
		long.References = append(long.References, strings.Repeat("r", i+1)+"@x")
	}
	_, refs := threading(long)
	if len(refs) != 20 || refs[0] != "r@x" || refs[19] != "last@x" {
		t.Errorf("long thread: %d refs, first %q, last %q; want 20 keeping the root and the parent", len(refs), refs[0], refs[len(refs)-1])
	}
}

// TestReplyBodies checks what each handling and each failure tells the partner.
func TestReplyBodies(t *testing.T) {
	c := testComposer()
	dup := inHouse(1, "RMA/1/SR/2026", archer, rma.Item{OwnNumber: "ALFA-7781"})
	dup.Result = rma.ResultDuplicate
	expired := inHouse(1, "RMA/9/SR/2026", qnap, rma.Item{})
	expired.Warranty = rma.Warranty{Status: rma.WarrantyExpired, Until: day0("2025-12-01")}
	expiredNoted := expired
	expiredNoted.Notes = []rma.Note{{Key: rma.NotePaidRepair, Params: map[string]string{"until": "2025-12-01"}}}
	vt := inHouse(1, "RMA/3/SR/2026", grp2612, rma.Item{Serial: "20EZ8K1234", VendorTicket: "GS-55120"})
	vt.Route = rma.Route{Handling: rma.HandlingVendorTicket, Helpdesk: "https://helpdesk.grandstream.com/"}
	fwd := inHouse(1, "RMA/4/SR/2026", mini4, rma.Item{Serial: "SN-DJI-0001", FaultType: "gimbal error"})
	fwd.Route = rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}
	direct := rma.Decision{Line: 1, Item: rma.Item{Line: 1, EAN: uap.EAN, Serial: "7483C2A1B2C3"}, Result: rma.ResultRedirected,
		Route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}, Product: uap,
		Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: day0("2028-04-12")}}
	orderErr := inHouse(1, "RMA/5/SR/2026", archer, rma.Item{ClaimType: "order_error"})
	orderErr.ClaimType = "order_error"
	refund := inHouse(1, "RMA/6/SR/2026", archer, rma.Item{IBAN: "GR16 0110 1250 0000 0001 2300 695"})
	refund.ClaimType = "fast_refund"
	rp := inHouse(1, "RMA/7/SR/2026", archer, rma.Item{ReceiverPays: "Ναι", Contents: "τροφοδοτικό, κεραίες"})

	noTicket := rejected(1, grp2612, rma.Item{EAN: grp2612.EAN, Serial: "20EZ8K1234"},
		rma.NewProblem(rma.CodeVendorTicketRequired, "vendor_ticket", "brand", "Grandstream", "helpdesk", "https://helpdesk.grandstream.com/"))
	sci := rejected(1, nil, rma.Item{EAN: "5.90123E+12", OwnNumber: "NOVA-110"},
		rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5.90123E+12", "reason", "scientific_notation", "expanded", "5901230000000"))
	noSerial := rejected(1, mini4, rma.Item{EAN: mini4.EAN}, rma.NewProblem(rma.CodeSerialRequired, "serial", "brand", "DJI"))
	noProof := rejected(1, archer, rma.Item{EAN: archer.EAN}, rma.NewProblem(rma.CodeProofMissing, ""))

	tests := []struct {
		name      string
		loc       string
		subProbs  []rma.Problem
		ds        []rma.Decision
		want, not []string
	}{
		{name: "in_house el: number, parcel, accessories, centre, terms, check, fees", loc: "el",
			ds: []rma.Decision{rp},
			want: []string{"RMA/7/SR/2026", "κολλήστε την ετικέτα κάθε RMA", "τροφοδοτικό, κεραίες", "Example Distribution Service GR",
				"Example Street 1, 14451 Metamorfosi, Greece", "«Χρέωση παραλήπτη: ναι»", "Ζητήσατε αποστολή με χρέωση παραλήπτη",
				"24–72 ώρες", "15 EUR incl. VAT", "10 ημέρες", "έως 2029-02-10", "ΚΑΤΑΣΤΑΣΗ"},
			not: []string{"Example Street 3"}},
		{name: "in_house ro: the Romanian centre", loc: "ro", ds: []rma.Decision{inHouse(1, "RMA/2/SR/2026", qnap, rma.Item{})},
			want: []string{"RMA/2/SR/2026", "Example Street 3, 031041 Bucharest, Romania", "24–72 de ore", "lipiți eticheta fiecărui RMA", "STARE"},
			not:  []string{"Example Street 1"}},
		{name: "in_house fr: no centre for FR, the default country's", loc: "fr", ds: []rma.Decision{inHouse(1, "RMA/2/SR/2026", qnap, rma.Item{})},
			want: []string{"Example Street 1, 14451 Metamorfosi, Greece", "Port dû : oui", "STATUT"}},
		{name: "in_house en, no contents listed: all accessories", loc: "en", ds: []rma.Decision{inHouse(1, "RMA/2/SR/2026", qnap, rma.Item{})},
			want: []string{"everything that came in the box", "Shipping to our service is at your cost", "Receiver pays: yes"},
			not:  []string{"Include in the parcel"}},
		{name: "order error: restocking fee", loc: "en", ds: []rma.Decision{orderErr},
			want: []string{"original packaging", "15% restocking fee"}},
		{name: "fast refund: IBAN", loc: "en", ds: []rma.Decision{refund},
			want: []string{"refund the purchase price to IBAN GR16 0110 1250 0000 0001 2300 695", "confirms the defect"}},
		{name: "out of warranty, rules' note: said once", loc: "en", ds: []rma.Decision{expiredNoted},
			want: []string{"expired on 2025-12-01", "estimate for parts, labour and return shipping"}},
		{name: "out of warranty without note: still said", loc: "ro", ds: []rma.Decision{expired},
			want: []string{"deviz pentru piese, manoperă și transportul de retur"}},
		{name: "vendor_ticket accepted", loc: "en", ds: []rma.Decision{vt},
			want: []string{"RMA/3/SR/2026", "Manufacturer ticket: GS-55120", "Send the parcel to:"}},
		{name: "forward: to the manufacturer, updates follow, do not ship", loc: "el", ds: []rma.Decision{fwd},
			want: []string{"RMA/4/SR/2026", "Προωθήσαμε αυτά τα αιτήματα στην DJI", "μην το στείλετε"},
			not:  []string{"Example Street 1", "Στείλτε το δέμα"}},
		{name: "vendor_direct fr: portal and steps, no number", loc: "fr", ds: []rma.Decision{direct},
			want: []string{"https://rma.ui.com/", "Ubiquiti gère lui-même", "numéro de série", "n'envoyez pas le produit chez nous"},
			not:  []string{"RMA/", "Example Street"}},
		{name: "vendor_ticket_required en: helpdesk, resend with ticket", loc: "en", ds: []rma.Decision{noTicket},
			want: []string{"helpdesk.grandstream.com", "Vendor ticket: Grandstream must confirm the fault first", "Not accepted", "send only those again"},
			not:  []string{"Send the parcel"}},
		{name: "duplicate", loc: "en", ds: []rma.Decision{dup},
			want: []string{"Already registered under RMA/1/SR/2026", "Already registered: 1"},
			not:  []string{"Send the parcel"}},
		{name: "scientific EAN ro: Excel, text column", loc: "ro", ds: []rma.Decision{sci},
			want: []string{"Cod EAN: „5.90123E+12” nu mai este un EAN", "Excel", "notație științifică", "ca Text", "NOVA-110"}},
		{name: "scientific EAN en", loc: "en", ds: []rma.Decision{sci},
			want: []string{"5.90123E+12", "Excel turned the number into scientific notation", "Format the EAN column as Text"}},
		{name: "serial required el: field and brand", loc: "el", ds: []rma.Decision{noSerial},
			want: []string{"Σειριακός αριθμός: είναι υποχρεωτικός για τα προϊόντα DJI"}},
		{name: "proof missing: said once at the top", loc: "en", subProbs: []rma.Problem{rma.NewProblem(rma.CodeProofMissing, "")},
			ds:   []rma.Decision{noProof},
			want: []string{"We could not accept your request as a whole", "No proof of purchase", "Not accepted: see the reason above"},
			not:  []string{"Please correct", "send only those again"}},
		{name: "no rows, no problem given: says why", loc: "fr",
			want: []string{"Nous n'avons trouvé aucun article", "Aucun RMA n'a été ouvert"}},
		{name: "no rows, csv invalid", loc: "el", subProbs: []rma.Problem{rma.NewProblem(rma.CodeCSVInvalid, "", "file", "rma.csv")},
			want: []string{"Δεν μπορέσαμε να διαβάσουμε το συνημμένο αρχείο CSV rma.csv", "Δεν άνοιξε κανένα RMA"},
			not:  []string{"Δεν βρήκαμε κανένα είδος"}},
		{name: "mixed: each item its own block, tally", loc: "en",
			ds:   []rma.Decision{inHouse(1, "RMA/2/SR/2026", qnap, rma.Item{}), atLine(sci, 2), atLine(direct, 3)},
			want: []string{"Accepted: 1 · Handled by the manufacturer: 1 · Not accepted: 1", "Item 1: QNAP TS-264", "Item 2", "Item 3: Ubiquiti UniFi AP", "(item 3)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := submissionFor(tt.loc, "RMA")
			sub.Problems = tt.subProbs
			m, err := c.Reply(sub, partners[tt.loc], tt.ds, now)
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, m)
			mustContain(t, "body", p.body, tt.want...)
			mustNotContain(t, "body", p.body, tt.not...)
			mustNotContain(t, "body", p.body, "<no value>", "{{", "problem.", "reply.")
			if n := strings.Count(p.body, i18n.Lang(tt.loc).T("note.paid_repair")[:20]); n > 1 {
				t.Errorf("paid repair said %d times", n)
			}
			rows, err := csv.NewReader(bytes.NewReader(p.files[ResultsFilename])).ReadAll()
			if err != nil {
				t.Fatalf("rma-results.csv: %v", err)
			}
			if len(rows) != len(tt.ds)+1 {
				t.Errorf("rma-results.csv has %d rows, want header + %d", len(rows), len(tt.ds))
			}
		})
	}
}

func atLine(d rma.Decision, line int) rma.Decision {
	d.Line, d.Item.Line = line, line
	return d
}

func TestReplyNeedsRecipient(t *testing.T) {
	c := testComposer()
	sub := submissionFor("en", "RMA")
	sub.From = ""
	m, err := c.Reply(sub, partners["en"], nil, now)
	if err != nil || !slices.Equal(m.To, []string{"returns@cyprusnet.example"}) {
		t.Errorf("webhook submission: To = %v, %v; want the partner's first address", m.To, err)
	}
	if _, err := c.Reply(sub, rma.Partner{ID: "P-X"}, nil, now); err == nil || !strings.Contains(err.Error(), "P-X") {
		t.Errorf("no address at all: err = %v, want one naming the partner", err)
	}
	bad := *c
	bad.From = "not an address"
	if _, err := bad.Reply(submissionFor("en", "RMA"), partners["en"], nil, now); err == nil || !strings.Contains(err.Error(), "smtp.from") {
		t.Errorf("bad From: err = %v, want one naming smtp.from", err)
	}
}

func TestTemplatesLoad(t *testing.T) {
	if templateErr != nil {
		t.Fatalf("templates: %v", templateErr)
	}
	if err := i18n.Err(); err != nil {
		t.Fatalf("locale catalogs: %v", err)
	}
}
