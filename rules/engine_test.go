package rules

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// Valid items of the fixture catalog, changed per test case.
func router() rma.Item { // TP-Link, in_house, 36 months, not bulk
	return rma.Item{Line: 1, EAN: "5204001000013", Serial: "RT-1", PurchaseDate: "2026-06-01", Description: "Router reboots every few minutes."}
}

func drone() rma.Item { // DJI, forward, serial required, fault types
	return rma.Item{Line: 1, EAN: "6903466000031", Serial: "SN-DJI-0001", PurchaseDate: "2026-05-04", Description: "Battery does not charge at all.", FaultType: "battery"}
}

func with(it rma.Item, f func(*rma.Item)) rma.Item { f(&it); return it }

const (
	partnerGR = "P-GR-001"
	partnerCY = "P-EN-004"
)

func evaluateOne(t *testing.T, e *Engine, partner string, it rma.Item, subProblems ...rma.Problem) rma.Decision {
	t.Helper()
	ds := e.Evaluate(rma.Submission{PartnerID: partner, Items: []rma.Item{it}, Problems: subProblems, HasProof: true}, testNow)
	if len(ds) != 1 {
		t.Fatalf("got %d decisions, want 1", len(ds))
	}
	return ds[0]
}

// changed is testConfig with a test case's changes.
func changed(change func(*config.Config)) *config.Config {
	cfg := testConfig()
	if change != nil {
		change(cfg)
	}
	return cfg
}

// orCY is the partner of a test case, the Cypriot one by default.
func orCY(partner string) string {
	if partner == "" {
		return partnerCY
	}
	return partner
}

func sortedCodes(d rma.Decision) []rma.Code {
	c := d.Codes()
	slices.Sort(c)
	return c
}

func codes(cs ...rma.Code) []rma.Code {
	slices.Sort(cs)
	if cs == nil {
		cs = []rma.Code{}
	}
	return cs
}

func noteKeys(d rma.Decision) []rma.NoteKey {
	var out []rma.NoteKey
	for _, n := range d.Notes {
		out = append(out, n.Key)
	}
	return out
}

