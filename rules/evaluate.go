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

// itemCheck is one item's evaluation: the decision it fills, and what its sections learn for the
// sections after them (the product, a sale to trust, a usable purchase date, the route). The
// sections run in a fixed order, which is also the order of the problems in the decision.
type itemCheck struct {
	decision
	e     *Engine
	data  *Data
	sub   *rma.Submission
	it    *rma.Item
	today time.Time

	ean        string       // trimmed
	info       *productInfo // nil: no product (invalid or unknown EAN)
	sale       Sale         // valid when saleUsable
	saleUsable bool
	dateOK     bool // d.Purchase is a real, past purchase date
	route      rma.Route
}

// decide fills d (a zero Decision) for one item.
func (e *Engine) decide(d decision, data *Data, sub *rma.Submission, it *rma.Item, today time.Time, products *productCache) {
	*d.Decision = rma.Decision{Line: it.Line, Item: *it, Warranty: rma.Warranty{Status: rma.WarrantyUnknown}}
	c := itemCheck{decision: d, e: e, data: data, sub: sub, it: it, today: today}
	for _, p := range sub.Problems {
		d.problem(p)
	}
	for _, p := range it.ParseProblems {
		d.problem(p)
	}
	c.product(products)
	c.serial()
	c.purchaseDate()
	c.description()
	c.claimType()
	c.quantity()
	c.faultType()
	c.routing()
	c.warranty()
	c.result()
}

// product finds the item's product. An EAN the parser already flagged (5.9E+12 from a
// spreadsheet) is not checked again, and an invalid EAN is not also unknown.
func (c *itemCheck) product(products *productCache) {
	c.ean = NormalizeEAN(c.it.EAN)
	c.Item.EAN = c.ean
	if c.flagged("ean") {
		return
	}
	switch pi, p := products.lookup(c.ean); {
	case p != nil:
		c.problem(*p)
	case pi != nil:
		c.info, c.Product = pi, pi.prod
	default:
		c.problem(rma.NewProblem(rma.CodeEANUnknown, "ean", "value", c.ean))
	}
}

// serial checks the serial against the sales records. Only a sale of this partner with the same
// EAN is trusted for dates: anything else is a mix-up the partner should hear about, not
// evidence.
func (c *itemCheck) serial() {
	serial := strings.TrimSpace(c.it.Serial)
	if serial != "" && c.data.Sales.Len() > 0 {
		s, ok := c.data.Sales.BySerial(serial)
		switch {
		case !ok:
			c.note(rma.NoteSerialNotInSales, "serial", serial)
		case c.sub.PartnerID != "" && !samePartner(s.PartnerID, c.sub.PartnerID):
			c.note(rma.NoteSerialOtherPartner, "serial", serial)
		case s.EAN != c.ean:
			c.note(rma.NoteEANMismatchSales, "serial", serial, "ean", s.EAN)
		default:
			c.sale, c.saleUsable = s, true
		}
	}
	if c.info != nil && serial == "" && c.info.serialRequired {
		c.problem(rma.NewProblem(rma.CodeSerialRequired, "serial", "brand", c.Product.Brand))
	}
}

// purchaseDate reads the purchase date, or takes the trusted sale's when the item has none.
func (c *itemCheck) purchaseDate() {
	switch ds := strings.TrimSpace(c.it.PurchaseDate); {
	case ds == "" && c.saleUsable:
		c.Purchase, c.dateOK = c.sale.InvoiceDate, true
		c.note(rma.NoteDateFromSales, "date", c.sale.InvoiceDate.Format(isoDate))
	case ds == "":
		c.problem(rma.NewProblem(rma.CodeDateInvalid, "purchase_date", "value", "", "reason", DateReasonMissing, "formats", DateFormats))
	default:
		t, err := ParseDate(ds)
		switch {
		case err != nil:
			reason := DateReasonFormat
			if de := (*DateError)(nil); errors.As(err, &de) {
				reason = de.Reason
			}
			c.problem(rma.NewProblem(rma.CodeDateInvalid, "purchase_date", "value", ds, "reason", reason, "formats", DateFormats))
		case t.After(c.today):
			c.Purchase = t
			c.problem(rma.NewProblem(rma.CodeDateInFuture, "purchase_date", "value", ds, "today", c.today.Format(isoDate)))
		default:
			c.Purchase, c.dateOK = t, true
			if c.saleUsable && !c.sale.InvoiceDate.Equal(t) {
				c.note(rma.NoteDateDiffersFromSale, "given", t.Format(isoDate), "sales", c.sale.InvoiceDate.Format(isoDate))
			}
		}
	}
}

// description must be long enough; spaces do not count.
func (c *itemCheck) description() {
	if descriptionShorter(c.it.Description, c.e.minDesc) {
		c.problem(rma.NewProblem(rma.CodeDescriptionMissing, "description", "min", strconv.Itoa(c.e.minDesc)))
	}
}

