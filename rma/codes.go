// Package rma is the domain vocabulary of rmad: items, submissions, problems, decisions,
// statuses and RMA numbers. It has no I/O; every other package speaks in these types.
package rma

// Code is a stable problem code (docs/contract.md §7). Partners' tools and tests rely on the strings.
type Code string

// The problem codes of docs/contract.md §7.
const (
	CodeEANInvalid           Code = "ean_invalid"
	CodeEANUnknown           Code = "ean_unknown"
	CodeSerialRequired       Code = "serial_required"
	CodeDateInvalid          Code = "date_invalid"
	CodeDateInFuture         Code = "date_in_future"
	CodeDescriptionMissing   Code = "description_missing"
	CodeClaimTypeInvalid     Code = "claim_type_invalid"
	CodeClaimTypeNotAllowed  Code = "claim_type_not_allowed"
	CodeVendorTicketRequired Code = "vendor_ticket_required"
	CodeFaultTypeRequired    Code = "fault_type_required"
	CodeFaultTypeInvalid     Code = "fault_type_invalid"
	CodeQuantityInvalid      Code = "quantity_invalid"
	CodeIBANRequired         Code = "iban_required"
	CodeIBANInvalid          Code = "iban_invalid"
	CodeOutOfWarranty        Code = "out_of_warranty"
	CodeProofMissing         Code = "proof_missing"
	CodeNoItems              Code = "no_items"
	CodeTooLarge             Code = "too_large"
	CodeCSVInvalid           Code = "csv_invalid"
)

// AllCodes lists every problem code, in the order of docs/contract.md §7.
var AllCodes = []Code{
	CodeEANInvalid, CodeEANUnknown, CodeSerialRequired, CodeDateInvalid, CodeDateInFuture,
	CodeDescriptionMissing, CodeClaimTypeInvalid, CodeClaimTypeNotAllowed, CodeVendorTicketRequired,
	CodeFaultTypeRequired, CodeFaultTypeInvalid, CodeQuantityInvalid, CodeIBANRequired, CodeIBANInvalid,
	CodeOutOfWarranty, CodeProofMissing, CodeNoItems, CodeTooLarge, CodeCSVInvalid,
}

// SubmissionCodes are the problems that fail a whole submission rather than one item.
var SubmissionCodes = []Code{CodeProofMissing, CodeNoItems, CodeTooLarge, CodeCSVInvalid}

// Problem is one thing wrong with an item or a submission. It is data: the words a partner reads
// are made from Code, Field and Params by the outbound templates of the partner's language.
type Problem struct {
	Code  Code   `json:"code"`
	Field string `json:"field,omitempty"` // item field name as in docs/contract.md §1 (ean, serial, ...), empty for the whole submission
	// Params carry the specifics a message needs: "value" (what was sent), "reason" (a sub-case
	// such as "scientific_notation", "length", "check_digit"), "allowed" (a |-joined list),
	// "min", "brand", "helpdesk", "until" ...
	Params map[string]string `json:"params,omitempty"`
}

// NewProblem builds a Problem; params are key, value pairs.
func NewProblem(code Code, field string, params ...string) Problem {
	p := Problem{Code: code, Field: field}
	if len(params) > 1 {
		p.Params = make(map[string]string, len(params)/2)
		for i := 0; i+1 < len(params); i += 2 {
			p.Params[params[i]] = params[i+1]
		}
	}
	return p
}

// NoteKey names a warning that does not reject an item (docs/contract.md §7: reported in message, no code).
type NoteKey string

// Notes rules may attach to a decision.
const (
	NoteSerialNotInSales    NoteKey = "serial_not_in_sales"     // params: serial
	NoteDateDiffersFromSale NoteKey = "date_differs_from_sales" // params: given, sales
	NoteDateFromSales       NoteKey = "date_from_sales"         // params: date (used the sales record's date)
	NoteSerialOtherPartner  NoteKey = "serial_other_partner"    // params: serial
	NotePaidRepair          NoteKey = "paid_repair"             // out of warranty, estimate will follow
	NoteEANMismatchSales    NoteKey = "ean_differs_from_sales"  // params: serial, ean
)

// AllNoteKeys lists every note key rules may attach.
var AllNoteKeys = []NoteKey{NoteSerialNotInSales, NoteDateDiffersFromSale, NoteDateFromSales,
	NoteSerialOtherPartner, NotePaidRepair, NoteEANMismatchSales}

// Note is a warning attached to a decision, localised by outbound.
type Note struct {
	Key    NoteKey           `json:"key"`
	Params map[string]string `json:"params,omitempty"`
}
