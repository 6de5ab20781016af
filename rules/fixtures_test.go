package rules

import (
	"slices"
	"testing"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// fixtureSubmissions are the items of the fixture mails (testdata/mails), as the parser is to
// hand them over: field values as written, the scientific-notation EAN flagged by the CSV reader.
var fixtureSubmissions = map[string]rma.Submission{
	"01-gr-body-router.eml": {PartnerID: "P-GR-001", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-88812", PurchaseDate: "2026-02-10", OwnNumber: "ALFA-7781",
			Description: "Το router κάνει επανεκκίνηση κάθε λίγα λεπτά και χάνει το WiFi."},
	}},
	"02-ro-csv-cp1250.eml": {PartnerID: "P-RO-002", Items: []rma.Item{
		{Line: 1, OwnNumber: "NOVA-101", EAN: "4712633000024", Serial: "Q21AB0001", PurchaseDate: "15.06.2026", Description: "Nu pornește, LED-ul de stare clipește roșu", Expectation: "reparație"},
		{Line: 2, OwnNumber: "NOVA-102", EAN: "5204001000016", Serial: "RT-1002", PurchaseDate: "03.03.2026", Description: "Pierde conexiunea la internet după 10 minute", Expectation: "înlocuire"},
		{Line: 3, OwnNumber: "NOVA-103", EAN: "5099206000070", PurchaseDate: "01.09.2026", Description: "Butonul stâng nu mai funcționează deloc", Expectation: "înlocuire"},
	}},
	"03-fr-ubiquiti.eml": {PartnerID: "P-FR-003", Items: []rma.Item{
		{Line: 1, EAN: "0810088000058", Serial: "7483C2A1B2C3", PurchaseDate: "12/04/2026", Description: "le point d'accès ne démarre plus, aucune LED."},
	}},
	"04-en-grandstream-no-ticket.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "6940614000048", Serial: "20EZ8K1234", PurchaseDate: "2026-07-01", Description: "Handset has no audio on calls, speaker silent."},
	}},
	"05-en-grandstream-ticket.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "6940614000048", Serial: "20EZ8K1234", PurchaseDate: "2026-07-01", Description: "Handset has no audio on calls, speaker silent.", VendorTicket: "GS-TKT-558120"},
	}},
	"06-gr-dji-no-serial.eml": {PartnerID: "P-GR-001", Items: []rma.Item{
		{Line: 1, EAN: "6903466000031", PurchaseDate: "04.05.2026", Description: "Το gimbal δείχνει σφάλμα μετά την εκκίνηση.", FaultType: "gimbal error"},
	}},
	"07-gr-csv-cp1253-header.eml": {PartnerID: "P-GR-001", Items: []rma.Item{
		{Line: 1, OwnNumber: "ALFA-7790", EAN: "6903466000031", Serial: "SN-DJI-0001", PurchaseDate: "04/05/2026", Description: "Δεν φορτίζει η μπαταρία, καμία ένδειξη.", FaultType: "battery"},
		{Line: 2, OwnNumber: "ALFA-7791", EAN: "6903466000031", Serial: "SN-DJI-0002", PurchaseDate: "04/05/2026", Description: "Πτώση από ύψος, σπασμένος βραχίονας.", FaultType: "wing broken"},
	}},
	"08-no-proof.eml": {PartnerID: "P-EN-004", Problems: []rma.Problem{rma.NewProblem(rma.CodeProofMissing, "")}, Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-55555", PurchaseDate: "2026-08-08", Description: "Ethernet ports do not link at gigabit speed."},
	}},
	"11-html-only.eml": {PartnerID: "P-FR-003", Items: []rma.Item{
		{Line: 1, EAN: "6940735000095", Serial: "HK-7781-A", PurchaseDate: "2026-09-30", Description: "image noire, vision nocturne HS."},
	}},
	"13-ro-scientific-ean.eml": {PartnerID: "P-RO-002", Items: []rma.Item{
		{Line: 1, OwnNumber: "NOVA-110", EAN: "5.90123E+12", PurchaseDate: "2026-10-01", Description: "Ecran spart la livrare, nu afișează nimic", Expectation: "înlocuire",
			ParseProblems: []rma.Problem{rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5.90123E+12", "reason", "scientific_notation")}},
	}},
	"14-future-date.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-99", PurchaseDate: "2099-01-01", Description: "Router does not power on at all."},
	}},
	"15-out-of-warranty.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "4712633000024", Serial: "Q19XX0001", PurchaseDate: "2021-01-15", Description: "Both drive bays report errors, fan noise."},
	}},
	"16-claim-type-not-allowed.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-100", PurchaseDate: "2026-06-01", Description: "WiFi 5 GHz band disappears after an hour.", ClaimType: "dji_care"},
	}},
	"17-fast-refund-no-iban.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-101", PurchaseDate: "2026-06-01", Description: "Dead on arrival, no power LED.", ClaimType: "fast_refund"},
	}},
	"18-quantity-non-bulk.eml": {PartnerID: "P-EN-004", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", PurchaseDate: "2026-06-01", Description: "Five units arrived with cracked cases.", Quantity: "5", ClaimType: "delivery_error"},
	}},
	"19-duplicate-own-number.eml": {PartnerID: "P-GR-001", Items: []rma.Item{
		{Line: 1, EAN: "5204001000013", Serial: "RT-88812", PurchaseDate: "2026-02-10", OwnNumber: "ALFA-7781",
			Description: "Το router κάνει επανεκκίνηση κάθε λίγα λεπτά και χάνει το WiFi."},
	}},
}

