package ingest_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rmad/rmad/ingest"
	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
)

// fixtureNow is the fixed "today" of the fixture expectations (README: a date in 2026 or 2027).
var fixtureNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// pipeline is parse + rules as the daemon runs them, without the store.
type pipeline struct {
	parser *ingest.Parser
	engine *rules.Engine
}

func newPipeline(t testing.TB) pipeline {
	t.Helper()
	cfg := testenv.SampleConfig("../testdata")
	data, err := rules.LoadData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pipeline{
		parser: &ingest.Parser{Partners: data.Partners, Limits: cfg.Limits, Security: cfg.Security,
			OwnAddresses: []string{"Example Distribution RMA <rma@distributor.example>"}},
		engine: rules.NewEngine(cfg, data),
	}
}

// TestFixtures runs every sample mail through parse + rules and compares with expected.json.
// What needs the store is left out: a duplicate can only be accepted here, and command answers
// are not made here (the kind is checked).
func TestFixtures(t *testing.T) {
	expected := testenv.Expected(t, "../testdata")
	files, _ := filepath.Glob("../testdata/mails/*.eml")
	if len(files) != len(expected) || len(files) == 0 {
		t.Fatalf("%d mails, %d expectations", len(files), len(expected))
	}
	p := newPipeline(t)
	wantKind := map[string]rma.Kind{"results": rma.KindSubmission, "registration": rma.KindUnknownSender,
		"none": rma.KindIgnored, "status": rma.KindCommand, "warranty": rma.KindCommand}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			exp, ok := expected[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sub, err := p.parser.ParseMail(f)
			if err != nil {
				t.Fatal(err)
			}
			if sub.Kind != wantKind[exp.Reply] {
				t.Fatalf("kind %q (why %q), want %q", sub.Kind, sub.Why, wantKind[exp.Reply])
			}
			if sub.Kind == rma.KindCommand {
				want := map[string]string{"status": rma.CommandStatus, "warranty": rma.CommandWarranty}[exp.Reply]
				if sub.Command == nil || sub.Command.Name != want {
					t.Fatalf("command %+v, want %s", sub.Command, want)
				}
			}
			if sub.Kind != rma.KindSubmission {
				return
			}
			decisions := p.engine.Evaluate(sub, fixtureNow)
			if len(decisions) != len(exp.Rows) {
				t.Fatalf("%d rows, want %d\nitems: %+v\nproblems: %+v", len(decisions), len(exp.Rows), sub.Items, sub.Problems)
			}
			for i, d := range decisions {
				w := exp.Rows[i]
				codes := d.Codes()
				slices.Sort(codes)
				wantResult := w.Result
				if wantResult == rma.ResultDuplicate {
					wantResult = rma.ResultAccepted // the store makes duplicates
				}
				if d.Line != w.Line || d.Result != wantResult || !slices.Equal(codes, w.Codes) {
					t.Errorf("row %d: line %d %s %v, want line %d %s %v\nitem %+v\nproblems %+v",
						i, d.Line, d.Result, codes, w.Line, wantResult, w.Codes, d.Item, d.Problems)
				}
				if w.Handling != "" && d.Route.Handling != w.Handling {
					t.Errorf("row %d: handling %q, want %q", i, d.Route.Handling, w.Handling)
				}
				if w.Warranty != "" && d.Warranty.Status != w.Warranty {
					t.Errorf("row %d: warranty %q, want %q", i, d.Warranty.Status, w.Warranty)
				}
			}
		})
	}
}
