package rma

import (
	"fmt"
	"slices"
	"strings"
)

// Status of an RMA in its lifecycle (docs/contract.md §8).
type Status string

// Statuses.
const (
	StatusAwaitingGoods        Status = "awaiting_goods"
	StatusReceived             Status = "received"
	StatusDiagnosing           Status = "diagnosing"
	StatusRepaired             Status = "repaired"
	StatusReplaced             Status = "replaced"
	StatusCredited             Status = "credited"
	StatusNoFaultFound         Status = "no_fault_found"
	StatusRejectedWarrantyVoid Status = "rejected_warranty_void"
	StatusEstimateSent         Status = "estimate_sent"
	StatusRepairing            Status = "repairing"
	StatusAwaitingAccessories  Status = "awaiting_accessories"
	StatusForwardedToVendor    Status = "forwarded_to_vendor"
	StatusReturnedUnrepaired   Status = "returned_unrepaired"
	StatusShippedBack          Status = "shipped_back"
	StatusClosed               Status = "closed"
	StatusExpired              Status = "expired"
)

// transitions is the lifecycle table: from → allowed next statuses.
var transitions = map[Status][]Status{
	StatusAwaitingGoods: {StatusReceived, StatusExpired, StatusClosed},
	StatusReceived: {StatusDiagnosing, StatusAwaitingAccessories, StatusRepairing, StatusRepaired,
		StatusReplaced, StatusRejectedWarrantyVoid, StatusReturnedUnrepaired, StatusShippedBack},
	StatusDiagnosing: {StatusRepaired, StatusReplaced, StatusCredited, StatusNoFaultFound,
		StatusRejectedWarrantyVoid, StatusEstimateSent, StatusAwaitingAccessories},
	StatusEstimateSent:        {StatusRepairing, StatusReturnedUnrepaired},
	StatusRepairing:           {StatusRepaired, StatusReplaced, StatusShippedBack},
	StatusAwaitingAccessories: {StatusDiagnosing, StatusReturnedUnrepaired},
	StatusForwardedToVendor: {StatusReceived, StatusRepairing, StatusRepaired, StatusReplaced,
		StatusRejectedWarrantyVoid, StatusShippedBack},
	StatusRepaired:             {StatusShippedBack, StatusClosed},
	StatusReplaced:             {StatusShippedBack, StatusClosed},
	StatusCredited:             {StatusClosed},
	StatusNoFaultFound:         {StatusShippedBack, StatusClosed},
	StatusRejectedWarrantyVoid: {StatusShippedBack, StatusClosed},
	StatusReturnedUnrepaired:   {StatusShippedBack, StatusClosed},
	StatusShippedBack:          {StatusClosed},
	StatusExpired:              {StatusReceived, StatusClosed},
	StatusClosed:               nil,
}

// AllStatuses lists every status.
var AllStatuses = []Status{
	StatusAwaitingGoods, StatusReceived, StatusDiagnosing, StatusRepaired, StatusReplaced,
	StatusCredited, StatusNoFaultFound, StatusRejectedWarrantyVoid, StatusEstimateSent,
	StatusRepairing, StatusAwaitingAccessories, StatusForwardedToVendor, StatusReturnedUnrepaired,
	StatusShippedBack, StatusClosed, StatusExpired,
}

// ParseStatus checks a status name.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.TrimSpace(strings.ToLower(s)))
	if _, ok := transitions[st]; !ok {
		return "", fmt.Errorf("unknown status %q (known: %s)", s, joinStatuses(AllStatuses))
	}
	return st, nil
}

// Next lists the statuses reachable from s in one step.
func (s Status) Next() []Status { return slices.Clone(transitions[s]) }

// IsOpen reports whether an RMA in this status still needs work: open RMAs block a second RMA
// for the same serial, and appear in digests.
func (s Status) IsOpen() bool {
	switch s {
	case StatusClosed, StatusExpired, StatusShippedBack, StatusCredited:
		return false
	}
	return true
}

// TransitionError is an illegal status change.
type TransitionError struct{ From, To Status }

func (e *TransitionError) Error() string {
	next := transitions[e.From]
	if len(next) == 0 {
		return fmt.Sprintf("status %s is final: no change to %s is possible", e.From, e.To)
	}
	return fmt.Sprintf("illegal status change %s → %s (from %s only: %s)", e.From, e.To, e.From, joinStatuses(next))
}

// CheckTransition returns nil when from → to is a legal move, else a *TransitionError.
func CheckTransition(from, to Status) error {
	if _, ok := transitions[to]; !ok {
		return fmt.Errorf("unknown status %q", to)
	}
	if slices.Contains(transitions[from], to) {
		return nil
	}
	return &TransitionError{From: from, To: to}
}

// InitialStatus is where a new RMA starts for its handling.
func InitialStatus(h Handling) Status {
	if h == HandlingForward {
		return StatusForwardedToVendor
	}
	return StatusAwaitingGoods
}

func joinStatuses(ss []Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}
