package i18n

import (
	"slices"
	"testing"
	"text/template"
	"text/template/parse"
)

// A simple phrase renders as text/template renders it, whichever of its names are given
// (all subsets of them, up to 2^10), empty or not, through T and through Render; most
// phrases are simple.
func TestSimplePhrasesRenderAsTemplates(t *testing.T) {
	simple, all := 0, 0
	for _, loc := range Locales {
		for _, k := range Keys(loc) {
			p := catalogs[loc][k]
			all++
			if !p.simple {
				continue
			}
			simple++
			names := namesOf(p.t.Tree.Root, nil)
			for set := 0; set < 1<<min(len(names), 10); set++ {
				data := map[string]string{"unused": "x"}
				var kv []string
				for i, n := range names {
					if set&(1<<i) != 0 {
						v := "v<" + n + ">\n"
						if i%3 == 2 {
							v = "" // given, but empty: false for {{if}}
						}
						data[n] = v
						kv = append(kv, n, "earlier", n, v) // T keeps the last value of a name
					}
				}
				want := p.execute(k, data)
				if got := Lang(loc).Render(k, data); got != want {
					t.Fatalf("%s %s with %v: Render %q, text/template %q", loc, k, data, got, want)
				}
				if got := Lang(loc).T(k, kv...); got != want {
					t.Fatalf("%s %s with %v: T %q, text/template %q", loc, k, kv, got, want)
				}
			}
		}
	}
	if simple < all*3/4 {
		t.Errorf("only %d of %d phrases are simple", simple, all)
	}
}

func namesOf(l *parse.ListNode, names []string) []string {
	if l == nil {
		return names
	}
	add := func(p *parse.PipeNode) {
		if n := fieldOf(p); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			add(n.Pipe)
		case *parse.IfNode:
			add(n.Pipe)
			names = namesOf(n.List, names)
			names = namesOf(n.ElseList, names)
		}
	}
	return names
}

// Phrases that are not simple (anything beyond names and {{if}}) are left to text/template.
func TestPhraseNotSimple(t *testing.T) {
	for _, text := range []string{`{{range .x}}a{{end}}`, `{{.x | printf "%q"}}`, `{{if eq .x "a"}}b{{end}}`, `{{$v := .x}}{{$v}}`, `{{.x.y}}`, `{{with .x}}{{.}}{{end}}`} {
		tm, err := template.New("x").Option("missingkey=zero").Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if newPhrase(tm).simple {
			t.Errorf("%s is taken for simple", text)
		}
	}
	for _, text := range []string{`plain`, `a {{.x}} b`, `{{if .x}}{{.x}}{{else if .y}}y{{else}}none{{end}}`, "{{- .x -}}\n"} {
		tm, err := template.New("x").Option("missingkey=zero").Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if !newPhrase(tm).simple {
			t.Errorf("%s is not taken for simple", text)
		}
	}
}