// TestEvaluateProblems has a case for every problem code; TestEvaluateCoversEveryCode checks so.
var problemCases = []struct {
	name    string
	cfg     func(*config.Config) // changes to testConfig, or nil
	partner string
	item    rma.Item
	sub     []rma.Problem // submission-level problems
	want    []rma.Code
	params  map[string]string // Params of the first problem
}{
	{name: "valid router", item: router(), want: codes()},
	{name: "valid drone", partner: partnerGR, item: drone(), want: codes()},
	{name: "ean check digit", item: with(router(), func(i *rma.Item) { i.EAN = "5204001000016" }),
		want: codes(rma.CodeEANInvalid), params: map[string]string{"reason": "check_digit", "expected_check": "3"}},
	{name: "ean scientific notation", item: with(router(), func(i *rma.Item) { i.EAN = "5.90123E+12" }),
		want: codes(rma.CodeEANInvalid), params: map[string]string{"reason": "scientific_notation", "value": "5.90123E+12"}},
	{name: "ean flagged by the parser is not checked again", item: with(router(), func(i *rma.Item) {
		i.EAN = "5.90123E+12"
		i.ParseProblems = []rma.Problem{rma.NewProblem(rma.CodeEANInvalid, "ean", "value", "5.90123E+12", "reason", "scientific_notation")}
	}), want: codes(rma.CodeEANInvalid)},
	{name: "ean missing", item: with(router(), func(i *rma.Item) { i.EAN = "" }),
		want: codes(rma.CodeEANInvalid), params: map[string]string{"reason": "missing"}},
	{name: "ean unknown", item: with(router(), func(i *rma.Item) { i.EAN = "4006381333931" }),
		want: codes(rma.CodeEANUnknown), params: map[string]string{"value": "4006381333931"}},
	{name: "unknown product skips product checks", item: with(router(), func(i *rma.Item) {
		i.EAN, i.Quantity, i.ClaimType, i.Serial = "4006381333931", "5", "dji_care", ""
	}), want: codes(rma.CodeEANUnknown)},
	{name: "serial required", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.Serial = "" }),
		want: codes(rma.CodeSerialRequired), params: map[string]string{"brand": "DJI"}},
	{name: "serial required, brand listed in other case", cfg: func(c *config.Config) { c.Policy.SerialRequiredBrands = []string{"dji"} },
		item: with(drone(), func(i *rma.Item) { i.Serial = " " }), want: codes(rma.CodeSerialRequired)},
	{name: "date missing", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "" }),
		want: codes(rma.CodeDateInvalid), params: map[string]string{"reason": "missing"}},
	{name: "date unreadable", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "June 2026" }),
		want: codes(rma.CodeDateInvalid), params: map[string]string{"reason": "format", "value": "June 2026"}},
	{name: "date not in the calendar", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "31.02.2026" }),
		want: codes(rma.CodeDateInvalid), params: map[string]string{"reason": "calendar"}},
	{name: "date in the future", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2099-01-01" }),
		want: codes(rma.CodeDateInFuture), params: map[string]string{"value": "2099-01-01"}},
	{name: "date tomorrow", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "03.11.2026" }),
		want: codes(rma.CodeDateInFuture)},
	{name: "date today", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "02/11/2026" }), want: codes()},
	{name: "description short", item: with(router(), func(i *rma.Item) { i.Description = "  broken      " }),
		want: codes(rma.CodeDescriptionMissing), params: map[string]string{"min": "15"}},
	{name: "description empty", item: with(router(), func(i *rma.Item) { i.Description = "" }), want: codes(rma.CodeDescriptionMissing)},
	{name: "description counts letters, not bytes", item: with(router(), func(i *rma.Item) { i.Description = "Δεν ανάβει ποτέ" }), want: codes()},
	{name: "claim type unknown", item: with(router(), func(i *rma.Item) { i.ClaimType = "goodwill" }),
		want: codes(rma.CodeClaimTypeInvalid), params: map[string]string{"value": "goodwill", "allowed": "defective|delivery_error|dji_care|dji_warranty|fast_refund|order_error"}},
	{name: "claim type as typed", item: with(router(), func(i *rma.Item) { i.ClaimType = "Delivery error" }), want: codes()},
	{name: "claim type of another brand", item: with(router(), func(i *rma.Item) { i.ClaimType = "dji_care" }),
		want: codes(rma.CodeClaimTypeNotAllowed), params: map[string]string{"brand": "TP-Link", "brands": "DJI"}},
	{name: "claim type of the brand", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.ClaimType = "DJI_Care" }), want: codes()},
	{name: "vendor ticket missing", item: rma.Item{EAN: "6940614000048", PurchaseDate: "2026-07-01", Description: "Handset has no audio on calls."},
		want: codes(rma.CodeVendorTicketRequired), params: map[string]string{"helpdesk": "https://helpdesk.grandstream.com/", "brand": "Grandstream"}},
	{name: "fault type missing", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.FaultType = "" }),
		want: codes(rma.CodeFaultTypeRequired), params: map[string]string{"allowed": "no power|gimbal error|crash damage|battery"}},
	{name: "fault type not in the list", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.FaultType = "wing broken" }),
		want: codes(rma.CodeFaultTypeInvalid), params: map[string]string{"value": "wing broken", "allowed": "no power|gimbal error|crash damage|battery"}},
	{name: "fault type in other case and spacing", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.FaultType = "  Gimbal   ERROR " }), want: codes()},
	{name: "fault type given where none are listed", item: with(router(), func(i *rma.Item) { i.FaultType = "anything" }), want: codes()},
	{name: "quantity above 1, not bulk", item: with(router(), func(i *rma.Item) { i.Quantity = "5" }),
		want: codes(rma.CodeQuantityInvalid), params: map[string]string{"reason": "not_bulk", "value": "5"}},
	{name: "quantity zero", item: with(router(), func(i *rma.Item) { i.Quantity = "0" }),
		want: codes(rma.CodeQuantityInvalid), params: map[string]string{"reason": "not_positive"}},
	{name: "quantity negative", item: with(router(), func(i *rma.Item) { i.Quantity = "-2" }), want: codes(rma.CodeQuantityInvalid)},
	{name: "quantity words", item: with(router(), func(i *rma.Item) { i.Quantity = "two" }), want: codes(rma.CodeQuantityInvalid)},
	{name: "quantity huge", item: with(router(), func(i *rma.Item) { i.Quantity = "99999999999999999999999" }), want: codes(rma.CodeQuantityInvalid)},
	{name: "quantity of a bulk product", item: rma.Item{EAN: "5099206000070", PurchaseDate: "01.09.2026", Description: "Left button does not click.", Quantity: "12"}, want: codes()},
	{name: "iban required for fast refund", item: with(router(), func(i *rma.Item) { i.ClaimType = "fast_refund" }),
		want: codes(rma.CodeIBANRequired), params: map[string]string{"claim_type": "fast_refund"}},
	{name: "iban invalid for fast refund", item: with(router(), func(i *rma.Item) { i.ClaimType, i.IBAN = "fast_refund", "CY17 0020 0128 0000 0012 0052 7601" }),
		want: codes(rma.CodeIBANInvalid), params: map[string]string{"reason": "checksum"}},
	{name: "iban valid for fast refund", item: with(router(), func(i *rma.Item) { i.ClaimType, i.IBAN = "fast_refund", "CY17 0020 0128 0000 0012 0052 7600" }), want: codes()},
	{name: "iban checked whenever given", item: with(router(), func(i *rma.Item) { i.IBAN = "GR16 0110 1250" }),
		want: codes(rma.CodeIBANInvalid), params: map[string]string{"reason": "length"}},
	{name: "required field of a configured claim type", cfg: func(c *config.Config) {
		c.ClaimTypes["exchange"] = config.ClaimType{Requires: []string{"serial", "tracking"}}
	}, item: with(router(), func(i *rma.Item) { i.ClaimType, i.Serial = "exchange", "" }),
		want: codes(rma.CodeSerialRequired, rma.Code("tracking_required"))},
	{name: "serial required by brand and claim type is one problem", cfg: func(c *config.Config) {
		c.ClaimTypes["exchange"] = config.ClaimType{Requires: []string{"serial"}}
	}, partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.ClaimType, i.Serial = "exchange", "" }),
		want: codes(rma.CodeSerialRequired)},
	{name: "out of warranty, policy reject", cfg: func(c *config.Config) { c.Policy.OutOfWarranty = "reject" },
		item: rma.Item{EAN: "4712633000024", Serial: "Q19XX0001", PurchaseDate: "2021-01-15", Description: "Both drive bays report errors."},
		want: codes(rma.CodeOutOfWarranty), params: map[string]string{"until": "2023-01-15", "months": "24"}},
	{name: "proof missing", item: router(), sub: []rma.Problem{rma.NewProblem(rma.CodeProofMissing, "")}, want: codes(rma.CodeProofMissing)},
	{name: "proof missing and the item's own problems", item: with(router(), func(i *rma.Item) { i.Description = "dead" }),
		sub: []rma.Problem{rma.NewProblem(rma.CodeProofMissing, "")}, want: codes(rma.CodeProofMissing, rma.CodeDescriptionMissing)},
	{name: "csv invalid", item: router(), sub: []rma.Problem{rma.NewProblem(rma.CodeCSVInvalid, "", "reason", "encoding")}, want: codes(rma.CodeCSVInvalid)},
	{name: "too large", item: router(), sub: []rma.Problem{rma.NewProblem(rma.CodeTooLarge, "")}, want: codes(rma.CodeTooLarge)},
	{name: "no items", item: router(), sub: []rma.Problem{rma.NewProblem(rma.CodeNoItems, "")}, want: codes(rma.CodeNoItems)},
	{name: "every problem at once", partner: partnerGR, item: rma.Item{
		EAN: "6903466000031", PurchaseDate: "31.02.2026", Description: "bad", ClaimType: "fast_refund", Quantity: "3",
	}, want: codes(rma.CodeSerialRequired, rma.CodeDateInvalid, rma.CodeDescriptionMissing, rma.CodeIBANRequired,
		rma.CodeQuantityInvalid, rma.CodeFaultTypeRequired)},
	{name: "grandstream with every problem", item: rma.Item{
		EAN: "6940614000048", PurchaseDate: "2099-12-31", Description: "", ClaimType: "dji_warranty", IBAN: "RO49AAAA",
	}, want: codes(rma.CodeDateInFuture, rma.CodeDescriptionMissing, rma.CodeClaimTypeNotAllowed, rma.CodeIBANInvalid, rma.CodeVendorTicketRequired)},
}

