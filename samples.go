// Package rmad holds the sample partner mails and data files that `rmad demo` runs the real
// daemon on (the same files the tests use, from testdata/).
package rmad

import "embed"

// Samples holds testdata/mails/*.eml, catalog.csv, sales.csv, partners.yaml and expected.json.
//
//go:embed testdata/mails/*.eml testdata/catalog.csv testdata/sales.csv testdata/partners.yaml testdata/expected.json
var Samples embed.FS
