package rules

import (
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/internal/testenv"
)

// testConfig is config.sample.yaml's routing, claim types, policy and service centres with the
// fixtures' data files.
func testConfig() *config.Config { return testenv.SampleConfig("../testdata") }

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
