package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/rmad/rmad/config"
)

func TestDecodeYAML(t *testing.T) {
	var v struct {
		Names []string `yaml:"names"`
		Items []struct {
			ID   string   `yaml:"id"`
			Tags []string `yaml:"tags"`
		} `yaml:"items"`
	}
	in := "names: one\nitems:\n  - id: a\n    tags: [x, y]\n  - id: b\n    colour: red\n    tags: {k: v}\n"
	pr, ok := config.DecodeYAML([]byte(in), "d.yaml", &v)
	if !ok {
		t.Fatal("not decoded")
	}
	if !slices.Equal(v.Names, []string{"one"}) || len(v.Items) != 2 || !slices.Equal(v.Items[0].Tags, []string{"x", "y"}) {
		t.Errorf("decoded %+v", v)
	}
	if !pr.Has("items[1]") || pr.Has("items[0]") || !pr.Set("items[1].colour") || pr.Set("items[0].colour") {
		t.Errorf("Has/Set: %v", pr.Err())
	}
	pr.At(config.IndexPath("items", 0)+".id", "%q is taken", "a")
	pr.At("items[1].tags.k", "under a problem already: not repeated")
	got := strings.Split(pr.Err().Error(), "\n")
	want := []string{`d.yaml:3: items[0].id: "a" is taken`, "d.yaml:6: items[1].colour: unknown key (known here: id, tags)",
		"d.yaml:7: items[1].tags: want a list, got a mapping"}
	if !slices.Equal(got, want) {
		t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if pr, ok := config.DecodeYAML([]byte("a: [\n"), "d.yaml", &v); ok || !strings.Contains(pr.Err().Error(), "d.yaml:1: YAML syntax") {
		t.Errorf("syntax error: ok %v, %v", ok, pr.Err())
	}
}
