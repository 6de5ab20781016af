package rules

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rmad/rmad/rma"
)

// isoDate is how dates appear in Params and notes.
const isoDate = "2006-01-02"

// Evaluate decides every item of a submission: one Decision per sub.Items entry, in order, with
// Decision.Line = item.Line. Each decision lists all of the item's problems at once. Problems of
// the whole submission (sub.Problems: proof_missing, csv_invalid, ...) reject every item and are
// listed with the item's own. The result is never ResultDuplicate: that is the store's to say.
// now is the moment of evaluation; dates compare with its calendar day in the configured
// schedule time zone.
//
// Decisions of one call whose items have the same EAN share one *rma.Product: treat it as
// read-only.
func (e *Engine) Evaluate(sub rma.Submission, now time.Time) []rma.Decision {
	data := e.Data() // one snapshot for the whole submission, even if a reload happens meanwhile
	today := e.today(now)
	out := make([]rma.Decision, len(sub.Items))
	products := productCache{e: e, data: data}
	for i := range sub.Items {
		e.decide(decision{&out[i]}, data, &sub, &sub.Items[i], today, &products)
	}
	return out
}

// productCache holds what an Evaluate call learned about each valid EAN, so that a CSV of
// thousands of rows with a few products checks each EAN, looks it up, copies the product and
// normalises its brand once, not once per row.
type productCache struct {
	e     *Engine
	data  *Data
	byEAN map[string]*productInfo // valid EANs only; nil entry: not in the catalog
}

// productInfo is a catalog product with the engine's policy for it.
type productInfo struct {
	prod           *rma.Product
	brandKey       string
	route          rma.Route
	serialRequired bool
	faultKeys      []string // faultKey of each of prod.FaultTypes
}

// lookup checks a (trimmed) EAN and finds its product. It returns CheckEAN's problem for an
// invalid EAN, else the product's info, nil when the catalog does not know the EAN.
func (c *productCache) lookup(ean string) (*productInfo, *rma.Problem) {
	if info, ok := c.byEAN[ean]; ok {
		return info, nil
	}
	if p := CheckEAN(ean); p != nil {
		return nil, p // not cached: every problem gets Params of its own
	}
	var info *productInfo
	if prod, ok := c.data.Catalog.Product(ean); ok {
		bk := brandKey(prod.Brand)
		info = &productInfo{prod: &prod, brandKey: bk, route: c.e.routeByKey(bk), serialRequired: c.e.serialBrands[bk]}
		for _, ft := range prod.FaultTypes {
			info.faultKeys = append(info.faultKeys, faultKey(ft))
		}
	}
	if c.byEAN == nil {
		c.byEAN = map[string]*productInfo{}
	}
	c.byEAN[ean] = info
	return info, nil
}

// decision collects the problems and notes of one item, in place in Evaluate's result.
type decision struct {
	*rma.Decision
}

// problem adds a problem unless the same code for the same field is already there (a parser's
// problem and ours, or a field required by both a claim type and a brand).
func (d decision) problem(p rma.Problem) {
	for _, q := range d.Problems {
		if q.Code == p.Code && q.Field == p.Field {
			return
		}
	}
	d.Problems = append(d.Problems, p)
}

func (d decision) note(key rma.NoteKey, params ...string) {
	n := rma.Note{Key: key, Params: make(map[string]string, len(params)/2)}
	for i := 0; i+1 < len(params); i += 2 {
		n.Params[params[i]] = params[i+1]
	}
	d.Notes = append(d.Notes, n)
}

// flagged reports whether a problem about field is already there.
func (d decision) flagged(field string) bool {
	for _, p := range d.Problems {
		if p.Field == field {
			return true
		}
	}
	return false
}