// TestFixtureExpectations decides the fixture mails' items and compares with expected.json.
func TestFixtureExpectations(t *testing.T) {
	expected := testenv.Expected(t, "../testdata")
	e := testEngine(t, nil)
	for name, sub := range fixtureSubmissions {
		t.Run(name, func(t *testing.T) {
			want, ok := expected[name]
			if !ok || want.Reply != "results" {
				t.Fatalf("expected.json has no results for %s", name)
			}
			ds := e.Evaluate(sub, testNow)
			if len(ds) != len(want.Rows) {
				t.Fatalf("%d decisions, want %d", len(ds), len(want.Rows))
			}
			for i, w := range want.Rows {
				d := ds[i]
				result := w.Result
				if result == rma.ResultDuplicate {
					result = rma.ResultAccepted // only the store knows it is a duplicate
				}
				wantCodes := w.Codes
				if wantCodes == nil {
					wantCodes = []rma.Code{}
				}
				if d.Line != w.Line || d.Result != result || !slices.Equal(sortedCodes(d), wantCodes) {
					t.Errorf("line %d: got line %d %s %v, want %s %v", w.Line, d.Line, d.Result, d.Codes(), result, wantCodes)
				}
				if w.Handling != "" && d.Route.Handling != w.Handling {
					t.Errorf("line %d: handling %q, want %q", w.Line, d.Route.Handling, w.Handling)
				}
				if w.Warranty != "" && d.Warranty.Status != w.Warranty {
					t.Errorf("line %d: warranty %q, want %q", w.Line, d.Warranty.Status, w.Warranty)
				}
			}
		})
	}

	// Every mail with item rows is covered here.
	for name, m := range expected {
		if m.Reply == "results" {
			if _, ok := fixtureSubmissions[name]; !ok {
				t.Errorf("%s: no submission in fixtureSubmissions", name)
			}
		}
	}

	// The reply to 03 points to the portal and the one to 04 to the helpdesk: rules gives both.
	if d := e.Evaluate(fixtureSubmissions["03-fr-ubiquiti.eml"], testNow)[0]; d.Route.Portal != "https://rma.ui.com/" {
		t.Errorf("03: portal %q", d.Route.Portal)
	}
	if d := e.Evaluate(fixtureSubmissions["04-en-grandstream-no-ticket.eml"], testNow)[0]; d.Problems[0].Params["helpdesk"] != "https://helpdesk.grandstream.com/" {
		t.Errorf("04: problem %+v", d.Problems[0])
	}
	// 13 without the parser's flag gives the same verdict from CheckEAN.
	sci := fixtureSubmissions["13-ro-scientific-ean.eml"]
	sci.Items = []rma.Item{sci.Items[0]}
	sci.Items[0].ParseProblems = nil
	if d := e.Evaluate(sci, testNow)[0]; !slices.Equal(d.Codes(), []rma.Code{rma.CodeEANInvalid}) || d.Problems[0].Params["reason"] != EANReasonScientific {
		t.Errorf("13 unflagged: %+v", d.Problems)
	}
	// 15 is a paid repair; 20 is the WARRANTY command.
	if d := e.Evaluate(fixtureSubmissions["15-out-of-warranty.eml"], testNow)[0]; !slices.Contains(noteKeys(d), rma.NotePaidRepair) {
		t.Errorf("15: notes %v, want paid_repair", noteKeys(d))
	}
	if a := e.Warranty("P-RO-002", "4712633000024", "", testNow); fmtDate(a.Warranty.Until) != "2028-06-15" || a.Warranty.Status != rma.WarrantyIn {
		t.Errorf("20: warranty %+v", a.Warranty)
	}
}
