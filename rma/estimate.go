package rma

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A repair estimate (docs/contract.md §12) is written in the history event that moves an RMA to
// estimate_sent: its amounts are that event's extras, so the record alone says what was offered
// and whether it is still pending.

// EstimateAnswer is the partner's answer to an estimate.
type EstimateAnswer string

// Answers.
const (
	EstimateAccept  EstimateAnswer = "accept"
	EstimateDecline EstimateAnswer = "decline"
)

// ParseEstimateAnswer checks an answer's name (the last part of a link's path).
func ParseEstimateAnswer(s string) (EstimateAnswer, bool) {
	switch a := EstimateAnswer(strings.ToLower(strings.TrimSpace(s))); a {
	case EstimateAccept, EstimateDecline:
		return a, true
	}
	return "", false
}

// Status is where the answer moves the RMA.
func (a EstimateAnswer) Status() Status {
	if a == EstimateAccept {
		return StatusRepairing
	}
	return StatusReturnedUnrepaired
}

// Extras of the estimate's history events.
const (
	ExtraEstimateID     = "estimate_id"
	ExtraEstimateParts  = "parts"
	ExtraEstimateLabour = "labour"
	ExtraEstimateShip   = "shipping"
	ExtraEstimateTotal  = "total"
	ExtraCurrency       = "currency"
	ExtraEstimateNote   = "estimate_note"   // staff's note to the partner
	ExtraEstimateAnswer = "estimate_answer" // on the answer's event: accept | decline
	ExtraAnsweredVia    = "via"             // mail | link | schedule
	ExtraMessageID      = "message_id"      // the answering mail
)

// Estimate is a repair estimate: amounts in cents of Currency.
type Estimate struct {
	ID                      string
	Parts, Labour, Shipping int64
	Currency                string
	Note                    string
	SentAt                  time.Time
	SentBy                  string
}

// Total is the sum of the amounts.
func (e Estimate) Total() int64 { return e.Parts + e.Labour + e.Shipping }

// maxAmountCents bounds an amount (a million units): a typo, not a repair, beyond it.
const maxAmountCents = 100_000_000

// ParseAmount reads an amount as staff type it: 120, 120.5, 120.50 or 120,50 (no thousands
// separators, at most two decimals, not negative), in cents.
func ParseAmount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("missing: write an amount such as 120 or 120.50")
	}
	t = strings.Replace(t, ",", ".", 1)
	whole, frac, hasFrac := strings.Cut(t, ".")
	if whole == "" || len(frac) > 2 || (hasFrac && frac == "") || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not an amount: write digits with at most two decimals, such as 120 or 120.50", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > maxAmountCents/100 {
		return 0, fmt.Errorf("%q is too large (at most %d)", s, maxAmountCents/100)
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes cents as 120.50.
func FormatAmount(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// ParseCurrency checks a currency code: three letters (EUR, RON), upper-cased.
func ParseCurrency(s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) != 3 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", fmt.Errorf("%q is not a currency code: write three letters, such as EUR or RON", s)
	}
	return c, nil
}

// Extra is what the history event that sends the estimate keeps of it.
func (e Estimate) Extra() map[string]string {
	x := map[string]string{
		ExtraEstimateID:     e.ID,
		ExtraEstimateParts:  FormatAmount(e.Parts),
		ExtraEstimateLabour: FormatAmount(e.Labour),
		ExtraEstimateShip:   FormatAmount(e.Shipping),
		ExtraEstimateTotal:  FormatAmount(e.Total()),
		ExtraCurrency:       e.Currency,
	}
	if e.Note != "" {
		x[ExtraEstimateNote] = e.Note
	}
	return x
}

// LastEstimate is the newest estimate sent for r, if any.
func (r Record) LastEstimate() (Estimate, bool) {
	for i := len(r.History) - 1; i >= 0; i-- {
		ev := r.History[i]
		if ev.Status != StatusEstimateSent || ev.Extra[ExtraEstimateID] == "" {
			continue
		}
		e := Estimate{ID: ev.Extra[ExtraEstimateID], Currency: ev.Extra[ExtraCurrency], Note: ev.Extra[ExtraEstimateNote], SentAt: ev.At, SentBy: ev.Actor}
		e.Parts, _ = ParseAmount(ev.Extra[ExtraEstimateParts])
		e.Labour, _ = ParseAmount(ev.Extra[ExtraEstimateLabour])
		e.Shipping, _ = ParseAmount(ev.Extra[ExtraEstimateShip])
		return e, true
	}
	return Estimate{}, false
}

// PendingEstimate is the estimate r waits on: the last one sent, while r is in estimate_sent.
func (r Record) PendingEstimate() (Estimate, bool) {
	if r.Status != StatusEstimateSent {
		return Estimate{}, false
	}
	return r.LastEstimate()
}

// EstimateAnswered finds the event that answered estimate id, if any.
func (r Record) EstimateAnswered(id string) (Event, bool) {
	for i := len(r.History) - 1; i >= 0; i-- {
		ev := r.History[i]
		if ev.Extra[ExtraEstimateID] == id && ev.Status != StatusEstimateSent {
			return ev, true
		}
	}
	return Event{}, false
}
