package rules

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"os"
	"slices"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/i18n"
	"github.com/rmad/rmad/rma"
)

// Partners are the registered resellers (docs/contract.md §6). A nil *Partners knows nobody.
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
// 64 hex digits are errors; all are reported at once, as a *config.Errors.
func ParsePartners(r io.Reader, name string) (*Partners, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return parsePartners(data, name)
}

// partnersFile is the shape of a partners file.
type partnersFile struct {
	Partners []rma.Partner `yaml:"partners"`
}

// parsePartners decodes the file with config's positioned decoder, so its problems read like the
// configuration's: file:line: partners[2].locale: message.
func parsePartners(data []byte, name string) (*Partners, error) {
	var f partnersFile
	pr, ok := config.DecodeYAML(data, name, &f)
	if !ok {
		if pr.Len() == 0 {
			pr.At("", "empty file: want a list of partners under partners:")
		}
		return nil, pr.Err()
	}
	ps := &Partners{byID: map[string]int{}, byEmail: map[string]int{}, byDomain: map[string]int{}}
	switch { // a partners: that is not a list already has its problem, and At says it once
	case pr.Has(""): // not even a mapping: said already
	case f.Partners == nil:
		pr.At("partners", "missing: list the registered partners under partners:")
	case len(f.Partners) == 0:
		pr.At("partners", "the list is empty: list the registered partners")
	}
	for i := range f.Partners {
		ps.add(f.Partners[i], config.IndexPath("partners", i), pr)
	}
	if err := pr.Err(); err != nil {
		return nil, err
	}
	return ps, nil
}

// add checks one decoded partner and indexes it when it has no problem.
func (ps *Partners) add(p rma.Partner, path string, pr *config.Problems) {
	for _, f := range []*string{&p.ID, &p.Name, &p.VAT, &p.Country, &p.Locale, &p.ReturnAddress, &p.APITokenSHA256} {
		*f = strings.TrimSpace(*f)
	}
	p.Locale = strings.ToLower(p.Locale)
	p.APITokenSHA256 = strings.ToLower(p.APITokenSHA256)
	if p.ID == "" {
		pr.At(path+".id", "missing: every partner needs an id (such as P-GR-001)")
	} else if j, dup := ps.byID[idKey(p.ID)]; dup {
		pr.At(path+".id", "%q is already used by partner %q", p.ID, cmp.Or(ps.list[j].Name, ps.list[j].ID))
	}
	if cc := strings.ToUpper(p.Country); isCountryCode(cc) {
		p.Country = cc
	} else {
		pr.At(path+".country", "%q: want a two-letter country code (GR, RO, FR, ...)", p.Country)
	}
	if !i18n.Known(p.Locale) {
		pr.At(path+".locale", "%q: want one of %s", p.Locale, strings.Join(i18n.Locales, ", "))
	}
	var token []byte
	for i, e := range p.Emails {
		e = strings.ToLower(strings.TrimSpace(e))
		p.Emails[i] = e
		at := config.IndexPath(path+".emails", i)
		if !validAddress(e) {
			pr.At(at, "%q is not an address like name@example.com", e)
		} else if j, dup := ps.byEmail[e]; dup {
			pr.At(at, "%q is already listed for partner %s", e, ps.list[j].ID)
		}
	}
	for i, d := range p.Domains {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		p.Domains[i] = d
		at := config.IndexPath(path+".domains", i)
		if d == "" || strings.ContainsAny(d, "@ \t<>") || !strings.Contains(d, ".") {
			pr.At(at, "%q is not a domain like example.com", d)
		} else if j, dup := ps.byDomain[d]; dup {
			pr.At(at, "%q is already listed for partner %s", d, ps.list[j].ID)
		}
	}
	if p.APITokenSHA256 != "" {
		b, err := hex.DecodeString(p.APITokenSHA256)
		switch {
		case err != nil || len(b) != 32:
			pr.At(path+".api_token_sha256", "must be 64 hex digits (the SHA-256 of the token, e.g. from sha256sum)")
		case slices.ContainsFunc(ps.tokens, func(t []byte) bool { return bytes.Equal(t, b) }):
			pr.At(path+".api_token_sha256", "the same as another partner's")
		default:
			token = b
		}
	}
	if len(p.Emails) == 0 && len(p.Domains) == 0 && !pr.Has(path+".emails") && !pr.Has(path+".domains") {
		pr.At(path, "no emails or domains: nobody could send for this partner")
	}
	if pr.Has(path) {
		return // a partner with problems is not indexed, so later checks do not cascade
	}
	idx := len(ps.list)
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
