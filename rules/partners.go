package rules

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
	"go.yaml.in/yaml/v3"
)

// Partners are the registered resellers (SPEC §6). A nil *Partners knows nobody.
type Partners struct {
	list     []rma.Partner
	byID     map[string]int // idKey → index
	byEmail  map[string]int // lower-case address → index
	byDomain map[string]int // lower-case domain → index
	tokens   [][]byte       // SHA-256 of each partner's API token (nil when none), by index
}

// LoadPartners reads a partners file.
func LoadPartners(path string) (*Partners, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePartners(data, path)
}

// ParsePartners reads a partners YAML document (a list under `partners:`); name is used in
// error messages. Unknown keys, duplicate ids, senders or tokens, a missing id or country, a
// locale other than en/el/ro/fr, a partner without emails or domains and a token that is not
// 64 hex digits are errors; all are reported at once, each as a *FileError.
func ParsePartners(r io.Reader, name string) (*Partners, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parsePartners(data, name)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

func parsePartners(data []byte, name string) (*Partners, error) {
	errs := &errList{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// Syntax errors come as "yaml: line N: msg": keep the line in our format.
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			errs.add(line, 0, "%s", m[2])
		} else {
			errs.add(0, 0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil, errs.err()
	}
	ps := &Partners{byID: map[string]int{}, byEmail: map[string]int{}, byDomain: map[string]int{}}
	if len(doc.Content) == 0 {
		errs.add(1, 1, "empty file: want a list under partners:")
		return nil, errs.err()
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		errs.add(root.Line, root.Column, "want a mapping with the key partners:")
		return nil, errs.err()
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "partners" {
			errs.add(k.Line, k.Column, "unknown key %q (want partners)", k.Value)
			continue
		}
		list = v
	}
	switch {
	case list == nil:
		errs.add(root.Line, root.Column, "no partners: key")
	case list.Kind != yaml.SequenceNode:
		if list.Tag == "!!null" {
			errs.add(list.Line, list.Column, "partners: is empty")
		} else {
			errs.add(list.Line, list.Column, "partners: want a list")
		}
	case len(list.Content) == 0:
		errs.add(list.Line, list.Column, "partners: the list is empty")
	default:
		for _, n := range list.Content {
			ps.addNode(n, errs)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return ps, nil
}

// addNode decodes and validates one partner by hand, so every problem gets its position
// (yaml.Node.Decode ignores KnownFields and reports no columns).
func (ps *Partners) addNode(n *yaml.Node, errs *errList) {
	if n.Kind != yaml.MappingNode {
		errs.add(n.Line, n.Column, "a partner must be a mapping (id:, name:, ...)")
		return
	}
	var p rma.Partner
	pos := map[string]*yaml.Node{} // key → value node, for positions
	before := len(errs.errs) + errs.extra
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := pos[k.Value]; dup {
			errs.add(k.Line, k.Column, "key %q given twice", k.Value)
			continue
		}
		pos[k.Value] = v
		switch k.Value {
		case "id":
			p.ID = scalar(v, k.Value, errs)
		case "name":
			p.Name = scalar(v, k.Value, errs)
		case "vat":
			p.VAT = scalar(v, k.Value, errs)
		case "country":
			p.Country = scalar(v, k.Value, errs)
		case "locale":
			p.Locale = strings.ToLower(scalar(v, k.Value, errs))
		case "return_address":
			p.ReturnAddress = scalar(v, k.Value, errs)
		case "api_token_sha256":
			p.APITokenSHA256 = strings.ToLower(scalar(v, k.Value, errs))
		case "emails":
			p.Emails = scalarList(v, k.Value, errs)
		case "domains":
			p.Domains = scalarList(v, k.Value, errs)
		default:
			errs.add(k.Line, k.Column, "unknown key %q (known: id, name, vat, country, locale, emails, domains, api_token_sha256, return_address)", k.Value)
		}
	}
	at := func(key string) (int, int) {
		if v := pos[key]; v != nil {
			return v.Line, v.Column
		}
		return n.Line, n.Column
	}
	label := p.ID
	if label == "" {
		label = "partner"
	}
	if p.ID == "" {
		errs.add(n.Line, n.Column, "partner without id")
	} else if j, dup := ps.byID[idKey(p.ID)]; dup {
		l, c := at("id")
		errs.add(l, c, "id %q is already used by partner %q", p.ID, ps.list[j].Name)
	}
	if cc := strings.ToUpper(p.Country); isCountryCode(cc) {
		p.Country = cc
	} else {
		l, c := at("country")
		errs.add(l, c, "%s: country %q: want a two-letter country code (GR, RO, FR, ...)", label, p.Country)
	}
	if !i18n.Known(p.Locale) {
		l, c := at("locale")
		errs.add(l, c, "%s: locale %q: want one of %s", label, p.Locale, strings.Join(i18n.Locales, ", "))
	}
	if len(p.Emails) == 0 && len(p.Domains) == 0 {
		errs.add(n.Line, n.Column, "%s: no emails or domains: nobody could send for this partner", label)
	}
	idx := len(ps.list)
	var token []byte
	for i, e := range p.Emails {
		e = strings.ToLower(e)
		p.Emails[i] = e
		l, c := itemPos(pos["emails"], i)
		if !validAddress(e) {
			errs.add(l, c, "%s: email %q is not an address like name@example.com", label, e)
		} else if j, dup := ps.byEmail[e]; dup {
			errs.add(l, c, "%s: email %q is already listed for partner %s", label, e, ps.list[j].ID)
		}
	}
	for i, d := range p.Domains {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		p.Domains[i] = d
		l, c := itemPos(pos["domains"], i)
		if d == "" || strings.ContainsAny(d, "@ \t<>") || !strings.Contains(d, ".") {
			errs.add(l, c, "%s: domain %q is not a domain like example.com", label, d)
		} else if j, dup := ps.byDomain[d]; dup {
			errs.add(l, c, "%s: domain %q is already listed for partner %s", label, d, ps.list[j].ID)
		}
	}
	if p.APITokenSHA256 != "" {
		l, c := at("api_token_sha256")
		b, err := hex.DecodeString(p.APITokenSHA256)
		switch {
		case err != nil || len(b) != 32:
			errs.add(l, c, "%s: api_token_sha256 must be 64 hex digits (the SHA-256 of the token, e.g. from sha256sum)", label)
		case slices.ContainsFunc(ps.tokens, func(t []byte) bool { return bytes.Equal(t, b) }):
			errs.add(l, c, "%s: api_token_sha256 is the same as another partner's", label)
		default:
			token = b
		}
	}
	if len(errs.errs)+errs.extra > before {
		return // a partner with problems is not indexed, so later checks do not cascade
	}
	ps.list = append(ps.list, p)
	ps.tokens = append(ps.tokens, token)
	ps.byID[idKey(p.ID)] = idx
	for _, e := range p.Emails {
		ps.byEmail[e] = idx
	}
	for _, d := range p.Domains {
		ps.byDomain[d] = idx
	}
}

func scalar(v *yaml.Node, key string, errs *errList) string {
	if v.Kind != yaml.ScalarNode {
		errs.add(v.Line, v.Column, "%s: want a single value", key)
		return ""
	}
	if v.Tag == "!!null" {
		return ""
	}
	return strings.TrimSpace(v.Value)
}

// scalarList reads a list of strings; a single string is taken as a list of one.
func scalarList(v *yaml.Node, key string, errs *errList) []string {
	switch v.Kind {
	case yaml.ScalarNode:
		if s := scalar(v, key, errs); s != "" {
			return []string{s}
		}
		return nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			out = append(out, scalar(e, key, errs))
		}
		return out
	}
	errs.add(v.Line, v.Column, "%s: want a list", key)
	return nil
}

// itemPos is the position of the i-th element of a list node (the node itself for a scalar).
func itemPos(v *yaml.Node, i int) (int, int) {
	if v == nil {
		return 0, 0
	}
	if v.Kind == yaml.SequenceNode && i < len(v.Content) {
		return v.Content[i].Line, v.Content[i].Column
	}
	return v.Line, v.Column
}

func isCountryCode(s string) bool {
	return len(s) == 2 && isUpperLetter(s[0]) && isUpperLetter(s[1])
}

// validAddress accepts a bare address: one @, something on both sides, no spaces or brackets.
func validAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && strings.Count(s, "@") == 1 && !strings.ContainsAny(s, " \t<>,;")
}

// BySender finds the partner of a mail sender: the exact address first, then its domain, both
// without regard to case. addr may be "Name <a@b>" or a bare address. Subdomains do not match
// (mail.example.com is not example.com): a partner lists every domain it sends from.
func (ps *Partners) BySender(addr string) (rma.Partner, bool) {
	if ps == nil {
		return rma.Partner{}, false
	}
	a := strings.TrimSpace(addr)
	if parsed, err := mail.ParseAddress(a); err == nil {
		a = parsed.Address
	} else if lt := strings.LastIndexByte(a, '<'); lt >= 0 {
		// A display name net/mail refuses (unquoted specials): the part in <> is the address.
		a = strings.TrimSuffix(a[lt+1:], ">")
	}
	a = strings.ToLower(a)
	if i, ok := ps.byEmail[a]; ok {
		return ps.clone(i), true
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return rma.Partner{}, false
	}
	if i, ok := ps.byDomain[a[at+1:]]; ok {
		return ps.clone(i), true
	}
	return rma.Partner{}, false
}

// ByID finds a partner by id (case-insensitive).
func (ps *Partners) ByID(id string) (rma.Partner, bool) {
	if ps == nil {
		return rma.Partner{}, false
	}
	i, ok := ps.byID[idKey(id)]
	if !ok {
		return rma.Partner{}, false
	}
	return ps.clone(i), true
}

// ByTokenSHA256 finds the partner whose api_token_sha256 is hexDigest (the hex SHA-256 of a
// bearer token). Every partner's digest is compared in constant time, so the answer's timing
// tells nothing about how close a guess was or which partner it matched.
func (ps *Partners) ByTokenSHA256(hexDigest string) (rma.Partner, bool) {
	if ps == nil {
		return rma.Partner{}, false
	}
	want, err := hex.DecodeString(strings.TrimSpace(hexDigest))
	if err != nil || len(want) != 32 {
		return rma.Partner{}, false
	}
	found := -1
	for i, t := range ps.tokens {
		if t != nil && subtle.ConstantTimeCompare(t, want) == 1 {
			found = i
		}
	}
	if found < 0 {
		return rma.Partner{}, false
	}
	return ps.clone(found), true
}

// All returns every partner, in file order.
func (ps *Partners) All() []rma.Partner {
	if ps == nil {
		return nil
	}
	out := make([]rma.Partner, len(ps.list))
	for i := range ps.list {
		out[i] = ps.clone(i)
	}
	return out
}

// Len is the number of partners.
func (ps *Partners) Len() int {
	if ps == nil {
		return 0
	}
	return len(ps.list)
}

// clone copies a partner so callers cannot change the shared lists.
func (ps *Partners) clone(i int) rma.Partner {
	p := ps.list[i]
	p.Emails = slices.Clone(p.Emails)
	p.Domains = slices.Clone(p.Domains)
	return p
}
