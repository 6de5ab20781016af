package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// SIGHUP's reload: new partners are seen at once (by the parser too); a broken file keeps the
// data in use and says why.
func TestReloadKeepsOldDataOnBrokenFile(t *testing.T) {
	e := newSchEnv(t, schNever)
	cfg, err := config.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(cfg.PartnersFile)
	if err != nil {
		t.Fatal(err)
	}
	partners := filepath.Join(t.TempDir(), "partners.yaml")
	if err := os.WriteFile(partners, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.PartnersFile = partners
	d, err := New(context.Background(), cfg, zerolog.Nop(), Options{Consumer: "reload"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.rdb.Close() })

	const newcomer = "rma@newcomer.example"
	if _, ok := d.parser.Partners.BySender(newcomer); ok {
		t.Fatal("newcomer known before it was added")
	}
	added := string(orig) + `
  - id: P-GR-009
    name: "Newcomer"
    vat: "EL999999999"
    country: "GR"
    locale: "el"
    emails: [` + newcomer + `]
`
	if err := os.WriteFile(partners, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatalf("reload of a good file: %v", err)
	}
	if p, ok := d.parser.Partners.BySender(newcomer); !ok || p.ID != "P-GR-009" {
		t.Fatalf("after reload the parser does not know the newcomer: %+v %v", p, ok)
	}

	if err := os.WriteFile(partners, []byte("partners:\n  - id: [broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = d.Reload()
	if err == nil || !strings.Contains(err.Error(), "partners.yaml") {
		t.Fatalf("reload of a broken file: got %v, want an error naming the file", err)
	}
	if _, ok := d.parser.Partners.BySender(newcomer); !ok {
		t.Fatal("a broken file replaced the data in use")
	}
	if _, ok := d.engine.Data().Catalog.Product("5204001000013"); !ok {
		t.Fatal("a broken partners file dropped the catalog")
	}
}
