package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
)

const (
	fixtureCatalog  = "../testdata/catalog.csv"
	fixtureSales    = "../testdata/sales.csv"
	fixturePartners = "../testdata/partners.yaml"
)

func TestLoadCatalogFixture(t *testing.T) {
	c, err := LoadCatalog(fixtureCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 9 {
		t.Errorf("Len = %d, want 9", c.Len())
	}
	dji, ok := c.Product("6903466000031")
	if !ok || dji.Brand != "DJI" || dji.Model != "Mini 4 Pro" || dji.WarrantyMonths != 12 || dji.Bulk ||
		!slices.Equal(dji.FaultTypes, []string{"no power", "gimbal error", "crash damage", "battery"}) {
		t.Errorf("DJI = %+v, %v", dji, ok)
	}
	if m, _ := c.Product(" 5099206000070 "); !m.Bulk || m.FaultTypes != nil {
		t.Errorf("Logitech = %+v, want bulk without fault types", m)
	}
	// The caller's copy is its own.
	dji.FaultTypes[0] = "changed"
	if again, _ := c.Product("6903466000031"); again.FaultTypes[0] != "no power" {
		t.Error("Product returned the catalog's own slice")
	}
	if _, ok := c.Product("4006381333931"); ok {
		t.Error("unknown EAN found")
	}
	var none *Catalog
	if _, ok := none.Product("5204001000013"); ok || none.Len() != 0 {
		t.Error("nil catalog is not empty")
	}
}

// wantErrors checks that err holds exactly these messages (as substrings, in order).
func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("error %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
	var fe *FileError
	var ce *config.Errors
	if !errors.As(err, &fe) && !errors.As(err, &ce) {
		t.Errorf("error %v holds no *FileError or *config.Errors", err)
	}
}

func TestParseCatalogErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{"cat.csv:1:1: empty file"}},
		{"missing column", "ean,brand,model\n", []string{`cat.csv:1:1: header lacks column "warranty_months"`}},
		{"duplicate column", "ean,brand,model,warranty_months,brand\n", []string{`cat.csv:1:33: column "brand" appears twice`}},
		{"bad cells", "ean,brand,model,warranty_months,fault_types,bulk\n" +
			"5204001000016,TP-Link,X,36,,no\n" +
			"4712633000024,,Y,abc,,maybe\n" +
			"5.90123E+12,QNAP,Z,24,,no\n", []string{
			`cat.csv:2:1: ean "5204001000016" is not a valid EAN-13 (check_digit)`,
			`cat.csv:3:15: brand is empty`,
			`cat.csv:3:18: warranty_months "abc"`,
			`cat.csv:3:23: bulk "maybe": want yes or no`,
			`cat.csv:4:1: ean "5.90123E+12" is not a valid EAN-13 (scientific_notation)`,
		}},
		{"duplicate ean", "ean,brand,model,warranty_months\n5204001000013,A,B,1\n\n5204001000013,A,B,1\n", []string{
			`cat.csv:4:1: ean 5204001000013 is already listed on line 2`}},
		{"short row", "ean,brand,model,warranty_months\n5204001000013,A\n", []string{
			`cat.csv:2:3: warranty_months is empty`}},
		{"bad quoting", "ean,brand,model,warranty_months\n5204001000013,\"A\"x,B,1\n4712633000024,Q,M,600\n", []string{
			`cat.csv:2:`,
			`cat.csv:3:19: warranty_months "600": want a whole number of months from 0 to 240`}},
		{"not utf-8", "ean,brand,model,warranty_months\n5204001000013,Caf\xe9,B,1\n", []string{
			`cat.csv:2:15: text is not UTF-8`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog(strings.NewReader(tt.in), "cat.csv")
			if c != nil {
				t.Error("a broken catalog was returned")
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

func TestParseCatalogVariants(t *testing.T) {
	tests := []struct{ name, in string }{
		{"semicolons, BOM, CRLF, trailing empty rows", "\ufeffEAN;Brand;Model;Warranty_Months;Fault_Types;Bulk\r\n6903466000031;DJI;Mini;12;no power | battery;YES\r\n;;;;;\r\n\r\n"},
		{"tabs, columns reordered, extra column", "bulk\tean\tmodel\tbrand\twarranty_months\tfault_types\tprice\ntrue\t6903466000031\tMini\tDJI\t12\tno power|battery\t499\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCatalog(strings.NewReader(tt.in), "cat.csv")
			if err != nil {
				t.Fatal(err)
			}
			p, ok := c.Product("6903466000031")
			if !ok || p.Brand != "DJI" || !p.Bulk || !slices.Equal(p.FaultTypes, []string{"no power", "battery"}) || c.Len() != 1 {
				t.Errorf("got %+v %v (len %d)", p, ok, c.Len())
			}
		})
	}
}

func TestLoadSalesFixture(t *testing.T) {
	s, err := LoadSales(fixtureSales)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4", s.Len())
	}
	day := func(v string) time.Time { d, _ := ParseDate(v); return d }
	sale, ok := s.BySerial(" sn-dji-0001 ")
	if want := (Sale{Serial: "SN-DJI-0001", EAN: "6903466000031", PartnerID: "P-GR-001", InvoiceDate: day("2026-05-04"), Invoice: "INV-GR-5521"}); !ok || sale != want {
		t.Errorf("BySerial = %+v %v, want %+v", sale, ok, want)
	}
	if _, ok := s.BySerial(""); ok {
		t.Error("the empty serial (rows without serial) must not match")
	}
	latest, ok := s.LatestPurchase("P-RO-002", "4712633000024")
	if !ok || latest.Invoice != "INV-RO-1877" || !latest.InvoiceDate.Equal(day("2026-06-15")) {
		t.Errorf("LatestPurchase = %+v %v, want INV-RO-1877 of 2026-06-15", latest, ok)
	}
	if _, ok := s.LatestPurchase("P-GR-001", "4712633000024"); ok {
		t.Error("another partner's purchase was found")
	}
	var none *Sales
	if _, ok := none.BySerial("X"); ok || none.Len() != 0 {
		t.Error("nil sales is not empty")
	}
}

func TestParseSalesResale(t *testing.T) {
	// A unit returned and sold again: its latest sale counts, in whatever order the rows are.
	in := "serial,ean,partner,invoice_date,invoice\n" +
		"S1,5204001000013,P-B,2026-03-01,I-2\n" +
		"S1,5204001000013,P-A,2025-01-01,I-1\n"
	s, err := ParseSales(strings.NewReader(in), "s.csv")
	if err != nil {
		t.Fatal(err)
	}
	if sale, _ := s.BySerial("s1"); sale.Invoice != "I-2" {
		t.Errorf("BySerial = %+v, want the 2026 sale", sale)
	}
	if sale, ok := s.LatestPurchase("p-a", "5204001000013"); !ok || sale.Invoice != "I-1" {
		t.Errorf("LatestPurchase(p-a) = %+v %v, want I-1 (ids compare without case)", sale, ok)
	}
}

func TestParseSalesErrors(t *testing.T) {
	in := "serial,ean,partner,invoice_date,invoice\n" +
		"S1,5204001000013,P-GR-001,31.02.2026,I-1\n" +
		"S2,5204001000014,,2026-01-01,I-2\n" +
		"S3,5204001000013,P-GR-001,yesterday,I-3\n"
	s, err := ParseSales(strings.NewReader(in), "sales.csv")
	if s != nil {
		t.Error("broken sales were returned")
	}
	wantErrors(t, err,
		`sales.csv:2:27: invoice_date: date "31.02.2026" does not exist in the calendar`,
		`sales.csv:3:4: ean "5204001000014" is not a valid EAN-13 (check_digit)`,
		`sales.csv:3:18: partner is empty`,
		`sales.csv:4:27: invoice_date: date "yesterday": want one of`,
	)
}

func TestLoadPartnersFixture(t *testing.T) {
	ps, err := LoadPartners(fixturePartners)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range ps.All() {
		ids = append(ids, p.ID)
	}
	if want := []string{"P-GR-001", "P-RO-002", "P-FR-003", "P-EN-004"}; !slices.Equal(ids, want) {
		t.Errorf("All ids = %v, want %v", ids, want)
	}
	p, ok := ps.ByID("p-gr-001")
	if !ok || p.Name != "Alfa Computers" || p.Country != "GR" || p.Locale != "el" || p.VAT != "EL094019245" ||
		p.ReturnAddress != "Leoforos Irakleiou 120, 14231 Nea Ionia" || !slices.Equal(p.Domains, []string{"alfa-computers.gr"}) {
		t.Errorf("ByID = %+v %v", p, ok)
	}
}

func TestPartnersBySender(t *testing.T) {
	ps, err := LoadPartners(fixturePartners)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ addr, want string }{
		{"service@alfa-computers.gr", "P-GR-001"},
		{"Alfa Computers <service@alfa-computers.gr>", "P-GR-001"},
		{"SERVICE@Alfa-Computers.GR", "P-GR-001"},
		{"<service@alfa-computers.gr>", "P-GR-001"},
		{"giorgos@alfa-computers.gr", "P-GR-001"}, // by domain
		{"\"Γιώργος\" <Giorgos@ALFA-COMPUTERS.gr>", "P-GR-001"},
		{"rma@nova-it.ro", "P-RO-002"},
		{"Nova IT S.R.L. <rma@nova-it.ro>", "P-RO-002"}, // unquoted dots: net/mail refuses the name
		{"Nova <rma@nova-it.ro", "P-RO-002"},
		{"Nova IT <RMA@nova-it.ro>", "P-RO-002"},
		{"office@nova-it.ro", ""}, // Nova lists an address, not its domain
		{"x@mail.alfa-computers.gr", ""},
		{"service@alfa-computers.gr.evil.example", ""},
		{"sav@telecompro.fr", "P-FR-003"},
		{"returns@cyprusnet.example", "P-EN-004"},
		{"someone@unknown-shop.example", ""},
		{"", ""},
		{"not an address", ""},
	}
	for _, tt := range tests {
		p, ok := ps.BySender(tt.addr)
		if ok != (tt.want != "") || p.ID != tt.want {
			t.Errorf("BySender(%q) = %q %v, want %q", tt.addr, p.ID, ok, tt.want)
		}
	}
	var none *Partners
	if _, ok := none.BySender("service@alfa-computers.gr"); ok {
		t.Error("nil partners know a sender")
	}
}

