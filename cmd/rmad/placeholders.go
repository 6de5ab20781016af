package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rmad/rmad/config"
)

// dottedName finds host names and mail domains inside a value (imap.example.com:993,
// "RMA <rma@example.com>", https://x.example/path).
var dottedName = regexp.MustCompile(`[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)

// reservedDomain reports whether name lies under a domain reserved for documentation
// (RFC 2606: example.com, example.net, example.org, and the .example and .invalid TLDs). No real
// server or mailbox lives there, so a config naming one still holds the example's placeholder.
func reservedDomain(name string) (string, bool) {
	labels := strings.Split(strings.ToLower(name), ".")
	n := len(labels)
	switch last := labels[n-1]; {
	case last == "example" || last == "invalid":
		return "." + last, true
	case labels[n-2] == "example" && (last == "com" || last == "net" || last == "org"):
		return "example." + last, true
	}
	return "", false
}

// findPlaceholders lists every value of the configuration file at path that names a reserved
// example domain, as config problems at the value's line. A file that cannot be read or parsed
// gives none: config.Load reports that.
func findPlaceholders(path string) []config.Error {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	var found []config.Error
	var walk func(n *yaml.Node, keyPath string)
	walk = func(n *yaml.Node, keyPath string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if keyPath != "" {
					k = keyPath + "." + k
				}
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", keyPath, i))
			}
		case yaml.ScalarNode:
			for _, name := range dottedName.FindAllString(n.Value, -1) {
				if domain, ok := reservedDomain(name); ok {
					found = append(found, config.Error{File: path, Line: n.Line, Path: keyPath, Message: fmt.Sprintf(
						"%q is a placeholder: %s is reserved for examples and names no real server or mailbox; put in your own",
						n.Value, domain)})
					break
				}
			}
		}
	}
	walk(doc.Content[0], "")
	return found
}
