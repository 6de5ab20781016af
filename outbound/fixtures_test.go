package outbound

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
	"github.com/rmad/rmad/rma"
)

// TestFixtureAnswers composes what rmad sends for the sample mails whose answers testdata
// checks by content, from the decisions rules makes for them, and checks expected.json.
func TestFixtureAnswers(t *testing.T) {
	expected := testenv.Expected(t, "../testdata")
	c := testComposer()
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	mailFrom := func(loc, id, subject string) rma.Submission {
		s := submissionFor(loc, subject)
		s.Source.MessageID = id
		s.References = nil
		return s
	}

	compose := map[string]func() (Message, []rma.Decision, error){
		"03-fr-ubiquiti.eml": func() (Message, []rma.Decision, error) {
			ds := []rma.Decision{{Line: 1, Item: rma.Item{Line: 1, EAN: "0810088000058", Serial: "7483C2A1B2C3", PurchaseDate: "12/04/2026"},
				Result: rma.ResultRedirected, Route: rma.Route{Handling: rma.HandlingVendorDirect, Portal: "https://rma.ui.com/"},
				Product: uap, Warranty: rma.Warranty{Status: rma.WarrantyIn, Until: day0("2028-04-12")}}}
			m, err := c.Reply(mailFrom("fr", "pub-3-a1@telecompro.fr", "Retour produit défectueux"), partners["fr"], ds, at)
			return m, ds, err
		},
		"04-en-grandstream-no-ticket.eml": func() (Message, []rma.Decision, error) {
			ds := []rma.Decision{rejected(1, grp2612, rma.Item{EAN: grp2612.EAN, Serial: "20EZ8K1234", PurchaseDate: "2026-07-01"},
				rma.NewProblem(rma.CodeVendorTicketRequired, "vendor_ticket", "brand", "Grandstream", "helpdesk", "https://helpdesk.grandstream.com/"))}
			m, err := c.Reply(mailFrom("en", "pub-4-a1@cyprusnet.example", "RMA request GRP2612"), partners["en"], ds, at)
			return m, ds, err
		},
		"12-status-command.eml": func() (Message, []rma.Decision, error) {
			rec := statusRecord()
			rec.Status = rma.StatusAwaitingGoods
			rec.History = rec.History[:1]
			m, err := c.StatusAnswer(mailFrom("el", "pub-12-a1@alfa-computers.gr", "STATUS ALFA-7781"), partners["el"], "ALFA-7781", []rma.Record{rec}, at)
			return m, nil, err
		},
		"20-warranty-command.eml": func() (Message, []rma.Decision, error) {
			w := WarrantyInfo{EAN: qnap.EAN, Product: qnap, Purchase: day0("2026-06-15"), Until: day0("2028-06-15"), Status: rma.WarrantyIn}
			m, err := c.WarrantyAnswer(mailFrom("ro", "pub-20-a1@nova-it.ro", "WARRANTY 4712633000024"), partners["ro"], w, at)
			return m, nil, err
		},
	}
	for name, fn := range compose {
		t.Run(name, func(t *testing.T) {
			exp, ok := expected[name]
			if !ok {
				t.Fatalf("%s is not in expected.json", name)
			}
			m, ds, err := fn()
			if err != nil {
				t.Fatal(err)
			}
			p := parse(t, m)
			mustContain(t, name+" answer", p.body, exp.Contains...)
			mustNotContain(t, name+" answer", p.body, exp.NotContains...)
			if exp.Reply != "results" {
				return
			}
			rows, err := csv.NewReader(bytes.NewReader(p.files[ResultsFilename])).ReadAll()
			if err != nil || len(rows) != len(exp.Rows)+1 || len(ds) != len(exp.Rows) {
				t.Fatalf("rma-results.csv: %d rows (%v), want %d", len(rows)-1, err, len(exp.Rows))
			}
			for i, want := range exp.Rows {
				row := rows[i+1]
				codes := strings.Split(row[8], "|")
				if row[8] == "" {
					codes = nil
				}
				slices.Sort(codes)
				if row[0] != strconv.Itoa(want.Line) || row[4] != string(want.Result) || !slices.Equal(codes, want.CodeStrings()) ||
					(want.Handling != "" && row[6] != string(want.Handling)) || (want.Warranty != "" && row[7] != string(want.Warranty)) {
					t.Errorf("row %d = %q, want %+v", i+1, row, want)
				}
			}
		})
	}
}
