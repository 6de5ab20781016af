package rma

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNumberRoundTrip(t *testing.T) {
	for _, n := range []Number{{1, 2026}, {42, 2027}, {999999, 2030}} {
		got, err := ParseNumber(n.String())
		if err != nil || got != n {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v", n.String(), got, err, n)
		}
	}
	if got, err := ParseNumber("  rma/7/sr/2026 "); err != nil || got != (Number{7, 2026}) {
		t.Errorf("case and spaces: got %v, %v", got, err)
	}
}

func TestParseNumberRejects(t *testing.T) {
	for _, s := range []string{"", "RMA/0/SR/2026", "RMA/-1/SR/2026", "RMA/01/SR/2026", "RMA/1/SR/26",
		"RMA/1/XX/2026", "RMA/x/SR/2026", "RMA/1/SR/2026/1", "ALFA-7781", "RMA/1/SR/20266"} {
		if _, err := ParseNumber(s); err == nil {
			t.Errorf("ParseNumber(%q) accepted", s)
		}
		if LooksLikeNumber(s) {
			t.Errorf("LooksLikeNumber(%q) = true", s)
		}
	}
}

func TestTransitions(t *testing.T) {
	legal := [][2]Status{
		{StatusAwaitingGoods, StatusReceived},
		{StatusReceived, StatusDiagnosing},
		{StatusDiagnosing, StatusEstimateSent},
		{StatusEstimateSent, StatusRepairing},
		{StatusRepairing, StatusRepaired},
		{StatusDiagnosing, StatusAwaitingAccessories},
		{StatusAwaitingAccessories, StatusDiagnosing},
		{StatusForwardedToVendor, StatusReceived},
		{StatusForwardedToVendor, StatusShippedBack},
		{StatusRepaired, StatusShippedBack},
		{StatusShippedBack, StatusClosed},
		{StatusAwaitingGoods, StatusExpired},
	}
	for _, m := range legal {
		if err := CheckTransition(m[0], m[1]); err != nil {
			t.Errorf("%s → %s refused: %v", m[0], m[1], err)
		}
	}
	illegal := [][2]Status{
		{StatusAwaitingGoods, StatusRepaired},
		{StatusClosed, StatusReceived},
		{StatusReceived, StatusAwaitingGoods},
		{StatusCredited, StatusRepairing},
		{StatusForwardedToVendor, StatusCredited},
	}
	for _, m := range illegal {
		err := CheckTransition(m[0], m[1])
		var te *TransitionError
		if !errors.As(err, &te) || te.From != m[0] || te.To != m[1] {
			t.Errorf("%s → %s: got %v, want a TransitionError", m[0], m[1], err)
			continue
		}
		if !strings.Contains(err.Error(), string(m[0])) || !strings.Contains(err.Error(), string(m[1])) {
			t.Errorf("message %q does not name both statuses", err)
		}
	}
	if err := CheckTransition(StatusAwaitingGoods, "lost"); err == nil || errors.As(err, new(*TransitionError)) {
		t.Errorf("unknown target: got %v, want a plain unknown-status error", err)
	}
	if err := CheckTransition(StatusClosed, StatusReceived); !strings.Contains(err.Error(), "final") {
		t.Errorf("closed should be reported as final: %v", err)
	}
}