func TestEvaluateProblems(t *testing.T) {
	for _, tt := range problemCases {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluateOne(t, testEngine(t, changed(tt.cfg)), orCY(tt.partner), tt.item, tt.sub...)
			if got := sortedCodes(d); !slices.Equal(got, tt.want) {
				t.Fatalf("codes = %v, want %v (problems %+v)", got, tt.want, d.Problems)
			}
			if len(tt.want) == 0 {
				if d.Result == rma.ResultRejected {
					t.Errorf("result = rejected without problems")
				}
				return
			}
			if d.Result != rma.ResultRejected || d.Route.Handling != "" {
				t.Errorf("result %s handling %q, want rejected with no handling", d.Result, d.Route.Handling)
			}
			for k, v := range tt.params {
				if got := d.Problems[0].Params[k]; got != v {
					t.Errorf("Params[%q] = %q, want %q (problem %+v)", k, got, v, d.Problems[0])
				}
			}
		})
	}
}

func TestEvaluateCoversEveryCode(t *testing.T) {
	seen := map[rma.Code]bool{}
	for _, tt := range problemCases {
		for _, c := range tt.want {
			seen[c] = true
		}
	}
	for _, c := range rma.AllCodes {
		if !seen[c] {
			t.Errorf("no problem case for %s", c)
		}
	}
}

