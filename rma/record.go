package rma

import (
	"strings"
	"time"
)

// Event is one entry of an RMA's history: every status change, with who and why.
type Event struct {
	At     time.Time         `json:"at"`
	Status Status            `json:"status"`
	Actor  string            `json:"actor"` // "rmad", "staff:<name>", "vendor:<source>", "cli"
	Note   string            `json:"note,omitempty"`
	Extra  map[string]string `json:"extra,omitempty"` // vendor_reference, tracking ...
}

// Record is a stored RMA: one accepted item with its number, decision, status and history.
type Record struct {
	Number    string    `json:"number"`
	PartnerID string    `json:"partner_id"`
	Decision  Decision  `json:"decision"` // the item as sent, its route, warranty, product
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Source    Source    `json:"source"`
	History   []Event   `json:"history"`
}

// LastNote returns the note of the newest history entry that has one.
func (r Record) LastNote() string {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Note != "" {
			return r.History[i].Note
		}
	}
	return ""
}

// Receiver-pays shipping: a partner asks for it on the item (receiver_pays: yes) and staff
// answer with a history event whose extra ExtraReceiverPays is ReceiverPaysApproved or
// ReceiverPaysRefused. Until then it is only a request.
const (
	ExtraReceiverPays    = "receiver_pays"
	ReceiverPaysApproved = "approved"
	ReceiverPaysRefused  = "refused"
)

// ApprovedReceiverPays reports whether staff's latest answer to a receiver-pays request was
// approval.
func (r Record) ApprovedReceiverPays() bool {
	for i := len(r.History) - 1; i >= 0; i-- {
		if v, ok := r.History[i].Extra[ExtraReceiverPays]; ok {
			return v == ReceiverPaysApproved
		}
	}
	return false
}

// FromPartner reports whether the event is a partner's note: written for a mail of the partner
// (its actor is the sender's address), not by rmad, staff, a vendor or the CLI.
func (e Event) FromPartner() bool {
	return e.Note != "" && strings.Contains(e.Actor, "@") && !strings.HasPrefix(e.Actor, "staff:")
}
