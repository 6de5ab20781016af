package rules

import (
	"errors"
	"fmt"
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
	var errs []error
	d := &Data{
		Partners: load(cfg, cfg.PartnersFile, "partners_file", LoadPartners, &errs),
		Catalog:  load(cfg, cfg.CatalogFile, "catalog_file", LoadCatalog, &errs),
		Sales:    &Sales{bySerial: map[string]Sale{}, latest: map[purchaseKey]Sale{}},
	}
	if cfg.SalesFile != "" {
		d.Sales = load(cfg, cfg.SalesFile, "sales_file", LoadSales, &errs)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// load reads one required data file, adding its problems to errs.
func load[T any](cfg *config.Config, path, key string, read func(string) (*T, error), errs *[]error) *T {
	if path == "" {
		*errs = append(*errs, fmt.Errorf("%s is not set", key))
		return nil
	}
	v, err := read(resolve(cfg, path))
	if err != nil {
		*errs = append(*errs, err)
	}
	return v
}

func resolve(cfg *config.Config, path string) string {
	if filepath.IsAbs(path) || cfg.Path == "" {
		return path
	}
	return filepath.Join(filepath.Dir(cfg.Path), path)
}