func TestEvaluateHandling(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*config.Config)
		partner string
		item    rma.Item
		result  rma.Result
		route   rma.Route
	}{
		{name: "in_house by default", item: router(), result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingInHouse}},
		{name: "vendor_ticket with ticket", item: rma.Item{EAN: "6940614000048", PurchaseDate: "2026-07-01", Description: "Handset has no audio on calls.", VendorTicket: "GS-TKT-558120"},
			result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingVendorTicket, Helpdesk: "https://helpdesk.grandstream.com/"}},
		{name: "forward DJI", partner: partnerGR, item: drone(), result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingForward, ForwardTo: "rma@dji.example"}},
		{name: "forward EcoFlow", item: rma.Item{EAN: "6910070000067", Serial: "EF-1", PurchaseDate: "2026-01-10", Description: "Does not charge from the wall."},
			result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingForward, ForwardTo: "service@ecoflow.example"}},
		{name: "vendor_direct Ubiquiti", item: rma.Item{EAN: "0810088000058", PurchaseDate: "12/04/2026", Description: "Access point does not boot, no LED."},
			result: rma.ResultRedirected, route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}},
		{name: "brand key in other case", cfg: func(c *config.Config) {
			c.Routing.Brands = map[string]config.BrandRouting{"UBIQUITI": {Handling: "vendor_direct", Portal: "https://rma.ui.com/"}}
		}, item: rma.Item{EAN: "0810088000058", PurchaseDate: "12/04/2026", Description: "Access point does not boot, no LED."},
			result: rma.ResultRedirected, route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"}},
		{name: "default from config", cfg: func(c *config.Config) { c.Routing.Default = "vendor_ticket" },
			item: with(router(), func(i *rma.Item) { i.VendorTicket = "T-1" }), result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingVendorTicket}},
		{name: "unknown handling goes in_house", cfg: func(c *config.Config) {
			c.Routing.Brands["TP-Link"] = config.BrandRouting{Handling: "vendor-direct"}
		}, item: router(), result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingInHouse}},
		{name: "empty config routes in_house", cfg: func(c *config.Config) { c.Routing = config.Routing{} },
			item:   rma.Item{EAN: "0810088000058", PurchaseDate: "12/04/2026", Description: "Access point does not boot, no LED."},
			result: rma.ResultAccepted, route: rma.Route{Handling: rma.HandlingInHouse}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := evaluateOne(t, testEngine(t, changed(tt.cfg)), orCY(tt.partner), tt.item)
			if d.Result != tt.result || d.Route != tt.route || len(d.Problems) != 0 {
				t.Errorf("got %s %+v %v, want %s %+v", d.Result, d.Route, d.Codes(), tt.result, tt.route)
			}
			if d.NeedsNumber() != (tt.result == rma.ResultAccepted) {
				t.Errorf("NeedsNumber = %v", d.NeedsNumber())
			}
		})
	}
}

