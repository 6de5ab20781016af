package i18n

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ConsoleLocales are the staff console's languages (console.locale); the first is the
// fallback. Partners' languages (Locales) are more: the console is for the service desk.
var ConsoleLocales = []string{"en", "el"}

//go:embed locales/console/*.yaml
var consoleFiles embed.FS

// consoleWords are the console's texts: locale → key → text. They are plain strings, some
// with fmt verbs (%s, %d) the console fills in; html/template escapes them on the page.
var consoleWords, consoleErr = loadConsoleWords(consoleFiles)

func loadConsoleWords(fsys fs.FS) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(ConsoleLocales))
	var errs []error
	for _, loc := range ConsoleLocales {
		name := path.Join("locales", "console", loc+".yaml")
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var m map[string]string
		if err := yaml.Unmarshal(b, &m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		out[loc] = m
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("i18n: console catalogs: %w", err)
	}
	return out, nil
}

// ConsoleErr is the error of loading the console's catalogs, nil when they are sound (the
// console refuses to start otherwise).
func ConsoleErr() error { return consoleErr }

// ConsoleWord is a console text in one of ConsoleLocales, English when that locale lacks it,
// and the key itself when no catalog has it (the tests keep catalogs complete).
func ConsoleWord(locale, key string) string {
	if w, ok := consoleWords[strings.ToLower(locale)][key]; ok {
		return w
	}
	if w, ok := consoleWords[ConsoleLocales[0]][key]; ok {
		return w
	}
	return key
}

// ConsoleKeys lists a console locale's keys, sorted.
func ConsoleKeys(locale string) []string {
	keys := make([]string, 0, len(consoleWords[locale]))
	for k := range consoleWords[locale] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
