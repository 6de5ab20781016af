package i18n

import (
	"strings"
	"text/template"
	"text/template/parse"
)

// phrase is a catalog entry. Most phrases are text with {{.name}} and {{if .name}} … {{else}}
// … {{end}} over the parameters and nothing else: those (simple) are rendered by walking their
// parse tree, which gives what Execute gives (missingkey=zero: an absent name is "", and ""
// is false) without its reflection and without a map built for each call (T). Every other
// phrase is executed by text/template.
type phrase struct {
	t      *template.Template
	simple bool
}

func newPhrase(t *template.Template) *phrase {
	return &phrase{t: t, simple: t.Tree != nil && simpleList(t.Tree.Root)}
}

// execute renders p with text/template; a phrase that fails renders as its key.
func (p *phrase) execute(key string, data map[string]string) string {
	var b strings.Builder
	if err := p.t.Execute(&b, data); err != nil {
		return key
	}
	return strings.TrimRight(b.String(), "\n")
}

// render renders a simple phrase.
func (p *phrase) render(ps params) string {
	var b strings.Builder
	walkList(&b, p.t.Tree.Root, ps)
	return strings.TrimRight(b.String(), "\n")
}

// params is what a phrase reads its names from: T's key/value pairs or Render's map.
type params interface{ get(name string) string }

type kvParams []string

// get is the last value given for name, as Params keeps it.
func (kv kvParams) get(name string) string {
	v := ""
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == name {
			v = kv[i+1]
		}
	}
	return v
}

type mapParams map[string]string

func (m mapParams) get(name string) string { return m[name] }

func simpleList(l *parse.ListNode) bool {
	if l == nil {
		return true
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
		case *parse.ActionNode:
			if fieldOf(n.Pipe) == "" {
				return false
			}
		case *parse.IfNode:
			if fieldOf(n.Pipe) == "" || !simpleList(n.List) || !simpleList(n.ElseList) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// fieldOf is name when pipe is just .name, else "".
func fieldOf(pipe *parse.PipeNode) string {
	if pipe == nil || len(pipe.Decl) > 0 || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
		return ""
	}
	f, ok := pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return ""
	}
	return f.Ident[0]
}

func walkList(b *strings.Builder, l *parse.ListNode, ps params) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			b.Write(n.Text)
		case *parse.ActionNode:
			b.WriteString(ps.get(fieldOf(n.Pipe)))
		case *parse.IfNode:
			if ps.get(fieldOf(n.Pipe)) != "" {
				walkList(b, n.List, ps)
			} else {
				walkList(b, n.ElseList, ps)
			}
		}
	}
}
