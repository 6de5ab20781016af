package outbound

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

// Locales are the languages partners may get mail in; the first is the fallback.
var Locales = []string{"en", "el", "ro", "fr"}

const fallbackLocale = "en"

//go:embed locales/*.yaml
var localeFiles embed.FS

// catalog is one locale's phrases: key → template over a map[string]string of parameters.
type catalog map[string]*template.Template

// catalogs is loaded once from the embedded files. A broken file cannot panic the daemon: the
// error is kept, compose functions return it, and the tests fail on it.
var catalogs, catalogErr = loadCatalogs(localeFiles)

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
			cat[key] = t
		}
		out[loc] = cat
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("outbound: locale catalogs: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// NormalizeLocale maps what partners' files say ("EL", "el-GR", "gr", "fr_FR") to one of
// Locales, and anything unknown to en.
func NormalizeLocale(locale string) string {
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
	return fallbackLocale
}

// lang renders catalog phrases in one locale, falling back to English key by key.
type lang string

func langOf(locales ...string) lang {
	for _, l := range locales {
		if strings.TrimSpace(l) != "" {
			return lang(NormalizeLocale(l))
		}
	}
	return fallbackLocale
}

// has reports whether the phrase exists in this locale or the fallback.
func (l lang) has(key string) bool {
	_, ok := catalogs[string(l)][key]
	if !ok {
		_, ok = catalogs[fallbackLocale][key]
	}
	return ok
}

// t renders a phrase with key/value parameters. A missing phrase renders as its key, so a gap in a
// catalog shows up in the mail instead of an empty line; the tests keep catalogs complete.
func (l lang) t(key string, kv ...string) string {
	return l.render(key, withParams(nil, kv...))
}

func (l lang) render(key string, data map[string]string) string {
	t, ok := catalogs[string(l)][key]
	if !ok {
		if t, ok = catalogs[fallbackLocale][key]; !ok {
			return key
		}
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return key
	}
	return strings.TrimRight(b.String(), "\n")
}

// field is the partner-facing label of an item field (the form's label in that language).
func (l lang) field(name string) string {
	if k := "field." + name; l.has(k) {
		return l.t(k)
	}
	return name
}

// pair is "label: value" as the locale punctuates it (French: "label : value").
func (l lang) pair(label, value string) string {
	return l.t("pair", "label", label, "value", value)
}

// Describe says what is wrong and what to fix, in the partner's language, for one problem:
// the field's label first ("Serial number: required for DJI products ...") when the problem is
// about a field. Params refine the text ("reason" picks a variant such as the spreadsheet's
// scientific notation; "value", "allowed", "min", "brand", "helpdesk" ... fill it in).
func Describe(locale string, p rma.Problem) string {
	return describe(langOf(locale), p)
}

func describe(l lang, p rma.Problem) string {
	data := withParams(p.Params, "code", string(p.Code))
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
	if r := p.Params["reason"]; r != "" && l.has(key+"."+r) {
		key += "." + r
	}
	// A claim type may require any item field (config claim_types.*.requires): a field without
	// a phrase of its own still gets one that names it and says what to do.
	if !l.has(key) && p.Field != "" && strings.HasSuffix(string(p.Code), "_required") {
		key = "problem.required"
	}
	var text string
	if l.has(key) {
		text = l.render(key, data)
	} else {
		text = l.render("problem.unknown", data)
	}
	if p.Field != "" {
		return l.pair(l.field(p.Field), text)
	}
	return text
}

// DescribeNote words a warning that does not reject an item, in the partner's language.
func DescribeNote(locale string, n rma.Note) string {
	return describeNote(langOf(locale), n)
}

func describeNote(l lang, n rma.Note) string {
	data := withParams(n.Params, "key", string(n.Key))
	if key := "note." + string(n.Key); l.has(key) {
		return l.render(key, data)
	}
	return l.render("note.unknown", data)
}

// StatusName is a status's name in the partner's language ("Αναμονή παραλαβής" for
// awaiting_goods); an unknown status is returned as its code.
func StatusName(locale string, s rma.Status) string {
	l := langOf(locale)
	if key := "status." + string(s); l.has(key) {
		return l.t(key)
	}
	return string(s)
}

// catalogKeys lists a locale's keys, sorted (for tests and completeness checks).
func catalogKeys(locale string) []string {
	keys := make([]string, 0, len(catalogs[locale]))
	for k := range catalogs[locale] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// withParams copies params (callers' maps stay untouched) and sets key/value pairs on the copy.
func withParams(params map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(params)+len(kv)/2)
	for k, v := range params {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

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
