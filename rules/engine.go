package rules

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
)

// DefaultClaimType is the claim type of an item that names none (docs/contract.md §4).
const DefaultClaimType = "defective"

// Engine decides items. It holds the configuration (fixed for its life) and the loaded Data
// (swappable at any time with SetData). All methods are safe for concurrent use.
type Engine struct {
	data atomic.Pointer[Data]

	// loc is the distributor's time zone: "today" for future dates and warranty ends is the
	// calendar day there, not in the server's zone (a Greek partner's 00:30 date is not future).
	loc           *time.Location
	defaultRoute  rma.Route
	routes        map[string]rma.Route // lower-case brand → route
	serialBrands  map[string]bool      // lower-case brands
	claimTypes    map[string]claimRule // normalised name → rule
	claimNames    string               // |-joined, for "allowed"
	minDesc       int
	rejectExpired bool
	centers       map[string]rma.ServiceCenter // upper-case country → centre
	defaultCenter string
}

type claimRule struct {
	name      string
	brands    []string // empty: every brand
	brandKeys []string // brandKey of each of brands
	requires  []string // item field names
}

// NewEngine builds an engine from the configuration's routing, claim_types, policy and
// service_centers, with data (which may be nil: then nothing is known until SetData).
// Values the configuration leaves empty take the contract's defaults: routing in_house, the claim types of
// docs/contract.md §4, out_of_warranty paid_repair; the description must have at least one character.
// A brand whose handling is not one of the four is routed in_house, so a typo in the
// configuration brings items to the distributor's own desk rather than losing them.
func NewEngine(cfg *config.Config, data *Data) *Engine {
	if cfg == nil {
		cfg = &config.Config{}
	}
	e := &Engine{
		loc:           cfg.Schedule.Location,
		routes:        map[string]rma.Route{},
		serialBrands:  map[string]bool{},
		claimTypes:    map[string]claimRule{},
		minDesc:       max(1, cfg.Policy.MinDescriptionChars),
		rejectExpired: strings.EqualFold(strings.TrimSpace(cfg.Policy.OutOfWarranty), config.OutOfWarrantyReject),
		centers:       map[string]rma.ServiceCenter{},
		defaultCenter: strings.ToUpper(strings.TrimSpace(cfg.ServiceCenters.Default)),
	}
	e.defaultRoute = makeRoute(config.BrandRouting{Handling: cfg.Routing.Default})
	for brand, br := range cfg.Routing.Brands {
		e.routes[brandKey(brand)] = makeRoute(br)
	}
	for _, b := range cfg.Policy.SerialRequiredBrands {
		e.serialBrands[brandKey(b)] = true
	}
	cts := cfg.ClaimTypes
	if len(cts) == 0 {
		cts = config.Defaults().ClaimTypes // docs/contract.md §4's, when the configuration lists none
	}
	names := make([]string, 0, len(cts))
	for name, ct := range cts {
		k := claimKey(name)
		rule := claimRule{name: k, brands: ct.Brands, requires: ct.Requires}
		for _, b := range ct.Brands {
			rule.brandKeys = append(rule.brandKeys, brandKey(b))
		}
		e.claimTypes[k] = rule
		names = append(names, k)
	}
	slices.Sort(names)
	e.claimNames = strings.Join(names, "|")
	for country, c := range cfg.ServiceCenters.Centers {
		cc := strings.ToUpper(strings.TrimSpace(country))
		e.centers[cc] = rma.ServiceCenter{Country: cc, Name: c.Name, Address: c.Address}
	}
	e.SetData(data)
	return e
}

func makeRoute(br config.BrandRouting) rma.Route {
	h := rma.Handling(strings.ToLower(strings.TrimSpace(br.Handling)))
	if !rma.ValidHandling(h) {
		h = rma.HandlingInHouse
	}
	return rma.Route{Handling: h, Portal: br.Portal, Helpdesk: br.Helpdesk, ForwardTo: br.ForwardTo}
}

// SetData swaps in newly loaded data (SIGHUP reload). Evaluations already running finish with
// the data they started with. nil means no data: every EAN is unknown, every sender too.
func (e *Engine) SetData(d *Data) {
	if d == nil {
		d = &Data{}
	}
	e.data.Store(d)
}

// Data returns the data in use (never nil; its parts may be nil, which read as empty).
func (e *Engine) Data() *Data { return e.data.Load() }

// Route is where items of a brand go (brand compared without case): its routing entry, else
// routing.default.
func (e *Engine) Route(brand string) rma.Route {
	return e.routeByKey(brandKey(brand))
}

func (e *Engine) routeByKey(key string) rma.Route {
	if r, ok := e.routes[key]; ok {
		return r
	}
	return e.defaultRoute
}

// ServiceCenter is the centre for partners of a country, or the default country's centre.
// Country is the centre's own country, so callers can tell when the default was used. With no
// centres configured it is empty.
func (e *Engine) ServiceCenter(country string) rma.ServiceCenter {
	if c, ok := e.centers[strings.ToUpper(strings.TrimSpace(country))]; ok {
		return c
	}
	return e.centers[e.defaultCenter]
}

// today is now's calendar day in the distributor's zone, comparable with ParseDate's dates.
func (e *Engine) today(now time.Time) time.Time {
	if e.loc != nil {
		now = now.In(e.loc)
	}
	return civilDate(now)
}

func brandKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// claimKey normalises a claim type as partners type it: "Fast refund", "fast-refund" and
// "FAST_REFUND" are all fast_refund.
func claimKey(s string) string {
	if isNormalKey(s, '_') {
		return s // the common case, without allocating
	}
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Join(strings.FieldsFunc(s, isKeySeparator), "_")
}

// faultKey normalises a fault type for comparison: case and spacing do not matter, nor do
// underscores or dashes in place of spaces ("Gimbal_Error" is "gimbal error").
func faultKey(s string) string {
	if isNormalKey(s, ' ') {
		return s
	}
	s = strings.ToLower(s)
	return strings.Join(strings.FieldsFunc(s, isKeySeparator), " ")
}

func isKeySeparator(r rune) bool { return r == ' ' || r == '-' || r == '_' || r == '\t' }

// isNormalKey reports whether claimKey or faultKey (joining with sep) would return s as it is:
// lower-case ASCII letters and digits in words joined by single seps.
func isNormalKey(s string, sep byte) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == sep && i > 0 && i < len(s)-1 && s[i-1] != sep:
		default:
			return false
		}
	}
	return true
}
