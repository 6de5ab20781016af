// Package i18n holds the words rmad says to people: the locales partners may have, and one
// catalog per locale (locales/*.yaml: en, el, ro, fr) of problem descriptions, note texts,
// status names, field labels and the phrases of every mail; and the staff console's words
// (locales/console/*.yaml: en, el). Packages that write to people
// (outbound, cmd/rmad explain, the partner API) take their words from here, so a code is worded
// once per language.
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/rmad/rmad/rma"
)

// Locales are the languages partners may have and get mail in; the first is the fallback.
var Locales = []string{"en", "el", "ro", "fr"}

// Fallback is the locale of unknown locales and of phrases a locale lacks.
const Fallback = "en"

//go:embed locales/*.yaml
var localeFiles embed.FS

// catalog is one locale's phrases: key → template over a map[string]string of parameters.
type catalog map[string]*phrase

// catalogs is loaded once from the embedded files. A broken file cannot panic the daemon: the
// error is kept, Err returns it for callers to refuse to compose, and the tests fail on it.
var catalogs, catalogErr = loadCatalogs(localeFiles)

// Err is the error of loading the embedded catalogs, nil when they are sound.
func Err() error { return catalogErr }

func loadCatalogs(fsys fs.FS) (map[string]catalog, error) {
	out := make(map[string]catalog, len(Locales))
	var errs []string
	for _, loc := range Locales {
		name := path.Join("locales", loc+".yaml")
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		var raw map[string]string
		if err := yaml.Unmarshal(b, &raw); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		cat := make(catalog, len(raw))
		for key, text := range raw {
			// missingkey=zero: an absent parameter reads as "" so templates can test it with {{if}}.
			t, err := template.New(key).Option("missingkey=zero").Parse(text)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: key %s: %v", name, key, err))
				continue
			}
			cat[key] = newPhrase(t)
		}
		out[loc] = cat
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("i18n: locale catalogs: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// Normalize maps what partners' files say ("EL", "el-GR", "gr", "fr_FR") to one of Locales,
// and anything unknown to en.
func Normalize(locale string) string {
	l := strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(l, "-_."); i >= 0 {
		l = l[:i]
	}
	if l == "gr" { // the country code, often written for the language
		l = "el"
	}
	if slices.Contains(Locales, l) {
		return l
	}
	return Fallback
}

// Known reports whether locale is exactly one of Locales (as a partners file must say it).
func Known(locale string) bool { return slices.Contains(Locales, locale) }

// Lang renders catalog phrases in one locale, falling back to English key by key. Make one
// with For; a Lang converted from an unknown string renders English.
type Lang string

// For is the language of the first non-blank locale given (a partner's, then a mail's), or
// English.
func For(locales ...string) Lang {
	for _, l := range locales {
		if strings.TrimSpace(l) != "" {
			return Lang(Normalize(l))
		}
	}
	return Fallback
}

// Has reports whether the phrase exists in this locale or the fallback.
func (l Lang) Has(key string) bool {
	_, ok := catalogs[string(l)][key]
	if !ok {
		_, ok = catalogs[Fallback][key]
	}
	return ok
}

// T renders a phrase with key/value parameters. A missing phrase renders as its key, so a gap in
// a catalog shows up in the mail instead of an empty line; the tests keep catalogs complete.
func (l Lang) T(key string, kv ...string) string {
	p := l.phrase(key)
	if p == nil {
		return key
	}
	if p.simple {
		return p.render(kvParams(kv))
	}
	return p.execute(key, Params(nil, kv...))
}

// Render renders a phrase with a parameter map.
func (l Lang) Render(key string, data map[string]string) string {
	p := l.phrase(key)
	if p == nil {
		return key
	}
	if p.simple {
		return p.render(mapParams(data))
	}
	return p.execute(key, data)
}

// phrase is the locale's phrase key, else the fallback's; nil when neither has it.
func (l Lang) phrase(key string) *phrase {
	p, ok := catalogs[string(l)][key]
	if !ok {
		p = catalogs[Fallback][key]
	}
	return p
}

// Field is the partner-facing label of an item field (the form's label in that language), or
// the field's name when it has none.
func (l Lang) Field(name string) string {
	if k := "field." + name; l.Has(k) {
		return l.T(k)
	}
	return name
}

// Pair is "label: value" as the locale punctuates it (French: "label : value").
func (l Lang) Pair(label, value string) string {
	return l.T("pair", "label", label, "value", value)
}

// Describe says what is wrong and what to fix, in the partner's language, for one problem:
// the field's label first ("Serial number: required for DJI products ...") when the problem is
// about a field. Params refine the text ("reason" picks a variant such as the spreadsheet's
// scientific notation; "value", "allowed", "min", "brand", "helpdesk" ... fill it in).
func Describe(locale string, p rma.Problem) string {
	return For(locale).Describe(p)
}

// Describe is the package's Describe in this language.
func (l Lang) Describe(p rma.Problem) string {
	data := Params(p.Params, "code", string(p.Code))
	// Lists travel |-joined; people read them comma-separated.
	for _, k := range []string{"allowed", "brands"} {
		if v := data[k]; v != "" {
			data[k] = strings.Join(splitList(v), ", ")
		}
	}
	// A size limit travels in bytes; people read megabytes.
	if p.Code == rma.CodeTooLarge && data["size"] == "" {
		if n, err := strconv.ParseInt(data["limit"], 10, 64); err == nil && p.Params["reason"] == "message_size" {
			data["size"] = byteSize(n)
		}
	}
	key := "problem." + string(p.Code)
	if r := p.Params["reason"]; r != "" && l.Has(key+"."+r) {
		key += "." + r
	}
	// A claim type may require any item field (config claim_types.*.requires): a field without
	// a phrase of its own still gets one that names it and says what to do.
	if !l.Has(key) && p.Field != "" && strings.HasSuffix(string(p.Code), "_required") {
		key = "problem.required"
	}
	var text string
	if l.Has(key) {
		text = l.Render(key, data)
	} else {
		text = l.Render("problem.unknown", data)
	}
	if p.Field != "" {
		return l.Pair(l.Field(p.Field), text)
	}
	return text
}

// DescribeNote words a warning that does not reject an item, in the partner's language.
func DescribeNote(locale string, n rma.Note) string {
	return For(locale).DescribeNote(n)
}

// DescribeNote is the package's DescribeNote in this language.
func (l Lang) DescribeNote(n rma.Note) string {
	data := Params(n.Params, "key", string(n.Key))
	if key := "note." + string(n.Key); l.Has(key) {
		return l.Render(key, data)
	}
	return l.Render("note.unknown", data)
}

// StatusName is a status's name in the partner's language ("Αναμονή παραλαβής" for
// awaiting_goods); an unknown status is returned as its code.
func StatusName(locale string, s rma.Status) string {
	return For(locale).StatusName(s)
}

// StatusName is the package's StatusName in this language.
func (l Lang) StatusName(s rma.Status) string {
	if key := "status." + string(s); l.Has(key) {
		return l.T(key)
	}
	return string(s)
}

// Keys lists a locale's phrase keys, sorted (for tests and completeness checks).
func Keys(locale string) []string {
	keys := make([]string, 0, len(catalogs[locale]))
	for k := range catalogs[locale] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Params copies params (callers' maps stay untouched) and sets key/value pairs on the copy.
func Params(params map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(params)+len(kv)/2)
	for k, v := range params {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// splitList splits a |- or comma-joined list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' }) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// byteSize words a byte count for people: "25 MB", "512 KB", "900 bytes" (binary units, at
// most one decimal).
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(math.Round(float64(n)/(1<<20)*10)/10, 'f', -1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(math.Round(float64(n)/(1<<10)*10)/10, 'f', -1, 64) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
