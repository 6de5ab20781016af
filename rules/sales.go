package rules

import (
	"io"
	"strings"
	"time"
)

// Sale is one line of the sales records (docs/contract.md §6): which partner bought which unit, when.
type Sale struct {
	Serial      string // empty for products sold without serial tracking
	EAN         string
	PartnerID   string
	InvoiceDate time.Time // midnight UTC of the invoice day
	Invoice     string
}

// Sales are the sales records, for the serial check and the "latest purchase" warranty check.
// A nil *Sales is empty.
type Sales struct {
	bySerial map[string]Sale // normalised serial → latest sale of that unit
	latest   map[purchaseKey]Sale
	n        int
}

type purchaseKey struct{ partner, ean string }

var salesColumns = []string{"serial", "ean", "partner", "invoice_date", "invoice"}

// LoadSales reads a sales file.
func LoadSales(path string) (*Sales, error) {
	return openAndParse(path, ParseSales)
}

// ParseSales reads a sales CSV with a header row (serial,ean,partner,invoice_date,invoice);
// name is used in error messages. The serial may be empty. Every problem is reported, each as a
// *FileError, joined into one error.
func ParseSales(r io.Reader, name string) (*Sales, error) {
	t, err := openCSV(r, name, salesColumns[:4], salesColumns[4:]...)
	if err != nil {
		return nil, err
	}
	s := &Sales{bySerial: map[string]Sale{}, latest: map[purchaseKey]Sale{}}
	for {
		row, ok := t.next()
		if !ok {
			break
		}
		sale := Sale{Serial: row.get("serial"), EAN: row.get("ean"), PartnerID: row.get("partner"), Invoice: row.get("invoice")}
		good := true
		if prob := CheckEAN(sale.EAN); prob != nil {
			row.fail("ean", "ean %q is not a valid EAN-13 (%s)", sale.EAN, prob.Params["reason"])
			good = false
		}
		if sale.PartnerID == "" {
			row.fail("partner", "partner is empty")
			good = false
		}
		if d, err := ParseDate(row.get("invoice_date")); err != nil {
			row.fail("invoice_date", "invoice_date: %v", err)
			good = false
		} else {
			sale.InvoiceDate = d
		}
		if !good {
			continue
		}
		s.add(sale)
	}
	if err := t.errs.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// add indexes a sale. A serial sold twice (returned and resold) keeps its latest sale.
func (s *Sales) add(sale Sale) {
	s.n++
	if k := serialKey(sale.Serial); k != "" {
		if old, ok := s.bySerial[k]; !ok || !sale.InvoiceDate.Before(old.InvoiceDate) {
			s.bySerial[k] = sale
		}
	}
	pk := purchaseKey{idKey(sale.PartnerID), sale.EAN}
	if old, ok := s.latest[pk]; !ok || !sale.InvoiceDate.Before(old.InvoiceDate) {
		s.latest[pk] = sale
	}
}

// BySerial finds the sale of a unit. Serials compare without case and surrounding space, as
// partners type them.
func (s *Sales) BySerial(serial string) (Sale, bool) {
	if s == nil {
		return Sale{}, false
	}
	k := serialKey(serial)
	if k == "" {
		return Sale{}, false
	}
	sale, ok := s.bySerial[k]
	return sale, ok
}

// LatestPurchase finds a partner's most recent purchase of an EAN.
func (s *Sales) LatestPurchase(partnerID, ean string) (Sale, bool) {
	if s == nil {
		return Sale{}, false
	}
	sale, ok := s.latest[purchaseKey{idKey(partnerID), strings.TrimSpace(ean)}]
	return sale, ok
}

// Len is the number of sales records.
func (s *Sales) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

func serialKey(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// idKey normalises a partner id: ERP exports and the partners file may differ in case.
func idKey(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// samePartner reports whether two partner ids name the same partner.
func samePartner(a, b string) bool { return idKey(a) == idKey(b) }
