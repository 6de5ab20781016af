package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file.
type Error struct {
	File    string
	Line    int    // 1-based; 0 when the problem has no place in the file
	Path    string // key path such as imap[0].tls; empty for the file as a whole
	Message string
}

// Error formats the problem as file:line: key.path: message.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found while loading a configuration, in file order. Load and Parse
// return it (as *Errors) so that an admin fixes everything in one pass.
type Errors struct {
	List []Error
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, p := range e.List {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single Error.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, p := range e.List {
		out[i] = p
	}
	return out
}

// problems collects Errors for one file and knows each key path's line.
type problems struct {
	file  string
	list  []Error
	lines map[string]int // key path → line of its value; a path is here iff the file sets it
}

func newProblems(file string) *problems {
	return &problems{file: file, lines: map[string]int{}}
}

// add records a problem at an explicit line.
func (p *problems) add(line int, path, format string, args ...any) {
	p.list = append(p.list, Error{File: p.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// at records a problem at path's line (or its nearest parent's, for keys the file leaves out).
// A path under one that already has a problem is not reported again: one mistake, one line.
func (p *problems) at(path, format string, args ...any) {
	for _, e := range p.list {
		if e.Path != "" && (path == e.Path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[")) {
			return
		}
	}
	p.add(p.line(path), path, format, args...)
}

// set reports whether the file gives path a value.
func (p *problems) set(path string) bool {
	_, ok := p.lines[path]
	return ok
}

func (p *problems) line(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return 0
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	// File order; problems without a line (secrets from the environment) go last.
	sort.SliceStable(p.list, func(i, j int) bool {
		li, lj := p.list[i].Line, p.list[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	return &Errors{List: p.list}
}

func childPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func parentPath(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}