// claimType checks the claim type: its brand restriction needs the product, its required fields
// do not. An IBAN that is given is always checked: a refund to a mistyped account is hard to
// undo.
func (c *itemCheck) claimType() {
	ct := claimKey(c.it.ClaimType)
	if ct == "" {
		ct = DefaultClaimType
	}
	if rule, ok := c.e.claimTypes[ct]; !ok {
		c.problem(rma.NewProblem(rma.CodeClaimTypeInvalid, "claim_type", "value", strings.TrimSpace(c.it.ClaimType), "allowed", c.e.claimNames))
	} else {
		c.ClaimType = rule.name
		if c.info != nil && len(rule.brands) > 0 && !slices.Contains(rule.brandKeys, c.info.brandKey) {
			c.problem(rma.NewProblem(rma.CodeClaimTypeNotAllowed, "claim_type", "value", rule.name, "brand", c.Product.Brand, "brands", strings.Join(rule.brands, "|")))
		}
		for _, f := range rule.requires {
			if strings.TrimSpace(c.it.Get(f)) == "" {
				c.problem(rma.NewProblem(rma.Code(f+"_required"), f, "claim_type", rule.name))
			}
		}
	}
	if strings.TrimSpace(c.it.IBAN) != "" && !c.flagged("iban") {
		if p := CheckIBAN(c.it.IBAN); p != nil {
			c.problem(*p)
		}
	}
}

// quantity is 1 unless given; more than one unit on a line only for bulk products.
func (c *itemCheck) quantity() {
	c.Quantity = 1
	if qs := strings.TrimSpace(c.it.Quantity); qs != "" {
		if n, ok := atoiStrict(qs); !ok || n < 1 {
			c.Quantity = 0
			c.problem(rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", qs, "reason", "not_positive"))
		} else {
			c.Quantity = n
		}
	}
	if c.info != nil && c.Quantity > 1 && !c.Product.Bulk {
		c.problem(rma.NewProblem(rma.CodeQuantityInvalid, "quantity", "value", strconv.Itoa(c.Quantity), "reason", "not_bulk", "max", "1"))
	}
}

// faultType must be one of the product's list when it has one.
func (c *itemCheck) faultType() {
	if c.info == nil || len(c.Product.FaultTypes) == 0 {
		return
	}
	switch ft := strings.TrimSpace(c.it.FaultType); {
	case ft == "":
		c.problem(rma.NewProblem(rma.CodeFaultTypeRequired, "fault_type", "allowed", strings.Join(c.Product.FaultTypes, "|")))
	case !slices.Contains(c.info.faultKeys, faultKey(ft)):
		c.problem(rma.NewProblem(rma.CodeFaultTypeInvalid, "fault_type", "value", ft, "allowed", strings.Join(c.Product.FaultTypes, "|")))
	}
}

// routing takes the brand's route; vendor_ticket brands need the manufacturer's ticket.
func (c *itemCheck) routing() {
	if c.info == nil {
		return
	}
	c.route = c.info.route
	if c.route.Handling == rma.HandlingVendorTicket && strings.TrimSpace(c.it.VendorTicket) == "" {
		c.problem(rma.NewProblem(rma.CodeVendorTicketRequired, "vendor_ticket", "brand", c.Product.Brand, "helpdesk", c.route.Helpdesk))
	}
}

// warranty runs from the purchase date for the product's months. The manufacturer judges its
// own warranty for vendor_direct brands, so the out-of-warranty policy does not apply to them.
func (c *itemCheck) warranty() {
	if c.info == nil || !c.dateOK {
		return
	}
	prod := c.Product
	until := AddMonths(c.Purchase, prod.WarrantyMonths)
	c.Warranty = rma.Warranty{Status: rma.WarrantyIn, Until: until}
	if !c.today.After(until) {
		return
	}
	c.Warranty.Status = rma.WarrantyExpired
	switch {
	case c.route.Handling == rma.HandlingVendorDirect:
	case c.e.rejectExpired:
		c.problem(rma.NewProblem(rma.CodeOutOfWarranty, "purchase_date", "until", until.Format(isoDate), "months", strconv.Itoa(prod.WarrantyMonths)))
	default:
		c.note(rma.NotePaidRepair, "until", until.Format(isoDate))
	}
}

// result: any problem rejects; a vendor_direct brand redirects; the rest is accepted.
func (c *itemCheck) result() {
	switch {
	case len(c.Problems) > 0:
		c.Result = rma.ResultRejected // Route stays empty; the helpdesk is in the problem's Params
	case c.route.Handling == rma.HandlingVendorDirect:
		c.Result, c.Route = rma.ResultRedirected, c.route
	default:
		c.Result, c.Route = rma.ResultAccepted, c.route
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
