package rules

import (
	"io"
	"slices"
	"strings"

	"github.com/rmad/rmad/rma"
)

// Catalog is the product list (docs/contract.md §6): ean,brand,model,warranty_months,fault_types,bulk.
// A nil *Catalog is empty.
type Catalog struct {
	products map[string]rma.Product // by EAN
}

var catalogColumns = []string{"ean", "brand", "model", "warranty_months", "fault_types", "bulk"}

// maxWarrantyMonths bounds warranty_months: a larger value is a typo (months vs. days).
const maxWarrantyMonths = 240

// LoadCatalog reads a catalog file.
func LoadCatalog(path string) (*Catalog, error) {
	return openAndParse(path, ParseCatalog)
}

// ParseCatalog reads a catalog CSV with a header row; name is used in error messages. Every
// problem is reported, each as a *FileError with line and column, joined into one error.
// fault_types and bulk may be left out of the header (no fault types, not bulk).
func ParseCatalog(r io.Reader, name string) (*Catalog, error) {
	t, err := openCSV(r, name, catalogColumns[:4], catalogColumns[4:]...)
	if err != nil {
		return nil, err
	}
	c := &Catalog{products: map[string]rma.Product{}}
	firstLine := map[string]int{}
	for {
		row, ok := t.next()
		if !ok {
			break
		}
		p := rma.Product{EAN: row.get("ean"), Brand: row.get("brand"), Model: row.get("model")}
		good := true
		if prob := CheckEAN(p.EAN); prob != nil {
			row.fail("ean", "ean %q is not a valid EAN-13 (%s)", p.EAN, prob.Params["reason"])
			good = false
		} else if l, dup := firstLine[p.EAN]; dup {
			row.fail("ean", "ean %s is already listed on line %d", p.EAN, l)
			good = false
		}
		if p.Brand == "" {
			row.fail("brand", "brand is empty")
			good = false
		}
		if s := row.get("warranty_months"); s == "" {
			row.fail("warranty_months", "warranty_months is empty")
			good = false
		} else if n, ok := atoiStrict(s); !ok || n > maxWarrantyMonths {
			row.fail("warranty_months", "warranty_months %q: want a whole number of months from 0 to %d", s, maxWarrantyMonths)
			good = false
		} else {
			p.WarrantyMonths = n
		}
		p.FaultTypes = splitList(row.get("fault_types"))
		switch b, ok := parseYesNo(row.get("bulk")); {
		case !ok:
			row.fail("bulk", "bulk %q: want yes or no", row.get("bulk"))
			good = false
		default:
			p.Bulk = b
		}
		if good {
			c.products[p.EAN] = p
			firstLine[p.EAN] = row.line()
		}
	}
	if err := t.errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Product looks a product up by EAN (surrounding space ignored).
func (c *Catalog) Product(ean string) (rma.Product, bool) {
	if c == nil {
		return rma.Product{}, false
	}
	p, ok := c.products[strings.TrimSpace(ean)]
	if ok {
		p.FaultTypes = slices.Clone(p.FaultTypes) // the caller may not change our copy
	}
	return p, ok
}

// Len is the number of products.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.products)
}

// splitList splits a |-joined list, trimming entries and dropping empty ones.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, "|") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseYesNo reads a yes/no cell; empty is no. true/false and 1/0 are accepted too, as ERPs
// write them.
func parseYesNo(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "no", "n", "false", "0":
		return false, true
	case "yes", "y", "true", "1":
		return true, true
	}
	return false, false
}
