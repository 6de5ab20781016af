package rma

import "time"

// Result of one item (docs/contract.md §3).
type Result string

// Results.
const (
	ResultAccepted   Result = "accepted"
	ResultRejected   Result = "rejected"
	ResultRedirected Result = "redirected"
	ResultDuplicate  Result = "duplicate"
)

// Handling says who handles an item (docs/contract.md §5).
type Handling string

// Handlings.
const (
	HandlingInHouse      Handling = "in_house"
	HandlingVendorTicket Handling = "vendor_ticket"
	HandlingForward      Handling = "forward"
	HandlingVendorDirect Handling = "vendor_direct"
)

// ValidHandling reports whether h is one of the four handlings.
func ValidHandling(h Handling) bool {
	switch h {
	case HandlingInHouse, HandlingVendorTicket, HandlingForward, HandlingVendorDirect:
		return true
	}
	return false
}

// WarrantyStatus of an item (docs/contract.md §3).
type WarrantyStatus string

// Warranty statuses.
const (
	WarrantyIn      WarrantyStatus = "in_warranty"
	WarrantyExpired WarrantyStatus = "expired"
	WarrantyUnknown WarrantyStatus = "unknown"
)

// Warranty is the outcome of the warranty check.
type Warranty struct {
	Status WarrantyStatus `json:"status"`
	Until  time.Time      `json:"until,omitzero"` // last covered day; zero when unknown
}

// Product is the catalog entry of an item.
type Product struct {
	EAN            string   `json:"ean"`
	Brand          string   `json:"brand"`
	Model          string   `json:"model"`
	WarrantyMonths int      `json:"warranty_months"`
	FaultTypes     []string `json:"fault_types,omitempty"`
	Bulk           bool     `json:"bulk"`
}

// Route is where an item goes, with what the partner must be told about it.
type Route struct {
	Handling  Handling `json:"handling"`
	Portal    string   `json:"portal,omitempty"`     // vendor_direct
	Helpdesk  string   `json:"helpdesk,omitempty"`   // vendor_ticket
	ForwardTo string   `json:"forward_to,omitempty"` // forward
}

// ServiceCenter is where in-house items are shipped.
type ServiceCenter struct {
	Country string `json:"country"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Decision is what rules decided for one item; the store adds the number.
type Decision struct {
	Line      int       `json:"line"`
	Item      Item      `json:"item"`
	Result    Result    `json:"result"`
	Route     Route     `json:"route"` // Handling empty when rejected
	Warranty  Warranty  `json:"warranty"`
	Product   *Product  `json:"product,omitempty"` // nil when the EAN is invalid or unknown
	ClaimType string    `json:"claim_type"`        // effective claim type (default applied)
	Quantity  int       `json:"quantity"`          // effective quantity (default 1)
	Purchase  time.Time `json:"purchase,omitzero"` // parsed purchase date (or the sales record's)
	Problems  []Problem `json:"problems,omitempty"`
	Notes     []Note    `json:"notes,omitempty"`
	// Number is set by the store for accepted items (and duplicates: the existing number).
	Number string `json:"number,omitempty"`
}

// Codes returns the decision's problem codes, in order found.
func (d Decision) Codes() []Code {
	out := make([]Code, 0, len(d.Problems))
	for _, p := range d.Problems {
		out = append(out, p.Code)
	}
	return out
}

// NeedsNumber reports whether the item gets an RMA number (accepted and not vendor_direct).
func (d Decision) NeedsNumber() bool {
	return d.Result == ResultAccepted && d.Route.Handling != HandlingVendorDirect
}

// Partner is a registered reseller (docs/contract.md §6).
type Partner struct {
	ID             string   `yaml:"id" json:"id"`
	Name           string   `yaml:"name" json:"name"`
	VAT            string   `yaml:"vat" json:"vat"`
	Country        string   `yaml:"country" json:"country"`
	Locale         string   `yaml:"locale" json:"locale"`
	Emails         []string `yaml:"emails" json:"emails,omitempty"`
	Domains        []string `yaml:"domains" json:"domains,omitempty"`
	APITokenSHA256 string   `yaml:"api_token_sha256" json:"-"`
	ReturnAddress  string   `yaml:"return_address" json:"return_address,omitempty"`
}
