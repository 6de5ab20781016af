package rma

import "time"

// Item is one returned product as the partner described it (docs/contract.md §1). Values are kept as sent,
// trimmed; rules parse and check them.
type Item struct {
	Line         int    `json:"line"` // 1-based position in the submission: body items first, then CSV rows
	EAN          string `json:"ean"`
	Serial       string `json:"serial,omitempty"`
	PurchaseDate string `json:"purchase_date,omitempty"`
	Description  string `json:"description,omitempty"`
	OwnNumber    string `json:"own_number,omitempty"`
	Expectation  string `json:"expectation,omitempty"`
	ClaimType    string `json:"claim_type,omitempty"`
	FaultType    string `json:"fault_type,omitempty"`
	Quantity     string `json:"quantity,omitempty"`
	Tracking     string `json:"tracking,omitempty"`
	Contents     string `json:"contents,omitempty"`
	VendorTicket string `json:"vendor_ticket,omitempty"`
	IBAN         string `json:"iban,omitempty"`
	ReceiverPays string `json:"receiver_pays,omitempty"`
	// Problems found while reading the item (e.g. an EAN a spreadsheet turned into 5.9E+12);
	// rules add them to the decision.
	ParseProblems []Problem `json:"parse_problems,omitempty"`
}

// Fields names the item fields in the order of docs/contract.md §1; parsers and templates use these names.
var Fields = []string{"ean", "serial", "purchase_date", "description", "own_number", "expectation",
	"claim_type", "fault_type", "quantity", "tracking", "contents", "vendor_ticket", "iban", "receiver_pays"}

// Set assigns a field by its name (docs/contract.md §1); it reports false for an unknown name.
func (it *Item) Set(field, value string) bool {
	if p := it.field(field); p != nil {
		*p = value
		return true
	}
	return false
}

// Get returns a field by its name (docs/contract.md §1) ("" for unknown names).
func (it *Item) Get(field string) string {
	if p := it.field(field); p != nil {
		return *p
	}
	return ""
}

func (it *Item) field(name string) *string {
	switch name {
	case "ean":
		return &it.EAN
	case "serial":
		return &it.Serial
	case "purchase_date":
		return &it.PurchaseDate
	case "description":
		return &it.Description
	case "own_number":
		return &it.OwnNumber
	case "expectation":
		return &it.Expectation
	case "claim_type":
		return &it.ClaimType
	case "fault_type":
		return &it.FaultType
	case "quantity":
		return &it.Quantity
	case "tracking":
		return &it.Tracking
	case "contents":
		return &it.Contents
	case "vendor_ticket":
		return &it.VendorTicket
	case "iban":
		return &it.IBAN
	case "receiver_pays":
		return &it.ReceiverPays
	}
	return nil
}

// Kind says what a piece of input is.
type Kind string

// Kinds of input (docs/contract.md §9, explain --json).
const (
	KindSubmission    Kind = "submission"
	KindCommand       Kind = "command"
	KindIgnored       Kind = "ignored"        // automatic mail: never answered
	KindUnknownSender Kind = "unknown_sender" // not a registered partner
	// KindFollowUp is a partner's reply in an RMA's thread; the daemon decides it (the thread
	// index is in the store), so a parser alone never returns it.
	KindFollowUp Kind = "follow_up"
)

// Source says where a submission came from; the store keeps it with each record.
type Source struct {
	Channel     string `json:"channel"`           // "mail", "webhook", "api"
	Mailbox     string `json:"mailbox,omitempty"` // configured imap name
	UIDValidity uint32 `json:"uid_validity,omitempty"`
	UID         uint32 `json:"uid,omitempty"`
	MessageID   string `json:"message_id,omitempty"` // without angle brackets
	WebhookID   string `json:"webhook_id,omitempty"`
	RawSHA256   string `json:"raw_sha256,omitempty"` // hex of the raw mail or request body
	// ContentSHA256 is the hex digest of a mail's decoded parts (text and attachments, not its
	// header, MIME boundaries or transfer encoding): with the Message-ID and the sender, what
	// makes a mail fetched or sent twice the same mail.
	ContentSHA256 string `json:"content_sha256,omitempty"`
}

// Command is a STATUS or WARRANTY request by mail (docs/contract.md §1.3).
type Command struct {
	Name   string `json:"name"` // "status" or "warranty"
	Query  string `json:"query,omitempty"`
	EAN    string `json:"ean,omitempty"`
	Serial string `json:"serial,omitempty"`
}

// Command names.
const (
	CommandStatus   = "status"
	CommandWarranty = "warranty"
)

// Submission is one parsed email or HTTP request of a partner.
type Submission struct {
	Kind       Kind      `json:"kind"`
	Source     Source    `json:"source"`
	From       string    `json:"from"` // sender address, lower case
	FromName   string    `json:"from_name,omitempty"`
	Subject    string    `json:"subject,omitempty"` // decoded
	Date       time.Time `json:"date,omitempty"`
	InReplyTo  string    `json:"in_reply_to,omitempty"`
	References []string  `json:"references,omitempty"`
	PartnerID  string    `json:"partner_id,omitempty"`
	Locale     string    `json:"locale,omitempty"` // partner's, en el ro fr
	Items      []Item    `json:"items,omitempty"`
	Command    *Command  `json:"command,omitempty"`
	HasProof   bool      `json:"has_proof"`
	// CSVDelimiter is the delimiter of the partner's CSV attachment (0 when none); the reply's
	// rma-results.csv uses it.
	CSVDelimiter rune `json:"csv_delimiter,omitempty"`
	// Problems that fail the whole submission (proof_missing, no_items, too_large, csv_invalid).
	Problems []Problem `json:"problems,omitempty"`
	// Why is a short machine reason for Ignored/UnknownSender kinds ("auto_submitted", "list_id", ...).
	Why string `json:"why,omitempty"`
	// FollowUp is set on a partner's mail that may answer an RMA thread (it has In-Reply-To or
	// References, or names an RMA number in its subject). Whether it is one is for the daemon to
	// decide with the store's thread index and the numbers' owners.
	FollowUp *FollowUp `json:"follow_up,omitempty"`
}

// FollowUp is what a reply in an RMA's thread says in the partner's own words.
type FollowUp struct {
	Numbers []string          `json:"numbers,omitempty"` // RMA numbers named in the subject, canonical
	Text    string            `json:"text,omitempty"`    // the typed text: quotes, attributions and signature removed
	Fields  map[string]string `json:"fields,omitempty"`  // item fields labelled in Text ("tracking": "...") before any RMA or line is named
	// Scoped are the fields the typed text gives under a named RMA number or item line
	// ("RMA/12/SR/2026", "Line 2:", "Γραμμή 2"), in the order written.
	Scoped []FieldSet `json:"scoped,omitempty"`
	// Refs are the reference tokens of rmad's own mails (RefToken) found anywhere in the mail,
	// quoted text included.
	Refs []string `json:"refs,omitempty"`
}

// FieldSet is fields a follow-up gives for one RMA or one item line of the mail it answers.
type FieldSet struct {
	Number string            `json:"number,omitempty"` // canonical RMA number, or ""
	Line   int               `json:"line,omitempty"`   // item line of the answered mail, or 0
	Fields map[string]string `json:"fields"`
}