func TestEvaluateWarranty(t *testing.T) {
	day := func(s string) time.Time { d, err := ParseDate(s); must(t, err); return d }
	nas := rma.Item{EAN: "4712633000024", Serial: "Q19XX0001", PurchaseDate: "2021-01-15", Description: "Both drive bays report errors."}
	tests := []struct {
		name    string
		cfg     func(*config.Config)
		partner string
		item    rma.Item
		now     time.Time // testNow when zero
		result  rma.Result
		codes   []rma.Code
		status  rma.WarrantyStatus
		until   string
		notes   []rma.NoteKey
	}{
		{name: "in warranty", item: router(), result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyIn, until: "2029-06-01", notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "expired, paid repair", item: nas, result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyExpired, until: "2023-01-15",
			notes: []rma.NoteKey{rma.NoteSerialNotInSales, rma.NotePaidRepair}},
		{name: "expired, reject", cfg: func(c *config.Config) { c.Policy.OutOfWarranty = "reject" }, item: nas,
			result: rma.ResultRejected, codes: codes(rma.CodeOutOfWarranty), status: rma.WarrantyExpired, until: "2023-01-15", notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "expired vendor_direct: the vendor decides", cfg: func(c *config.Config) { c.Policy.OutOfWarranty = "reject" },
			item:   rma.Item{EAN: "0810088000058", PurchaseDate: "2020-01-01", Description: "Access point does not boot, no LED."},
			result: rma.ResultRedirected, codes: codes(), status: rma.WarrantyExpired, until: "2022-01-01"},
		{name: "last day covered", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2023-11-02" }),
			result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyIn, until: "2026-11-02", notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "a day after the end", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2023-11-01" }),
			result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyExpired, until: "2026-11-01", notes: []rma.NoteKey{rma.NoteSerialNotInSales, rma.NotePaidRepair}},
		{name: "unknown product", item: with(router(), func(i *rma.Item) { i.EAN = "4006381333931" }),
			result: rma.ResultRejected, codes: codes(rma.CodeEANUnknown), status: rma.WarrantyUnknown, notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "no date", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "" }),
			result: rma.ResultRejected, codes: codes(rma.CodeDateInvalid), status: rma.WarrantyUnknown, notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "future date", item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2099-01-01" }),
			result: rma.ResultRejected, codes: codes(rma.CodeDateInFuture), status: rma.WarrantyUnknown, notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "date from the sales record", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.PurchaseDate = "" }),
			result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyIn, until: "2027-05-04", notes: []rma.NoteKey{rma.NoteDateFromSales}},
		{name: "drone expired a year on", partner: partnerGR, item: drone(), now: time.Date(2027, 5, 5, 12, 0, 0, 0, time.UTC),
			result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyExpired, until: "2027-05-04", notes: []rma.NoteKey{rma.NotePaidRepair}},
		// Just after midnight in Athens it is already 2 November there, though not in UTC.
		{name: "today in the schedule's time zone", cfg: func(c *config.Config) { c.Schedule.Location = testenv.Athens },
			item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2026-11-02" }), now: time.Date(2026, 11, 1, 22, 30, 0, 0, time.UTC),
			result: rma.ResultAccepted, codes: codes(), status: rma.WarrantyIn, until: "2029-11-02", notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "without a time zone, now's own day", cfg: func(c *config.Config) { c.Schedule.Location = nil }, item: with(router(), func(i *rma.Item) { i.PurchaseDate = "2026-11-02" }), now: time.Date(2026, 11, 1, 22, 30, 0, 0, time.UTC),
			result: rma.ResultRejected, codes: codes(rma.CodeDateInFuture), status: rma.WarrantyUnknown, notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			ds := testEngine(t, changed(tt.cfg)).Evaluate(rma.Submission{PartnerID: orCY(tt.partner), Items: []rma.Item{tt.item}}, now)
			d := ds[0]
			if d.Result != tt.result || !slices.Equal(sortedCodes(d), tt.codes) || d.Warranty.Status != tt.status {
				t.Errorf("got %s %v %s, want %s %v %s", d.Result, d.Codes(), d.Warranty.Status, tt.result, tt.codes, tt.status)
			}
			if tt.until == "" && !d.Warranty.Until.IsZero() || tt.until != "" && !d.Warranty.Until.Equal(day(tt.until)) {
				t.Errorf("until = %v, want %q", d.Warranty.Until, tt.until)
			}
			if !slices.Equal(noteKeys(d), tt.notes) {
				t.Errorf("notes = %v, want %v", noteKeys(d), tt.notes)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEvaluateDateFormats(t *testing.T) {
	e := testEngine(t, nil)
	for _, in := range []string{"2026-03-21", "21.03.2026", "21/03/2026", "21-03-2026", " 21.3.2026 "} {
		d := evaluateOne(t, e, partnerCY, with(router(), func(i *rma.Item) { i.PurchaseDate = in }))
		if len(d.Problems) != 0 || d.Purchase.Format(isoDate) != "2026-03-21" {
			t.Errorf("%q: purchase %v, problems %v", in, d.Purchase, d.Codes())
		}
	}
	for _, in := range []string{"31.02.2026", "30/02/2026", "2026-04-31", "29-02-2026"} {
		d := evaluateOne(t, e, partnerCY, with(router(), func(i *rma.Item) { i.PurchaseDate = in }))
		if !slices.Equal(d.Codes(), []rma.Code{rma.CodeDateInvalid}) || d.Problems[0].Params["reason"] != DateReasonCalendar || !d.Purchase.IsZero() {
			t.Errorf("%q: got %+v purchase %v", in, d.Problems, d.Purchase)
		}
	}
}

func TestEvaluateSalesNotes(t *testing.T) {
	tests := []struct {
		name    string
		partner string
		item    rma.Item
		notes   []rma.Note
		noSales bool
	}{
		{name: "serial and date match the sales record", partner: partnerGR, item: drone()},
		{name: "serial not in the sales records", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.Serial = "SN-DJI-0002" }),
			notes: []rma.Note{{Key: rma.NoteSerialNotInSales, Params: map[string]string{"serial": "SN-DJI-0002"}}}},
		{name: "no note without sales records", noSales: true, partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.Serial = "SN-DJI-0002" })},
		{name: "serial sold to another partner", partner: "P-RO-002", item: with(router(), func(i *rma.Item) { i.Serial = "rt-88812" }),
			notes: []rma.Note{{Key: rma.NoteSerialOtherPartner, Params: map[string]string{"serial": "rt-88812"}}}},
		{name: "date differs from the sales record", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.PurchaseDate = "05.05.2026" }),
			notes: []rma.Note{{Key: rma.NoteDateDiffersFromSale, Params: map[string]string{"given": "2026-05-05", "sales": "2026-05-04"}}}},
		{name: "date taken from the sales record", partner: partnerGR, item: with(drone(), func(i *rma.Item) { i.PurchaseDate = "" }),
			notes: []rma.Note{{Key: rma.NoteDateFromSales, Params: map[string]string{"date": "2026-05-04"}}}},
		{name: "serial of another product", partner: partnerGR, item: with(router(), func(i *rma.Item) { i.Serial = "SN-DJI-0001" }),
			notes: []rma.Note{{Key: rma.NoteEANMismatchSales, Params: map[string]string{"serial": "SN-DJI-0001", "ean": "6903466000031"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEngine(t, nil)
			if tt.noSales {
				d := e.Data()
				e.SetData(&Data{Catalog: d.Catalog, Partners: d.Partners})
			}
			d := evaluateOne(t, e, tt.partner, tt.item)
			if len(d.Problems) != 0 {
				t.Fatalf("problems %+v", d.Problems)
			}
			if len(d.Notes) != len(tt.notes) {
				t.Fatalf("notes = %+v, want %+v", d.Notes, tt.notes)
			}
			for i := range tt.notes {
				if d.Notes[i].Key != tt.notes[i].Key || !maps.Equal(d.Notes[i].Params, tt.notes[i].Params) {
					t.Errorf("note %d = %+v, want %+v", i, d.Notes[i], tt.notes[i])
				}
			}
		})
	}
	// A missing date is not filled from another partner's sale.
	d := evaluateOne(t, testEngine(t, nil), "P-RO-002", with(drone(), func(i *rma.Item) { i.PurchaseDate = "" }))
	if !slices.Equal(d.Codes(), []rma.Code{rma.CodeDateInvalid}) {
		t.Errorf("codes = %v, want date_invalid", d.Codes())
	}
}

