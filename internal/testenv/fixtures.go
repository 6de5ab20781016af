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

// SampleConfig is config.sample.yaml's meaning as a value (config.Sample: routing, claim types,
// policy, service centres, limits), with the data files of the testdata folder dir. Tests of
// rules and parsing use it without writing a file. The sample is embedded: a broken one panics
// here, and config's tests say why.
func SampleConfig(dir string) *config.Config {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	cfg, err := config.Sample()
	if err != nil {
		panic("testenv: " + err.Error())
	}
	cfg.PartnersFile = filepath.Join(dir, "partners.yaml")
	cfg.CatalogFile = filepath.Join(dir, "catalog.csv")
	cfg.SalesFile = filepath.Join(dir, "sales.csv")
	return cfg
}

// CodeStrings are the row's codes as they appear in rma-results.csv and JSON.
func (r ExpectedRow) CodeStrings() []string {
	out := make([]string, len(r.Codes))
	for i, c := range r.Codes {
		out[i] = string(c)
	}
	return out
}
