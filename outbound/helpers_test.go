package outbound

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

var athens = testenv.Athens

// testComposer has the sample configuration's centres and policy.
func testComposer() *Composer {
	return &Composer{
		From: "Example Distribution RMA <rma@distributor.example>",
		Centers: config.ServiceCenters{Default: "GR", Centers: map[string]config.ServiceCenter{
			"GR": {Name: "Example Distribution Service GR", Address: "Example Street 1, 14451 Metamorfosi, Greece"},
			"RO": {Name: "Example Distribution Service RO", Address: "Example Street 3, 031041 Bucharest, Romania"},
		}},
		Policy: config.Policy{OutOfWarranty: config.OutOfWarrantyPaidRepair, NoFaultFoundFee: "15 EUR incl. VAT",
			RestockingFeePercent: 15, CustomerDelayDays: 10},
		StaffAddr: "service-desk@example.com",
		Location:  athens,
	}
}

// The partners of testdata/partners.yaml, one per locale.
var partners = map[string]rma.Partner{
	"el": {ID: "P-GR-001", Name: "Alfa Computers", VAT: "EL094019245", Country: "GR", Locale: "el", Emails: []string{"service@alfa-computers.gr"}},
	"ro": {ID: "P-RO-002", Name: "Nova IT SRL", VAT: "RO18547290", Country: "RO", Locale: "ro", Emails: []string{"rma@nova-it.ro"}},
	"fr": {ID: "P-FR-003", Name: "Telecom Pro Lyon", VAT: "FR40303265045", Country: "FR", Locale: "fr", Emails: []string{"sav@telecompro.fr"}},
	"en": {ID: "P-EN-004", Name: "Cyprus Net Ltd", VAT: "CY10259033P", Country: "CY", Locale: "en", Emails: []string{"returns@cyprusnet.example"}},
}

var now = time.Date(2026, 11, 2, 9, 15, 0, 0, time.UTC)

func submissionFor(locale, subject string) rma.Submission {
	p := partners[locale]
	return rma.Submission{
		Kind:       rma.KindSubmission,
		Source:     rma.Source{Channel: "mail", Mailbox: "partners", MessageID: "pub-" + locale + "@partner.example", RawSHA256: "9f86d081884c7d65"},
		From:       p.Emails[0],
		FromName:   p.Name,
		Subject:    subject,
		Date:       now.Add(-time.Minute),
		References: []string{"root@partner.example"},
		PartnerID:  p.ID,
		Locale:     locale,
		HasProof:   true,
	}
}

// day0 is a calendar date as rules makes them: midnight UTC. Only literals are passed.
func day0(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

// Products of testdata/catalog.csv and the sample routing.
var (
	archer  = &rma.Product{EAN: "5204001000013", Brand: "TP-Link", Model: "Archer AX55", WarrantyMonths: 36}
	qnap    = &rma.Product{EAN: "4712633000024", Brand: "QNAP", Model: "TS-264", WarrantyMonths: 24}
	mini4   = &rma.Product{EAN: "6903466000031", Brand: "DJI", Model: "Mini 4 Pro", WarrantyMonths: 12, FaultTypes: []string{"no power", "gimbal error", "crash damage", "battery"}}
	grp2612 = &rma.Product{EAN: "6940614000048", Brand: "Grandstream", Model: "GRP2612", WarrantyMonths: 24}
	uap     = &rma.Product{EAN: "0810088000058", Brand: "Ubiquiti", Model: "UniFi AP", WarrantyMonths: 24}
	ecoflow = &rma.Product{EAN: "4897082660017", Brand: "EcoFlow", Model: "River 2", WarrantyMonths: 24}
)

func inHouse(line int, number string, p *rma.Product, it rma.Item) rma.Decision {
	it.Line = line
	if it.EAN == "" {
		it.EAN = p.EAN
	}
	return rma.Decision{Line: line, Item: it, Result: rma.ResultAccepted, Route: rma.Route{Handling: rma.HandlingInHouse},
		Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: day0("2029-02-10")}, Product: p, ClaimType: "defective",
		Quantity: 1, Purchase: day0("2026-02-10"), Number: number}
}

func rejected(line int, p *rma.Product, it rma.Item, probs ...rma.Problem) rma.Decision {
	it.Line = line
	return rma.Decision{Line: line, Item: it, Result: rma.ResultRejected, Warranty: rma.Warranty{Status: rma.WarrantyUnknown},
		Product: p, ClaimType: "defective", Quantity: 1, Problems: probs}
}

// parsed is a composed message read back with go-message.
type parsed struct {
	h     mail.Header
	body  string
	files map[string][]byte
	types map[string]string
}

func parse(t *testing.T, m Message) parsed {
	t.Helper()
	for i, c := range m.Raw {
		if c >= 0x80 {
			t.Fatalf("message %s is not 7-bit clean at byte %d", m.ID, i)
		}
	}
	for _, ln := range strings.Split(string(m.Raw), "\r\n") {
		if len(ln) > 998 {
			t.Fatalf("message %s has a line of %d bytes (RFC 5322 limit 998)", m.ID, len(ln))
		}
	}
	r, err := mail.CreateReader(bytes.NewReader(m.Raw))
	if err != nil {
		t.Fatalf("parse %s: %v", m.ID, err)
	}
	p := parsed{h: r.Header, files: map[string][]byte{}, types: map[string]string{}}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse %s: next part: %v", m.ID, err)
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("parse %s: read part: %v", m.ID, err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			p.body += string(b)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			ct, _, _ := h.ContentType()
			p.files[name] = b
			p.types[name] = ct
		}
	}
	return p
}

func (p parsed) get(t *testing.T, key string) string {
	t.Helper()
	return p.h.Get(key)
}

func (p parsed) subject(t *testing.T) string {
	t.Helper()
	s, err := p.h.Subject()
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	return s
}

func (p parsed) addrs(t *testing.T, key string) []string {
	t.Helper()
	l, err := p.h.AddressList(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var out []string
	for _, a := range l {
		out = append(out, a.Address)
	}
	return out
}

func (p parsed) msgIDs(t *testing.T, key string) []string {
	t.Helper()
	l, err := p.h.MsgIDList(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return l
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(w)) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

func mustNotContain(t *testing.T, what, text string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(strings.ToLower(text), strings.ToLower(n)) {
			t.Errorf("%s contains %q:\n%s", what, n, text)
		}
	}
}