func TestEvaluateDecisionFields(t *testing.T) {
	e := testEngine(t, nil)
	items := []rma.Item{
		with(drone(), func(i *rma.Item) { i.Line = 4; i.ClaimType = "DJI Care" }),
		{Line: 5, EAN: "5099206000070", PurchaseDate: "01.09.2026", Description: "Left button does not click.", Quantity: " 12 "},
		{Line: 6, EAN: "bad", ClaimType: "nonsense", Quantity: "x"},
	}
	ds := e.Evaluate(rma.Submission{PartnerID: partnerGR, Items: items}, testNow)
	if len(ds) != 3 {
		t.Fatalf("%d decisions", len(ds))
	}
	d := ds[0]
	if d.Line != 4 || d.Item.Line != 4 || d.ClaimType != "dji_care" || d.Quantity != 1 || d.Product == nil || d.Product.Model != "Mini 4 Pro" ||
		d.Purchase.Format(isoDate) != "2026-05-04" || d.Item.ClaimType != "DJI Care" {
		t.Errorf("drone decision = %+v", d)
	}
	if d := ds[1]; d.Line != 5 || d.Quantity != 12 || d.ClaimType != "defective" || d.Result != rma.ResultAccepted {
		t.Errorf("mouse decision = %+v", d)
	}
	if d := ds[2]; d.Line != 6 || d.Product != nil || d.ClaimType != "" || d.Quantity != 0 || !d.Purchase.IsZero() || d.Result != rma.ResultRejected {
		t.Errorf("bad decision = %+v", d)
	}
	// The parser's verdict on an EAN stands: no product is looked up for a flagged EAN.
	flagged := with(router(), func(i *rma.Item) {
		i.ParseProblems = []rma.Problem{rma.NewProblem(rma.CodeEANInvalid, "ean", "reason", "scientific_notation")}
	})
	if d := evaluateOne(t, e, partnerCY, flagged); d.Product != nil || !slices.Equal(d.Codes(), []rma.Code{rma.CodeEANInvalid}) ||
		d.Problems[0].Params["reason"] != "scientific_notation" {
		t.Errorf("flagged EAN: product %v, problems %+v", d.Product, d.Problems)
	}
	if got := e.Evaluate(rma.Submission{PartnerID: partnerGR}, testNow); len(got) != 0 {
		t.Errorf("no items gave %d decisions", len(got))
	}
}