func TestPartnersByToken(t *testing.T) {
	token := "s3cr3t-token"
	sum := sha256.Sum256([]byte(token))
	digest := hex.EncodeToString(sum[:])
	in := "partners:\n" +
		"  - {id: A, country: GR, locale: el, emails: [a@a.example], api_token_sha256: " + strings.ToUpper(digest) + "}\n" +
		"  - {id: B, country: RO, locale: ro, emails: [b@b.example]}\n"
	ps, err := ParsePartners(strings.NewReader(in), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ digest, want string }{
		{digest, "A"},
		{strings.ToUpper(digest), "A"},
		{strings.Repeat("0", 64), ""}, // B has no token: nothing matches it
		{digest[:62], ""},
		{strings.Repeat("z", 64), ""},
		{"", ""},
	}
	for _, tt := range tests {
		p, ok := ps.ByTokenSHA256(tt.digest)
		if ok != (tt.want != "") || p.ID != tt.want {
			t.Errorf("ByTokenSHA256(%q) = %q %v, want %q", tt.digest, p.ID, ok, tt.want)
		}
	}
	// The fixture's tokens load too.
	fx, err := LoadPartners(fixturePartners)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := fx.ByTokenSHA256("dc19ce81fcad2508ebe1514e4322ed02dd56692e95686b70aa33d563c8543b84"); !ok || p.ID != "P-RO-002" {
		t.Errorf("fixture token = %q %v, want P-RO-002", p.ID, ok)
	}
}

func TestParsePartnersErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{"p.yaml: empty file"}},
		{"syntax", "partners:\n  - id: A\n   bad: [\n", []string{"p.yaml:1: YAML syntax: did not find expected '-' indicator"}},
		{"not a mapping", "- a\n", []string{"p.yaml:1: want a mapping of keys, got a list"}},
		{"unknown top key", "partner:\n  - id: A\n", []string{`p.yaml:1: partner: unknown key (known here: partners)`, "p.yaml: partners: missing"}},
		{"empty list", "partners: []\n", []string{"p.yaml:1: partners: the list is empty"}},
		{"null list", "partners:\n", []string{"p.yaml:1: partners: missing"}},
		{"field problems", `partners:
  - id: A
    country: GR
    locale: de
    emails: [a@a.example]
    api_token_sha256: "abc"
    colour: blue
  - id: a
    country: Greece
    locale: el
  - name: no id
    country: RO
    locale: ro
    emails: [not-an-address]
    domains: ["@b.example", "localhost"]
  - {id: B, country: FR, locale: fr, emails: b@b.example}
`, []string{
			`p.yaml:4: partners[0].locale: "de": want one of en, el, ro, fr`,
			`p.yaml:6: partners[0].api_token_sha256: must be 64 hex digits`,
			`p.yaml:7: partners[0].colour: unknown key (known here: api_token_sha256, country, domains, emails, id, locale, name, return_address, vat)`,
			`p.yaml:8: partners[1]: no emails or domains`,
			`p.yaml:9: partners[1].country: "Greece": want a two-letter country code`,
			`p.yaml:11: partners[2].id: missing`,
			`p.yaml:14: partners[2].emails[0]: "not-an-address" is not an address`,
			`p.yaml:15: partners[2].domains[1]: "localhost" is not a domain`,
		}},
		{"duplicates", `partners:
  - {id: A, country: GR, locale: el, emails: [x@a.example], domains: [a.example]}
  - {id: A, country: GR, locale: el, emails: [X@A.example], domains: [A.EXAMPLE]}
`, []string{
			`p.yaml:3: partners[1].id: "A" is already used by partner "A"`,
			`p.yaml:3: partners[1].emails[0]: "x@a.example" is already listed for partner A`,
			`p.yaml:3: partners[1].domains[0]: "a.example" is already listed for partner A`,
		}},
		{"wrong kinds", `partners:
  - id: [A]
    country: GR
    locale: el
    emails: {a: b}
`, []string{
			`p.yaml:2: partners[0].id: want a text value, got a list`,
			`p.yaml:5: partners[0].emails: want a list, got a mapping`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParsePartners(strings.NewReader(tt.in), "p.yaml")
			if ps != nil {
				t.Error("broken partners were returned")
			}
			wantErrors(t, err, tt.want...)
		})
	}
}

