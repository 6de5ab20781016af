package rules

import (
	"testing"
	"time"

	"github.com/rmad/rmad/config"
)

// testConfig mirrors the routing, claim_types, policy and service_centers of
// /work/shared/config.sample.yaml, with the fixtures' data files. It does not use config.Load,
// so these tests do not depend on the loader.
func testConfig() *config.Config {
	return &config.Config{
		PartnersFile: fixturePartners,
		CatalogFile:  fixtureCatalog,
		SalesFile:    fixtureSales,
		ServiceCenters: config.ServiceCenters{
			Centers: map[string]config.ServiceCenter{
				"GR": {Name: "Example Distribution Service GR", Address: "Example Street 1, 14451 Metamorfosi, Greece"},
				"RO": {Name: "Example Distribution Service RO", Address: "Example Street 3, 031041 Bucharest, Romania"},
			},
			Default: "GR",
		},
		Routing: config.Routing{
			Default: "in_house",
			Brands: map[string]config.BrandRouting{
				"Grandstream": {Handling: "vendor_ticket", Helpdesk: "https://helpdesk.grandstream.com/"},
				"DJI":         {Handling: "forward", ForwardTo: "rma@dji.example"},
				"EcoFlow":     {Handling: "forward", ForwardTo: "service@ecoflow.example"},
				"Ubiquiti":    {Handling: "vendor_direct", Portal: "https://rma.ui.com/"},
				"Ruckus":      {Handling: "vendor_direct", Portal: "https://support.ruckuswireless.com/"},
				"Innovaphone": {Handling: "vendor_direct", Portal: "https://rma.innovaphone.com/"},
				"Gigaset":     {Handling: "vendor_direct", Portal: "https://g-estore.com/logistics/repair_form_pro.php"},
			},
		},
		ClaimTypes: config.ClaimTypes{
			"defective":      {},
			"order_error":    {},
			"delivery_error": {},
			"fast_refund":    {Requires: []string{"iban"}},
			"dji_care":       {Brands: []string{"DJI"}},
			"dji_warranty":   {Brands: []string{"DJI"}},
		},
		Policy: config.Policy{
			SerialRequiredBrands: []string{"DJI", "EcoFlow", "Smartmi", "Edifier", "Viomi", "Roidmi", "Dreame", "Amazfit", "Deerma"},
			MinDescriptionChars:  15,
			OutOfWarranty:        "paid_repair",
			NoFaultFoundFee:      "15 EUR incl. VAT",
			RestockingFeePercent: 15,
			AwaitingGoodsDays:    14,
			CustomerDelayDays:    10,
			UncollectedDays:      15,
		},
	}
}

// testNow is when the fixture mails arrive.
var testNow = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// testEngine loads the fixtures' data into an engine with cfg (testConfig when nil).
func testEngine(t testing.TB, cfg *config.Config) *Engine {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	d, err := LoadData(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	return NewEngine(cfg, d)
}
