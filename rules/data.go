package rules

import (
	"errors"
	"path/filepath"

	"github.com/rmad/rmad/config"
)

// Data is everything rules reads from files. Treat it as immutable once loaded: a reload
// builds new Data and swaps it in (Engine.SetData).
type Data struct {
	Catalog  *Catalog
	Sales    *Sales
	Partners *Partners
}

// LoadData reads the partners, catalog and sales files named in cfg. partners_file and
// catalog_file are required; an empty sales_file gives empty Sales. Relative paths are taken
// from the config file's folder. The problems of all files are joined into one error, so an
// admin fixes everything in one round.
func LoadData(cfg *config.Config) (*Data, error) {
	if cfg == nil {
		return nil, errors.New("rules: no configuration")
	}
	d := &Data{}
	var errs []error
	if cfg.PartnersFile == "" {
		errs = append(errs, errors.New("partners_file is not set"))
	} else if p, err := LoadPartners(resolve(cfg, cfg.PartnersFile)); err != nil {
		errs = append(errs, err)
	} else {
		d.Partners = p
	}
	if cfg.CatalogFile == "" {
		errs = append(errs, errors.New("catalog_file is not set"))
	} else if c, err := LoadCatalog(resolve(cfg, cfg.CatalogFile)); err != nil {
		errs = append(errs, err)
	} else {
		d.Catalog = c
	}
	if cfg.SalesFile == "" {
		d.Sales = &Sales{bySerial: map[string]Sale{}, latest: map[purchaseKey]Sale{}}
	} else if s, err := LoadSales(resolve(cfg, cfg.SalesFile)); err != nil {
		errs = append(errs, err)
	} else {
		d.Sales = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

func resolve(cfg *config.Config, path string) string {
	if filepath.IsAbs(path) || cfg.Path == "" {
		return path
	}
	return filepath.Join(filepath.Dir(cfg.Path), path)
}
