package rules

import (
	"strings"
	"time"

	"github.com/rmad/rmad/rma"
)

// Why a warranty answer is unknown (WarrantyAnswer.Reason).
const (
	WarrantyReasonEANInvalid = "ean_invalid" // WarrantyAnswer.Problem says why
	WarrantyReasonEANUnknown = "ean_unknown" // not in the catalog
	WarrantyReasonNoPurchase = "no_purchase" // the partner bought no such product, per the sales records
)

// WarrantyAnswer answers a WARRANTY <ean> [serial] command (docs/contract.md §1.3).
type WarrantyAnswer struct {
	EAN    string // as asked, trimmed
	Serial string // as asked, trimmed; may be empty
	// Product is the catalog entry; nil when the EAN is invalid or unknown.
	Product *rma.Product
	// Sale is the purchase the answer is based on: the asked serial's sale when it is this
	// partner's unit of this EAN, else the partner's latest purchase of the EAN. Nil when none.
	Sale *Sale
	// BySerial is true when Sale is the asked serial's own sale.
	BySerial bool
	// Warranty: Until is the purchase date plus the product's warranty months.
	Warranty rma.Warranty
	// Reason says why Warranty.Status is unknown ("" otherwise).
	Reason string
	// Problem is the EAN's problem when Reason is WarrantyReasonEANInvalid.
	Problem *rma.Problem
	// Notes explain why a given serial was not used (not in the sales records, another
	// partner's, another product's): the answer then rests on the latest purchase.
	Notes []rma.Note
}

// Warranty answers the WARRANTY command for a partner: until when the product with this EAN is
// covered, from the partner's latest purchase of it in the sales records, or from the sale of
// serial when that is the partner's unit of this EAN.
func (e *Engine) Warranty(partnerID, ean, serial string, now time.Time) WarrantyAnswer {
	data := e.Data()
	a := WarrantyAnswer{EAN: NormalizeEAN(ean), Serial: strings.TrimSpace(serial), Warranty: rma.Warranty{Status: rma.WarrantyUnknown}}
	if p := CheckEAN(a.EAN); p != nil {
		a.Reason, a.Problem = WarrantyReasonEANInvalid, p
		return a
	}
	prod, ok := data.Catalog.Product(a.EAN)
	if !ok {
		a.Reason = WarrantyReasonEANUnknown
		return a
	}
	a.Product = &prod

	if a.Serial != "" {
		s, ok := data.Sales.BySerial(a.Serial)
		switch {
		case !ok:
			a.Notes = append(a.Notes, rma.Note{Key: rma.NoteSerialNotInSales, Params: map[string]string{"serial": a.Serial}})
		case !samePartner(s.PartnerID, partnerID):
			a.Notes = append(a.Notes, rma.Note{Key: rma.NoteSerialOtherPartner, Params: map[string]string{"serial": a.Serial}})
		case s.EAN != a.EAN:
			a.Notes = append(a.Notes, rma.Note{Key: rma.NoteEANMismatchSales, Params: map[string]string{"serial": a.Serial, "ean": s.EAN}})
		default:
			a.Sale, a.BySerial = &s, true
		}
	}
	if a.Sale == nil {
		if s, ok := data.Sales.LatestPurchase(partnerID, a.EAN); ok {
			a.Sale = &s
		}
	}
	if a.Sale == nil {
		a.Reason = WarrantyReasonNoPurchase
		return a
	}
	until := AddMonths(a.Sale.InvoiceDate, prod.WarrantyMonths)
	a.Warranty = rma.Warranty{Status: rma.WarrantyIn, Until: until}
	if e.today(now).After(until) {
		a.Warranty.Status = rma.WarrantyExpired
	}
	return a
}