func TestEngineWithoutData(t *testing.T) {
	for _, e := range []*Engine{NewEngine(nil, nil), NewEngine(testConfig(), &Data{})} {
		d := evaluateOne(t, e, partnerCY, router())
		if !slices.Equal(d.Codes(), []rma.Code{rma.CodeEANUnknown}) {
			t.Errorf("codes = %v, want ean_unknown", d.Codes())
		}
		if a := e.Warranty(partnerCY, "5204001000013", "", testNow); a.Reason != WarrantyReasonEANUnknown {
			t.Errorf("warranty = %+v", a)
		}
	}
	// The default claim types (docs/contract.md §4) apply when the configuration lists none.
	cfg := testConfig()
	cfg.ClaimTypes = nil
	d := evaluateOne(t, testEngine(t, cfg), partnerCY, with(router(), func(i *rma.Item) { i.ClaimType = "fast_refund" }))
	if !slices.Equal(d.Codes(), []rma.Code{rma.CodeIBANRequired}) {
		t.Errorf("codes = %v, want iban_required", d.Codes())
	}
}

func TestWarrantyCommand(t *testing.T) {
	e := testEngine(t, nil)
	tests := []struct {
		name                 string
		partner, ean, serial string
		now                  time.Time
		status               rma.WarrantyStatus
		until, invoice       string
		bySerial             bool
		reason               string
		notes                []rma.NoteKey
	}{
		{name: "fixture 20: latest purchase", partner: "P-RO-002", ean: "4712633000024", status: rma.WarrantyIn, until: "2028-06-15", invoice: "INV-RO-1877"},
		{name: "last day", partner: "P-RO-002", ean: "4712633000024", now: time.Date(2028, 6, 15, 20, 0, 0, 0, time.UTC), status: rma.WarrantyIn, until: "2028-06-15", invoice: "INV-RO-1877"},
		{name: "day after", partner: "P-RO-002", ean: "4712633000024", now: time.Date(2028, 6, 16, 0, 0, 0, 0, time.UTC), status: rma.WarrantyExpired, until: "2028-06-15", invoice: "INV-RO-1877"},
		{name: "by serial", partner: partnerGR, ean: "6903466000031", serial: "sn-dji-0001", status: rma.WarrantyIn, until: "2027-05-04", invoice: "INV-GR-5521", bySerial: true},
		{name: "serial unknown: latest purchase", partner: partnerGR, ean: "5204001000013", serial: "RT-00000", status: rma.WarrantyIn, until: "2029-02-10", invoice: "INV-GR-4410",
			notes: []rma.NoteKey{rma.NoteSerialNotInSales}},
		{name: "serial of another partner: latest purchase", partner: "P-RO-002", ean: "4712633000024", serial: "RT-88812", status: rma.WarrantyIn, until: "2028-06-15", invoice: "INV-RO-1877",
			notes: []rma.NoteKey{rma.NoteSerialOtherPartner}},
		{name: "serial of another product", partner: partnerGR, ean: "5204001000013", serial: "SN-DJI-0001", status: rma.WarrantyIn, until: "2029-02-10", invoice: "INV-GR-4410",
			notes: []rma.NoteKey{rma.NoteEANMismatchSales}},
		{name: "no purchase", partner: "P-FR-003", ean: "4712633000024", status: rma.WarrantyUnknown, reason: WarrantyReasonNoPurchase},
		{name: "unknown ean", partner: "P-RO-002", ean: "4006381333931", status: rma.WarrantyUnknown, reason: WarrantyReasonEANUnknown},
		{name: "invalid ean", partner: "P-RO-002", ean: "4712633000025", status: rma.WarrantyUnknown, reason: WarrantyReasonEANInvalid},
		{name: "scientific ean", partner: "P-RO-002", ean: "4.71263E+12", status: rma.WarrantyUnknown, reason: WarrantyReasonEANInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			a := e.Warranty(tt.partner, tt.ean, tt.serial, now)
			if a.Warranty.Status != tt.status || a.Reason != tt.reason || a.BySerial != tt.bySerial {
				t.Errorf("got %s reason %q bySerial %v, want %s %q %v", a.Warranty.Status, a.Reason, a.BySerial, tt.status, tt.reason, tt.bySerial)
			}
			if got := fmtDate(a.Warranty.Until); got != tt.until {
				t.Errorf("until = %s, want %s", got, tt.until)
			}
			if tt.invoice != "" && (a.Sale == nil || a.Sale.Invoice != tt.invoice) {
				t.Errorf("sale = %+v, want invoice %s", a.Sale, tt.invoice)
			}
			if (a.Product != nil) != (tt.reason == "" || tt.reason == WarrantyReasonNoPurchase) {
				t.Errorf("product = %+v", a.Product)
			}
			if (a.Problem != nil) != (tt.reason == WarrantyReasonEANInvalid) {
				t.Errorf("problem = %+v", a.Problem)
			}
			var keys []rma.NoteKey
			for _, n := range a.Notes {
				keys = append(keys, n.Key)
			}
			if !slices.Equal(keys, tt.notes) {
				t.Errorf("notes = %v, want %v", keys, tt.notes)
			}
		})
	}
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(isoDate)
}