// decide fills d (a zero Decision) for one item.
func (e *Engine) decide(d decision, data *Data, sub *rma.Submission, it *rma.Item, today time.Time, products *productCache) {
	*d.Decision = rma.Decision{Line: it.Line, Item: *it, Warranty: rma.Warranty{Status: rma.WarrantyUnknown}}
	for _, p := range sub.Problems {
		d.problem(p)
	}
	for _, p := range it.ParseProblems {
		d.problem(p)
	}

	// Product. An EAN the parser already flagged (5.9E+12 from a spreadsheet) is not checked
	// again, and an invalid EAN is not also unknown.
	ean := NormalizeEAN(it.EAN)
	d.Item.EAN = ean
	var info *productInfo
	if !d.flagged("ean") {
		switch pi, p := products.lookup(ean); {
		case p != nil:
			d.problem(*p)
		case pi != nil:
			info, d.Product = pi, pi.prod
		default:
			d.problem(rma.NewProblem(rma.CodeEANUnknown, "ean", "value", ean))
		}
	}
	prod := d.Product

	// Serial against the sales records. Only a sale of this partner with the same EAN is
	// trusted for dates: anything else is a mix-up the partner should hear about, not evidence.
	serial := strings.TrimSpace(it.Serial)
	var sale Sale
	saleUsable := false
	if serial != "" && data.Sales.Len() > 0 {
		s, ok := data.Sales.BySerial(serial)
		switch {
		case !ok:
			d.note(rma.NoteSerialNotInSales, "serial", serial)
		case sub.PartnerID != "" && !samePartner(s.PartnerID, sub.PartnerID):
			d.note(rma.NoteSerialOtherPartner, "serial", serial)
		case s.EAN != ean:
			d.note(rma.NoteEANMismatchSales, "serial", serial, "ean", s.EAN)
		default:
			sale, saleUsable = s, true
		}
	}
	if prod != nil && serial == "" && info.serialRequired {
		d.problem(rma.NewProblem(rma.CodeSerialRequired, "serial", "brand", prod.Brand))
	}

	// Purchase date.
	dateOK := false
	switch ds := strings.TrimSpace(it.PurchaseDate); {
	case ds == "" && saleUsable:
		d.Purchase, dateOK = sale.InvoiceDate, true
		d.note(rma.NoteDateFromSales, "date", sale.InvoiceDate.Format(isoDate))
	case ds == "":
		d.problem(rma.NewProblem(rma.CodeDateInvalid, "purchase_date", "value", "", "reason", DateReasonMissing, "formats", DateFormats))
	default:
		t, err := ParseDate(ds)
		switch {
		case err != nil:
			reason := DateReasonFormat
			if de := (*DateError)(nil); errors.As(err, &de) {
				reason = de.Reason
			}
			d.problem(rma.NewProblem(rma.CodeDateInvalid, "purchase_date", "value", ds, "reason", reason, "formats", DateFormats))
		case t.After(today):
			d.Purchase = t
			d.problem(rma.NewProblem(rma.CodeDateInFuture, "purchase_date", "value", ds, "today", today.Format(isoDate)))
		default:
			d.Purchase, dateOK = t, true
			if saleUsable && !sale.InvoiceDate.Equal(t) {
				d.note(rma.NoteDateDiffersFromSale, "given", t.Format(isoDate), "sales", sale.InvoiceDate.Format(isoDate))
			}
		}
	}

	// Description: spaces do not count.
	if descriptionShorter(it.Description, e.minDesc) {
		d.problem(rma.NewProblem(rma.CodeDescriptionMissing, "description", "min", strconv.Itoa(e.minDesc)))
	}

	// Claim type: its brand restriction needs the product; its required fields do not.
	ct := claimKey(it.ClaimType)
	if ct == "" {
		ct = DefaultClaimType
	}
	if rule, ok := e.claimTypes[ct]; !ok {
		d.problem(rma.NewProblem(rma.CodeClaimTypeInvalid, "claim_type", "value", strings.TrimSpace(it.ClaimType), "allowed", e.claimNames))
	} else {
		d.ClaimType = rule.name
		if prod != nil && len(rule.brands) > 0 && !slices.Contains(rule.brandKeys, info.brandKey) {
			d.problem(rma.NewProblem(rma.CodeClaimTypeNotAllowed, "claim_type", "value", rule.name, "brand", prod.Brand, "brands", strings.Join(rule.brands, "|")))
		}
		for _, f := range rule.requires {
			if strings.TrimSpace(it.Get(f)) == "" {
				d.problem(rma.NewProblem(rma.Code(f+"_required"), f, "claim_type", rule.name))
			}
		}
	}
	// An IBAN that is given is always checked: a refund to a mistyped account is hard to undo.
	if strings.TrimSpace(it.IBAN) != "" && !d.flagged("iban") {
		if p := CheckIBAN(it.IBAN); p != nil {
			d.problem(*p)
		}
	}

	// Quantity.
	d.Quantity = 1
	if qs := strings.TrimSpace(it.Quantity); qs != "" {
		if n, ok := atoiStrict(qs); !ok || n < 1 {
			d.Quantity = 0
			d.problem(rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", qs, "reason", "not_positive"))
		} else {
			d.Quantity = n
		}
	}
	if prod != nil && d.Quantity > 1 && !prod.Bulk {
		d.problem(rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", strconv.Itoa(d.Quantity), "reason", "not_bulk", "max", "1"))
	}

	// Fault type, from the product's list when it has one.
	if prod != nil && len(prod.FaultTypes) > 0 {
		switch ft := strings.TrimSpace(it.FaultType); {
		case ft == "":
			d.problem(rma.NewProblem(rma.CodeFaultTypeRequired, "fault_type", "allowed", strings.Join(prod.FaultTypes, "|")))
		case !slices.Contains(info.faultKeys, faultKey(ft)):
			d.problem(rma.NewProblem(rma.CodeFaultTypeInvalid, "fault_type", "value", ft, "allowed", strings.Join(prod.FaultTypes, "|")))
		}
	}

	// Routing.
	var route rma.Route
	if prod != nil {
		route = info.route
		if route.Handling == rma.HandlingVendorTicket && strings.TrimSpace(it.VendorTicket) == "" {
			d.problem(rma.NewProblem(rma.CodeVendorTicketRequired, "vendor_ticket", "brand", prod.Brand, "helpdesk", route.Helpdesk))
		}
	}

	// Warranty. The manufacturer judges its own warranty for vendor_direct brands, so the
	// out-of-warranty policy does not apply to them.
	if prod != nil && dateOK {
		until := AddMonths(d.Purchase, prod.WarrantyMonths)
		d.Warranty = rma.Warranty{Status: rma.WarrantyIn, Until: until}
		if today.After(until) {
			d.Warranty.Status = rma.WarrantyExpired
			if route.Handling != rma.HandlingVendorDirect {
				if e.rejectExpired {
					d.problem(rma.NewProblem(rma.CodeOutOfWarranty, "purchase_date", "until", until.Format(isoDate), "months", strconv.Itoa(prod.WarrantyMonths)))
				} else {
					d.note(rma.NotePaidRepair, "until", until.Format(isoDate))
				}
			}
		}
	}

	switch {
	case len(d.Problems) > 0:
		d.Result = rma.ResultRejected // Route stays empty; the helpdesk is in the problem's Params
	case route.Handling == rma.HandlingVendorDirect:
		d.Result, d.Route = rma.ResultRedirected, route
	default:
		d.Result, d.Route = rma.ResultAccepted, route
	}
}

// descriptionShorter reports whether s has fewer than min characters once surrounding space is
// removed and every run of space inside counts as one, that is whether
// utf8.RuneCountInString(strings.Join(strings.Fields(s), " ")) < min, without building that
// string and without reading further than needed.
func descriptionShorter(s string, min int) bool {
	n, inWord := 0, false
	for i := 0; i < len(s) && n < min; {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		if unicode.IsSpace(r) {
			inWord = false
			continue
		}
		if !inWord && n > 0 {
			n++ // the one space between two words
		}
		inWord = true
		n++
	}
	return n < min
}
