package config

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// The YAML library decodes scalars; this file walks the node tree against the Go types itself so
// that every unknown key, wrong type and duplicate key is collected with its line and key path,
// instead of stopping at the first one.

// nodeDecoder is implemented by types whose YAML shape is not a plain struct or map.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

type decoder struct{ p *problems }

var durationType = reflect.TypeFor[time.Duration]()

// value decodes n into v (addressable), recording path's line unless its key's is known.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if _, seen := d.p.lines[path]; !seen {
		d.p.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value keeps the default
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n, path)
		return
	}
	if v.Type() == durationType {
		d.scalar(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	d.pairs(n, path, func(k, val *yaml.Node) {
		idx, ok := fields.byName[k.Value]
		if !ok {
			d.p.add(k.Line, childPath(path, k.Value), "unknown key (known here: %s)", strings.Join(fields.names, ", "))
			return
		}
		d.value(val, v.Field(idx), childPath(path, k.Value))
	})
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	m := reflect.MakeMap(v.Type()) // a mapping in the file replaces the default one
	ok := d.pairs(n, path, func(k, val *yaml.Node) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(val, elem, childPath(path, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	})
	if ok {
		v.Set(m)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
		// A single value where a list of values belongs is a list of one ("emails: a@b.example").
		s := reflect.MakeSlice(v.Type(), 1, 1)
		d.value(n, s.Index(0), indexPath(path, 0))
		v.Set(s)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.p.add(n.Line, path, "want a list, got %s", nodeKind(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.p.add(n.Line, path, "want %s, got %s", describeType(v.Type()), nodeKind(n))
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		if v.Type() == durationType {
			d.p.add(n.Line, path, "%q is not a duration: write it with a unit, such as 90s, 5m or 24h", n.Value)
			return
		}
		d.p.add(n.Line, path, "%q is not %s", n.Value, describeType(v.Type()))
	}
}

// pairs calls fn for each key/value of a mapping, merge keys (<<) first so that the mapping's
// own keys override them. It reports false when n is not a mapping.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) bool {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.p.add(n.Line, path, "want a mapping of keys, got %s", nodeKind(n))
		return false
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			for _, src := range mergeSources(val) {
				d.pairs(src, path, fn)
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.p.add(k.Line, path, "keys must be plain names, got %s", nodeKind(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		if l, dup := first[k.Value]; dup {
			d.p.add(k.Line, childPath(path, k.Value), "duplicate key (first set at line %d)", l)
			continue
		}
		first[k.Value] = k.Line
		// A key's problems point at the key's line, also when its value starts below it.
		if _, seen := d.p.lines[childPath(path, k.Value)]; !seen {
			d.p.lines[childPath(path, k.Value)] = k.Line
		}
		fn(k, val)
	}
	return true
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	n = resolveAlias(n)
	if n.Kind == yaml.SequenceNode {
		out := make([]*yaml.Node, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, resolveAlias(c))
		}
		return out
	}
	return []*yaml.Node{n}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "something else"
}

func describeType(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 90s, 5m or 24h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a text value"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

type fieldSet struct {
	byName map[string]int // yaml key → field index
	names  []string       // sorted, for messages
}

var fieldCache sync.Map // reflect.Type → *fieldSet

func yamlFields(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: map[string]int{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !t.Field(i).IsExported() {
			continue
		}
		fs.byName[name] = i
		fs.names = append(fs.names, name)
	}
	sort.Strings(fs.names)
	fieldCache.Store(t, fs)
	return fs
}

// decodeNode reads service_centers, where country entries and "default: GR" share one mapping.
func (s *ServiceCenters) decodeNode(d *decoder, n *yaml.Node, path string) {
	centers := map[string]ServiceCenter{}
	if !d.pairs(n, path, func(k, v *yaml.Node) {
		if k.Value == "default" {
			d.value(v, reflect.ValueOf(&s.Default).Elem(), childPath(path, "default"))
			return
		}
		var c ServiceCenter
		d.value(v, reflect.ValueOf(&c).Elem(), childPath(path, k.Value))
		centers[k.Value] = c
	}) {
		return
	}
	s.Centers = centers
}
