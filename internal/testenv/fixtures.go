package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// Expectation is one mail's entry in testdata/expected.json: what must come of it.
type Expectation struct {
	Reply       string        `json:"reply"` // results | registration | status | warranty | none
	Rows        []ExpectedRow `json:"rows"`
	Contains    []string      `json:"contains"`
	NotContains []string      `json:"not_contains"`
}

// ExpectedRow is one item of a results reply. Codes are sorted; an empty Handling or Warranty
// is not checked.
type ExpectedRow struct {
	Line     int                `json:"line"`
	Result   rma.Result         `json:"result"`
	Codes    []rma.Code         `json:"codes"`
	Handling rma.Handling       `json:"handling"`
	Warranty rma.WarrantyStatus `json:"warranty"`
}

// Expected reads testdata/expected.json from the testdata folder dir, by mail file name.
func Expected(t testing.TB, dir string) map[string]Expectation {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]Expectation
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(exp) == 0 {
		t.Fatal("expected.json lists no mails")
	}
	return exp
}

// SampleConfig is config.sample.yaml's meaning as a value (routing, claim types, policy,
// service centres; the defaults hold the claim types and policy), with the data files of the
// testdata folder dir. Tests of rules and parsing use it without the YAML loader.
func SampleConfig(dir string) *config.Config {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	cfg := config.Defaults()
	cfg.PartnersFile = filepath.Join(dir, "partners.yaml")
	cfg.CatalogFile = filepath.Join(dir, "catalog.csv")
	cfg.SalesFile = filepath.Join(dir, "sales.csv")
	cfg.ServiceCenters = config.ServiceCenters{
		Centers: map[string]config.ServiceCenter{
			"GR": {Name: "Example Distribution Service GR", Address: "Example Street 1, 14451 Metamorfosi, Greece"},
			"RO": {Name: "Example Distribution Service RO", Address: "Example Street 3, 031041 Bucharest, Romania"},
		},
		Default: "GR",
	}
	cfg.Routing = config.Routing{Default: "in_house", Brands: map[string]config.BrandRouting{
		"Grandstream": {Handling: "vendor_ticket", Helpdesk: "https://helpdesk.grandstream.com/"},
		"DJI":         {Handling: "forward", ForwardTo: "rma@dji.example"},
		"EcoFlow":     {Handling: "forward", ForwardTo: "service@ecoflow.example"},
		"Ubiquiti":    {Handling: "vendor_direct", Portal: "https://rma.ui.com/"},
		"Ruckus":      {Handling: "vendor_direct", Portal: "https://support.ruckuswireless.com/"},
		"Innovaphone": {Handling: "vendor_direct", Portal: "https://rma.innovaphone.com/"},
		"Gigaset":     {Handling: "vendor_direct", Portal: "https://g-estore.com/logistics/repair_form_pro.php"},
	}}
	cfg.Limits = config.Limits{MaxMessageBytes: 26214400, MaxItemsPerSubmission: 1000}
	cfg.Security.AuthservID = "mx.example.com"
	return &cfg
}

// CodeStrings are the row's codes as they appear in rma-results.csv and JSON.
func (r ExpectedRow) CodeStrings() []string {
	out := make([]string, len(r.Codes))
	for i, c := range r.Codes {
		out[i] = string(c)
	}
	return out
}
