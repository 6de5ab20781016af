package config

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problems are the problems of one YAML file, each placed by line and key path and printed as
// file:line: key.path: message, the format of the configuration's own. Data files in YAML
// (partners.yaml) are decoded with DecodeYAML and checked with At, so check-config lists all of
// their problems in one format.
type Problems struct{ p *problems }

// DecodeYAML decodes data strictly into v (a pointer to a struct with yaml tags), as Load
// decodes the configuration: every unknown key, wrong type and duplicate key is recorded with
// its line and key path, and decoding goes on past it. ok is false when data is not YAML at
// all or is empty; then nothing was decoded.
func DecodeYAML(data []byte, name string, v any) (pr *Problems, ok bool) {
	pr = &Problems{p: newProblems(name)}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlSyntaxError(err)
		pr.p.add(line, "", "%s", msg)
		return pr, false
	}
	if len(doc.Content) == 0 {
		return pr, false
	}
	d := &decoder{p: pr.p}
	d.value(doc.Content[0], reflect.ValueOf(v).Elem(), "")
	return pr, true
}

// At records a problem at a key path such as partners[2].locale, on the line of that key (or of
// its nearest parent the file has). A path under one that already has a problem is not reported
// again.
func (pr *Problems) At(path, format string, args ...any) { pr.p.at(path, format, args...) }

// Set reports whether the file gives path a value.
func (pr *Problems) Set(path string) bool { return pr.p.set(path) }

// Len is the number of problems so far.
func (pr *Problems) Len() int { return len(pr.p.list) }

// Err is every problem, in file order, as an *Errors; nil when there is none.
func (pr *Problems) Err() error { return pr.p.err() }

// IndexPath is path[i], the key path of a list's element.
func IndexPath(path string, i int) string { return indexPath(path, i) }

// Has reports whether a problem was recorded at path or under it ("" is the file as a whole,
// such as a syntax error or a document that is not a mapping).
func (pr *Problems) Has(path string) bool {
	for _, e := range pr.p.list {
		if e.Path == path || strings.HasPrefix(e.Path, path+".") || strings.HasPrefix(e.Path, path+"[") {
			return true
		}
	}
	return false
}
