package ingest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

type expectedRow struct {
	Line     int      `json:"line"`
	Result   string   `json:"result"`
	Codes    []string `json:"codes"`
	Handling string   `json:"handling"`
	Warranty string   `json:"warranty"`
}

type expectedMail struct {
	Reply string        `json:"reply"`
	Rows  []expectedRow `json:"rows"`
}

// TestFixtures runs every sample mail through parse + rules and compares with expected.json.
// What needs the store is left out: a duplicate can only be accepted here, and command answers
// are not made here (the kind is checked).
func TestFixtures(t *testing.T) {
	raw, err := os.ReadFile("../testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var expected map[string]expectedMail
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
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
				codes := make([]string, 0, len(d.Problems))
				for _, c := range d.Codes() {
					codes = append(codes, string(c))
				}
				slices.Sort(codes)
				wantResult := w.Result
				if wantResult == string(rma.ResultDuplicate) {
					wantResult = string(rma.ResultAccepted) // the store makes duplicates
				}
				got := []string{string(d.Result), strings.Join(codes, ",")}
				want := []string{wantResult, strings.Join(w.Codes, ",")}
				if d.Line != w.Line || !slices.Equal(got, want) {
					t.Errorf("row %d: line %d %v, want line %d %v\nitem %+v\nproblems %+v", i, d.Line, got, w.Line, want, d.Item, d.Problems)
				}
				if w.Handling != "" && string(d.Route.Handling) != w.Handling {
					t.Errorf("row %d: handling %q, want %q", i, d.Route.Handling, w.Handling)
				}
				if w.Warranty != "" && string(d.Warranty.Status) != w.Warranty {
					t.Errorf("row %d: warranty %q, want %q", i, d.Warranty.Status, w.Warranty)
				}
			}
		})
	}
}
