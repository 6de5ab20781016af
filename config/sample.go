package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// sampleYAML is the reference configuration: every key with the meaning the tests, the demo, the
// benchmark and testdata/expected.json assume. It is the one statement of the sample routing,
// claim types, policy and service centres; everything that needs them parses this file.
//
//go:embed config.sample.yaml
var sampleYAML []byte

// SampleName is the name the sample goes by in messages.
const SampleName = "config.sample.yaml"

// SampleYAML is the reference configuration's text (a copy).
func SampleYAML() []byte { return bytes.Clone(sampleYAML) }

// Sample is the reference configuration as a value, decoded over the defaults and validated as
// Load does, but without reading its secrets (the files it names are the examples under
// /etc/rmad/secrets). Tests of rules and parsing use its routing, claim types and policy.
func Sample() (*Config, error) {
	p := newProblems(SampleName)
	cfg, ok := decodeConfig(sampleYAML, SampleName, p)
	if ok {
		validate(&cfg, p)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// SampleWith is the reference configuration's text with some top-level sections replaced:
// each entry of sections is the YAML value for that key, or "" to drop the key; keys the sample
// lacks are added, in sorted order. The sandbox keeps the sample's routing, policy, service
// centres, notify, security and limits this way and sets its own connections.
func SampleWith(sections map[string]string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(sampleYAML, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", SampleName, err)
	}
	root := doc.Content[0]
	done := map[string]bool{}
	var content []*yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		text, replace := sections[k.Value]
		done[k.Value] = true
		switch {
		case !replace:
			content = append(content, k, v)
		case text != "":
			n, err := sectionNode(k.Value, text)
			if err != nil {
				return nil, err
			}
			k.LineComment, k.HeadComment = "", ""
			content = append(content, k, n)
		}
	}
	keys := make([]string, 0, len(sections))
	for k, text := range sections {
		if !done[k] && text != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		n, err := sectionNode(k, sections[k])
		if err != nil {
			return nil, err
		}
		content = append(content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, n)
	}
	root.Content = content
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", SampleName, err)
	}
	return b.Bytes(), enc.Close()
}

func sectionNode(key, text string) (*yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil || len(n.Content) == 0 {
		return nil, fmt.Errorf("%s: section %s: not a YAML value: %q", SampleName, key, text)
	}
	return n.Content[0], nil
}
