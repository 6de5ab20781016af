package console

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
)

// Every word key the templates and handlers use is in i18n's console catalogs (a typo would
// show the key on the page), and console.locale accepts exactly the catalogs' languages.
func TestWordsInCatalogs(t *testing.T) {
	if !slices.Equal(config.ConsoleLocales, i18n.ConsoleLocales) {
		t.Fatalf("config.ConsoleLocales %v, i18n.ConsoleLocales %v", config.ConsoleLocales, i18n.ConsoleLocales)
	}
	known := i18n.ConsoleKeys("en")
	uses := regexp.MustCompile(`(?:\bt (?:\$l|\$?\.Locale)|wordIn\([^,()]+,|word\() ?"([a-z_]+(?:\.[a-z_]+)*)"`)
	var files []string
	for _, g := range []string{"templates/*.html", "templates/parts/*.html", "*.go"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	n := 0
	for _, f := range files {
		if filepath.Ext(f) == ".go" && regexp.MustCompile(`_test\.go$`).MatchString(f) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(b), -1) {
			n++
			if !slices.Contains(known, m[1]) {
				t.Errorf("%s uses the word %q, which i18n/locales/console/en.yaml lacks", f, m[1])
			}
		}
	}
	if n < 100 {
		t.Fatalf("found only %d word uses: the pattern is stale", n)
	}
}

// Every kind of kept partner mail the RMA page lists has its name in each console language.
func TestMailKindWords(t *testing.T) {
	for _, l := range []string{"en", "el"} {
		for _, kind := range mailKinds {
			if got := mailKind(l, kind); got == kind || got == "" {
				t.Errorf("%s: kept mail kind %q has no word mail.%s", l, kind, kind)
			}
		}
	}
	if got := mailKind("el", "newkind"); got != "newkind" {
		t.Errorf("a kind without a word: %q", got)
	}
}