func TestLoadData(t *testing.T) {
	d, err := LoadData(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if d.Catalog.Len() != 9 || d.Sales.Len() != 4 || d.Partners.Len() != 4 {
		t.Errorf("loaded %d products, %d sales, %d partners", d.Catalog.Len(), d.Sales.Len(), d.Partners.Len())
	}

	// Relative paths resolve against the config file's folder; no sales file is fine.
	cfg := &config.Config{Path: "../testdata/config.yaml", PartnersFile: "partners.yaml", CatalogFile: "catalog.csv"}
	d, err = LoadData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Sales == nil || d.Sales.Len() != 0 || d.Catalog.Len() != 9 {
		t.Errorf("got sales %v, catalog %d", d.Sales, d.Catalog.Len())
	}

	// Problems of every file come back together.
	dir := t.TempDir()
	bad := filepath.Join(dir, "catalog.csv")
	if err := os.WriteFile(bad, []byte("ean,brand,model,warranty_months\n123,X,Y,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadData(&config.Config{PartnersFile: filepath.Join(dir, "missing.yaml"), CatalogFile: bad, SalesFile: filepath.Join(dir, "nosales.csv")})
	msg := err.Error()
	for _, want := range []string{"missing.yaml", bad + ":2:1: ean \"123\"", "nosales.csv"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	_, err = LoadData(&config.Config{})
	if err == nil || !strings.Contains(err.Error(), "partners_file is not set") || !strings.Contains(err.Error(), "catalog_file is not set") {
		t.Errorf("LoadData(empty config) = %v", err)
	}
}