// Every status in the table is reachable from a starting status, and every target is a status.
func TestTransitionTableIsClosed(t *testing.T) {
	seen := map[Status]bool{StatusAwaitingGoods: true, StatusForwardedToVendor: true}
	queue := []Status{StatusAwaitingGoods, StatusForwardedToVendor}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range s.Next() {
			if !slices.Contains(AllStatuses, n) {
				t.Fatalf("%s → unknown status %s", s, n)
			}
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	for _, s := range AllStatuses {
		if !seen[s] {
			t.Errorf("status %s is unreachable", s)
		}
		if _, err := ParseStatus(strings.ToUpper(string(s))); err != nil {
			t.Errorf("ParseStatus(%s): %v", s, err)
		}
	}
	if _, err := ParseStatus("lost"); err == nil {
		t.Error("ParseStatus accepted an unknown status")
	}
}

func TestInitialAndOpen(t *testing.T) {
	if InitialStatus(HandlingForward) != StatusForwardedToVendor || InitialStatus(HandlingInHouse) != StatusAwaitingGoods ||
		InitialStatus(HandlingVendorTicket) != StatusAwaitingGoods {
		t.Error("initial statuses differ from docs/contract.md §8")
	}
	for _, s := range []Status{StatusClosed, StatusExpired, StatusShippedBack, StatusCredited} {
		if s.IsOpen() {
			t.Errorf("%s is open", s)
		}
	}
	if !StatusAwaitingGoods.IsOpen() || !StatusDiagnosing.IsOpen() {
		t.Error("active statuses must be open")
	}
}

func TestItemFieldsByName(t *testing.T) {
	var it Item
	for _, f := range Fields {
		if !it.Set(f, f+"-v") {
			t.Fatalf("Set(%s) refused", f)
		}
		if got := it.Get(f); got != f+"-v" {
			t.Errorf("Get(%s) = %q", f, got)
		}
	}
	if it.Set("colour", "x") || it.Get("colour") != "" {
		t.Error("unknown field accepted")
	}
	if it.EAN != "ean-v" || it.ReceiverPays != "receiver_pays-v" {
		t.Error("Set did not write the struct fields")
	}
}

func TestDecisionHelpers(t *testing.T) {
	d := Decision{Result: ResultAccepted, Route: Route{Handling: HandlingVendorDirect},
		Problems: []Problem{NewProblem(CodeEANInvalid, "ean", "reason", "check_digit"), NewProblem(CodeProofMissing, "")}}
	if d.NeedsNumber() {
		t.Error("vendor_direct gets no number")
	}
	d.Route.Handling = HandlingForward
	if !d.NeedsNumber() {
		t.Error("accepted forward items are numbered")
	}
	if got := d.Codes(); !slices.Equal(got, []Code{CodeEANInvalid, CodeProofMissing}) {
		t.Errorf("Codes() = %v", got)
	}
	if d.Problems[0].Params["reason"] != "check_digit" || d.Problems[1].Params != nil {
		t.Errorf("NewProblem params: %+v", d.Problems)
	}
	if len(AllCodes) != 19 {
		t.Errorf("docs/contract.md §7 has 19 codes, AllCodes has %d", len(AllCodes))
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]int64{"120": 12000, "120.5": 12050, "120,50": 12050, " 0.07 ": 7, "0": 0, "1000000": 100000000} {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-5", "1.234", "1,000.50", "12.", ".5", "12e3", "abc", "1000001", "99999999999999999999"} {
		if got, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", in, got)
		}
	}
	if s := FormatAmount(12050); s != "120.50" {
		t.Errorf("FormatAmount = %s", s)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"120", "120,50", "-1", "1.2.3", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseAmount(s)
		if err != nil {
			return
		}
		if back, err := ParseAmount(FormatAmount(c)); err != nil || back != c || c < 0 {
			t.Fatalf("%q → %d → %q → %d, %v", s, c, FormatAmount(c), back, err)
		}
	})
}

// FindRefTokens finds what RefTokenRe finds (lower-cased, each once, at most n).
func FuzzFindRefTokens(f *testing.F) {
	for _, s := range []string{"Ref: R-0123456789", "> Ref: r-ABCDEF0123\nRef: R-abcdef0123", "xR-0123456789",
		"R-0123456789a", "R-012345678", "--R-0123456789-", "Σr-0123456789Σ", "R-R-0123456789", "_R-0123456789", "R-"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n%25 + 1
		if n <= 0 {
			n += 25
		}
		var want []string
		for _, m := range RefTokenRe.FindAllString(s, -1) {
			if tok := "R-" + strings.ToLower(m[2:]); !slices.Contains(want, tok) && len(want) < n {
				want = append(want, tok)
			}
		}
		if got := FindRefTokens(s, n); !slices.Equal(got, want) {
			t.Fatalf("FindRefTokens(%q, %d) = %q, want %q", s, n, got, want)
		}
	})
}