func TestServiceCenter(t *testing.T) {
	e := testEngine(t, nil)
	for country, want := range map[string]string{"GR": "GR", "ro": "RO", " RO ": "RO", "FR": "GR", "CY": "GR", "": "GR"} {
		c := e.ServiceCenter(country)
		if c.Country != want || c.Name != "Example Distribution Service "+want || c.Address == "" {
			t.Errorf("ServiceCenter(%q) = %+v, want the %s centre", country, c, want)
		}
	}
	if c := NewEngine(&config.Config{}, nil).ServiceCenter("GR"); c != (rma.ServiceCenter{}) {
		t.Errorf("no centres configured: got %+v", c)
	}
}

// TestSetDataConcurrent runs evaluations while data is swapped (SIGHUP reload); run with -race.
func TestSetDataConcurrent(t *testing.T) {
	e := testEngine(t, nil)
	full := e.Data()
	empty := &Data{}
	sub := rma.Submission{PartnerID: partnerGR, Items: []rma.Item{drone(), router()}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ds := e.Evaluate(sub, testNow)
				// One snapshot per submission: both items see the same data.
				if (ds[0].Product == nil) != (ds[1].Product == nil) {
					t.Errorf("goroutine %d, round %d: items saw different data", g, i)
					return
				}
				_ = e.Warranty("P-RO-002", "4712633000024", "", testNow)
			}
		}()
	}
	for i := range 200 {
		if i%2 == 0 {
			e.SetData(empty)
		} else {
			e.SetData(full)
		}
	}
	wg.Wait()
	e.SetData(nil)
	if e.Data() == nil {
		t.Fatal("Data() is nil after SetData(nil)")
	}
	_ = fmt.Sprint(e.Evaluate(sub, testNow))
}
