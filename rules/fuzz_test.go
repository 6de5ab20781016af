package rules

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/rma"
)

// The fuzz targets hold rules to "bad input never crashes rmad"; their seeds run with go test.

func FuzzCheckers(f *testing.F) {
	for _, s := range []string{"5204001000013", "5.90123E+12", "", "GR16 0110 1250 0000 0001 2300 695", "31.02.2026", "2026-03-21 00:00", "99999999999999999999E+999", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p := CheckEAN(s); p == nil && len(strings.TrimSpace(s)) != 13 {
			t.Errorf("CheckEAN(%q) accepted a value that is not 13 long", s)
		}
		if p := CheckIBAN(s); p == nil && ibanMod97(NormalizeIBAN(s)) != 1 {
			t.Errorf("CheckIBAN(%q) accepted a failing checksum", s)
		}
		if d, err := ParseDate(s); err == nil && (d.Hour() != 0 || d.Location() != time.UTC) {
			t.Errorf("ParseDate(%q) = %v, not a UTC midnight", s, d)
		}
	})
}

func FuzzParseFiles(f *testing.F) {
	f.Add([]byte("ean,brand,model,warranty_months,fault_types,bulk\n5204001000013,TP-Link,X,36,a|b,no\n"))
	f.Add([]byte("serial,ean,partner,invoice_date,invoice\nS,5204001000013,P,2026-01-01,I\n"))
	f.Add([]byte("partners:\n  - {id: A, country: GR, locale: el, emails: [a@a.example]}\n"))
	f.Add([]byte("\"a\nb\"\",;\t\xef\xbb\xbf"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCatalog(bytes.NewReader(data), "c")
		if (c == nil) == (err == nil) {
			t.Errorf("ParseCatalog: catalog %v with error %v", c, err)
		}
		s, err := ParseSales(bytes.NewReader(data), "s")
		if (s == nil) == (err == nil) {
			t.Errorf("ParseSales: sales %v with error %v", s, err)
		}
		p, err := ParsePartners(bytes.NewReader(data), "p")
		if (p == nil) == (err == nil) {
			t.Errorf("ParsePartners: partners %v with error %v", p, err)
		}
	})
}

func FuzzEvaluate(f *testing.F) {
	f.Add("6903466000031", "", "04.05.2026", "x", "dji care", "wing", "-1", "RO49")
	f.Add("5.90123E+12", "RT-88812", "", "Router reboots every few minutes.", "fast_refund", "", "5", "")
	e := testEngine(f, nil)
	f.Fuzz(func(t *testing.T, ean, serial, date, desc, claim, fault, qty, iban string) {
		it := rma.Item{Line: 1, EAN: ean, Serial: serial, PurchaseDate: date, Description: desc, ClaimType: claim, FaultType: fault, Quantity: qty, IBAN: iban}
		ds := e.Evaluate(rma.Submission{PartnerID: partnerGR, Items: []rma.Item{it}}, testNow)
		if len(ds) != 1 {
			t.Fatalf("%d decisions", len(ds))
		}
		d := ds[0]
		if (len(d.Problems) > 0) != (d.Result == rma.ResultRejected) || d.Result == rma.ResultRejected && d.Route.Handling != "" {
			t.Errorf("inconsistent decision %+v", d)
		}
	})
}
