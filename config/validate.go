package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on hosts without /usr/share/zoneinfo

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
	"golang.org/x/text/language"

	"github.com/rmad/rmad/rma"
)

// validate checks every value the decoder could not: allowed words, addresses, cron specs, time
// zones, references between sections. It sets cfg.Schedule.Location.
func validate(cfg *Config, p *problems) {
	oneOf(p, "log.level", cfg.Log.Level, "debug", "info", "warn", "error")
	oneOf(p, "log.format", cfg.Log.Format, "json", "console")
	validateRedis(cfg, p)
	validateIMAP(cfg, p)
	validateSMTP(cfg, p)
	if _, err := splitHostPort(cfg.HTTP.Listen, false); err != nil {
		p.at("http.listen", "%q: %v", cfg.HTTP.Listen, err)
	}
	if u := strings.TrimSpace(cfg.HTTP.PublicURL); u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" {
			p.at("http.public_url", "%q: write the URL partners reach this server at, as https://rma.example.com (a path is allowed, a query is not)", u)
		}
	}
	validateWebhooks(cfg, p)
	validateConsole(cfg, p)
	validateSchedule(cfg, p)
	validateRouting(cfg, p)
	validateServiceCenters(cfg, p)
	if cfg.PartnersFile == "" {
		p.at("partners_file", "missing: the YAML file of registered partners")
	}
	if cfg.CatalogFile == "" {
		p.at("catalog_file", "missing: the CSV file of products by EAN")
	}
	validateClaimTypes(cfg, p)
	validatePolicy(cfg, p)
	if cfg.Notify.Staff != "" {
		if _, err := mail.ParseAddressList(cfg.Notify.Staff); err != nil {
			p.at("notify.staff", "%q is not an email address (or comma-separated list): %v", cfg.Notify.Staff, err)
		}
	}
	if cfg.Security.RequireDMARCPass && strings.TrimSpace(cfg.Security.AuthservID) == "" {
		p.at("security.authserv_id", "missing: require_dmarc_pass needs the host name whose Authentication-Results header is trusted")
	}
	oneOf(p, "labels.format", cfg.Labels.Format, LabelsA6, LabelsA4x4)
	if cfg.Limits.MaxMessageBytes <= 0 {
		p.at("limits.max_message_bytes", "must be more than 0, got %d", cfg.Limits.MaxMessageBytes)
	}
	if cfg.Limits.MaxItemsPerSubmission <= 0 {
		p.at("limits.max_items_per_submission", "must be more than 0, got %d", cfg.Limits.MaxItemsPerSubmission)
	}
	if cfg.Limits.MaxCSVRows <= 0 {
		p.at("limits.max_csv_rows", "must be more than 0, got %d", cfg.Limits.MaxCSVRows)
	}
	if cfg.Limits.InboxBacklog <= 0 {
		p.at("limits.inbox_backlog", "must be more than 0, got %d", cfg.Limits.InboxBacklog)
	}
	if m := cfg.Limits.MemoryLimit; m != 0 && m < MinMemoryLimit {
		p.at("limits.memory_limit", "must be 0 (no limit) or at least %d (32 MiB), got %d", MinMemoryLimit, m)
	}
}

func validateRedis(cfg *Config, p *problems) {
	r := &cfg.Redis
	// The problem goes on a key, not on redis, so that it does not hide the others of redis.
	switch {
	case p.set("redis.url") && (r.Sentinel != nil || r.Cluster != nil):
		p.at("redis.url", "set only one of url, sentinel and cluster")
	case r.Sentinel != nil && r.Cluster != nil:
		p.at("redis.cluster", "set only one of url, sentinel and cluster")
	}
	if r.Sentinel != nil || r.Cluster != nil {
		if !p.set("redis.url") {
			r.URL = "" // the default URL does not apply: exactly one way to reach Redis is left set
		}
	} else if opts, err := redis.ParseURL(r.URL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold a password
		}
		p.at("redis.url", "not a Redis URL (redis://, rediss:// or unix://): %v", err)
	} else if opts.Password != "" {
		p.at("redis.url", "holds a password: put it in redis.password_file or RMAD_REDIS_PASSWORD instead")
	}
	if s := r.Sentinel; s != nil {
		if s.Master == "" {
			p.at("redis.sentinel.master", "missing: the name of the master the sentinels watch")
		}
		checkAddrList(p, "redis.sentinel.addresses", s.Addresses)
	}
	if c := r.Cluster; c != nil {
		checkAddrList(p, "redis.cluster.addresses", c.Addresses)
	}
	switch {
	case !p.set("redis.min_replicas"):
		// With replicas to fail over to, a write only the master had is lost on a failover.
		if r.Sentinel != nil || r.Cluster != nil {
			r.MinReplicas = 1
		}
	case r.MinReplicas < 0 || r.MinReplicas > maxMinReplicas:
		p.at("redis.min_replicas", "must be from 0 (no waiting) to %d, got %d", maxMinReplicas, r.MinReplicas)
	}
	if r.ReplicaTimeout <= 0 || r.ReplicaTimeout > maxReplicaTimeout {
		p.at("redis.replica_timeout", "must be more than 0 and at most %s, got %s", maxReplicaTimeout, r.ReplicaTimeout)
	}
}

// maxMinReplicas and maxReplicaTimeout bound redis.min_replicas and redis.replica_timeout: a
// longer wait holds an IMAP session and a worker for that long on every write.
const (
	// maxReplyRetention bounds console.reply_retention: every partner mail costs Redis memory
	// for that long.
	maxReplyRetention = 366 * 24 * time.Hour
	maxMinReplicas    = 16
	maxReplicaTimeout = time.Minute
)

func checkAddrList(p *problems, path string, addrs []string) {
	if len(addrs) == 0 {
		p.at(path, "missing: list at least one host:port")
	}
	for i, a := range addrs {
		if _, err := splitHostPort(a, true); err != nil {
			p.at(indexPath(path, i), "%q: %v", a, err)
		}
	}
}

// nameRE is what imap and webhook source names may look like: they appear in URLs, Redis keys
// and environment variable names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func validateIMAP(cfg *Config, p *problems) {
	names := map[string]string{}
	for i := range cfg.IMAP {
		m := &cfg.IMAP[i]
		path := indexPath("imap", i)
		checkName(p, path, m.Name, names, "each mailbox needs a name (used in logs, metrics and RMAD_IMAP_<NAME>_PASSWORD)")
		checkServer(p, path, m.Address, m.TLS)
		if m.Username == "" {
			p.at(path+".username", "missing: the IMAP login name")
		}
		for _, f := range []struct{ key, value string }{{"processed_mailbox", m.ProcessedMailbox}, {"rejected_mailbox", m.RejectedMailbox}} {
			if f.value == m.Mailbox {
				// Moving a mail to the folder it is read from would process it forever.
				p.at(path+"."+f.key, "%q is the mailbox rmad reads: it must be another folder", f.value)
			}
		}
		if m.PollInterval <= 0 {
			p.at(path+".poll_interval", "must be positive, got %s", m.PollInterval)
		}
		checkAuth(p, path, m.Auth, m.OAuth2)
	}
}

// checkAuth checks auth and the oauth2 block beside it (path is imap[i] or smtp).
func checkAuth(p *problems, path, auth string, o *OAuth2) {
	if !oneOf(p, path+".auth", auth, AuthPassword, AuthXOAUTH2, AuthOAuthBearer) {
		return
	}
	if !UsesOAuth(auth) {
		if o != nil {
			p.at(path+".oauth2", "is used only with auth xoauth2 or oauthbearer (auth is %s)", auth)
		}
		return
	}
	if o == nil {
		p.at(path+".oauth2", "missing: auth %s needs token_url, client_id, client_secret_file and scopes", auth)
		return
	}
	path += ".oauth2"
	switch u, err := url.Parse(o.TokenURL); {
	case o.TokenURL == "":
		p.at(path+".token_url", "missing: the token endpoint, such as https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		p.at(path+".token_url", "%q is not an https:// URL", o.TokenURL)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		p.at(path+".token_url", "%q sends the client secret in clear text: use https (http only for a loopback address)", o.TokenURL)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		p.at(path+".client_id", "missing: the application (client) ID of the app registration")
	}
	if len(o.Scopes) == 0 {
		p.at(path+".scopes", "missing: list the scopes, such as https://outlook.office365.com/.default (Microsoft 365) or https://mail.google.com/ (Google)")
	}
	for i, sc := range o.Scopes {
		if strings.TrimSpace(sc) == "" || strings.ContainsAny(sc, " \t\r\n") {
			p.at(indexPath(path+".scopes", i), "%q: one scope per list entry, without spaces", sc)
		}
	}
}

func validateSMTP(cfg *Config, p *problems) {
	s := &cfg.SMTP
	checkServer(p, "smtp", s.Address, s.TLS)
	if s.From == "" {
		p.at("smtp.from", "missing: the sender of rmad's mail, such as \"Example RMA <rma@example.com>\"")
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		p.at("smtp.from", "%q is not an email address: %v", s.From, err)
	}
	checkAuth(p, "smtp", s.Auth, s.OAuth2)
	if UsesOAuth(s.Auth) && s.Username == "" {
		p.at("smtp.username", "missing: auth %s logs in as this mailbox (the address rmad sends as)", s.Auth)
	}
}

// checkServer checks an IMAP or SMTP server's address and TLS mode; plaintext is for loopback only.
func checkServer(p *problems, path, addr, tlsMode string) {
	tlsOK := oneOf(p, path+".tls", tlsMode, TLSImplicit, TLSStartTLS, TLSNone)
	host, err := splitHostPort(addr, true)
	switch {
	case addr == "":
		p.at(path+".address", "missing: the server's host:port")
		return
	case err != nil:
		p.at(path+".address", "%q: %v", addr, err)
		return
	}
	if tlsOK && tlsMode == TLSNone && !isLoopback(host) {
		p.at(path+".tls", "none sends the password in clear text: allowed only for a loopback address, not %s", host)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitHostPort checks host:port (numeric port); needHost refuses ":8080".
func splitHostPort(addr string, needHost bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", fmt.Errorf("want host:port (%s)", ae.Err)
		}
		return "", fmt.Errorf("want host:port")
	}
	if needHost && host == "" {
		return "", fmt.Errorf("want host:port, the host is missing")
	}
	n := 0
	if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != port {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return host, nil
}

// checkName checks the name of list entry path (an imap mailbox or a webhook source): set,
// well-formed, and unique once turned into its environment variable part. seen maps those parts
// to the entries that have them.
func checkName(p *problems, path, name string, seen map[string]string, why string) {
	switch {
	case name == "":
		p.at(path+".name", "missing: %s", why)
	case !nameRE.MatchString(name):
		p.at(path+".name", "%q: use letters, digits, '.', '_' and '-' only", name)
	default:
		if other, dup := seen[envName(name)]; dup {
			p.at(path+".name", "%q: %s already has this name (names must differ in more than case and punctuation)", name, other)
			return
		}
		seen[envName(name)] = path
	}
}

func validateWebhooks(cfg *Config, p *problems) {
	names := map[string]string{}
	for i := range cfg.Webhooks.Sources {
		w := &cfg.Webhooks.Sources[i]
		path := indexPath("webhooks.sources", i)
		checkName(p, path, w.Name, names, "the name is the last part of the URL /webhooks/{name}")
		if !oneOf(p, path+".kind", w.Kind, WebhookVendorStatus, WebhookSubmission) {
			continue
		}
		if w.Kind == WebhookSubmission && len(w.StatusMap) > 0 {
			p.at(path+".status_map", "only a vendor_status source maps statuses")
		}
		for _, vendor := range sortedKeys(w.StatusMap) {
			st, err := rma.ParseStatus(w.StatusMap[vendor])
			if err != nil {
				p.at(childPath(path+".status_map", vendor), "%v", err)
				continue
			}
			w.StatusMap[vendor] = string(st) // ParseStatus forgives case; later code need not
		}
	}
}

func validateConsole(cfg *Config, p *problems) {
	c := &cfg.Console
	oneOf(p, "console.locale", c.Locale, ConsoleLocales...)
	if c.SessionIdle <= 0 {
		p.at("console.session_idle", "must be more than 0, got %s", c.SessionIdle)
	}
	if c.SessionMax < c.SessionIdle {
		p.at("console.session_max", "%s is shorter than session_idle %s", c.SessionMax, c.SessionIdle)
	}
	if c.ReplyRetention <= 0 || c.ReplyRetention > maxReplyRetention {
		p.at("console.reply_retention", "must be more than 0 and at most %s (a year), got %s", maxReplyRetention, c.ReplyRetention)
	}
	if c.Enabled && c.StaffFile == "" {
		p.at("console.staff_file", "missing: the console needs the staff accounts file (rmad staff add USER writes it)")
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err2 := netip.ParseAddr(cidr); err2 != nil {
				p.at(fmt.Sprintf("console.trusted_proxies[%d]", i), "%q is not an address or CIDR (such as 10.0.0.0/8)", cidr)
			}
		}
	}
	if c.TrustedProxyHeader != "" && len(c.TrustedProxies) == 0 {
		p.at("console.trusted_proxies", "missing: trusted_proxy_header is honoured only from these CIDRs")
	}
}

func validateSchedule(cfg *Config, p *problems) {
	s := &cfg.Schedule
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		p.at("schedule.timezone", "%q is not a time zone of the IANA database (such as Europe/Athens or UTC)", s.Timezone)
	} else {
		s.Location = loc
	}
	if cfg.Retention.CompactAfter < 24*time.Hour {
		p.at("retention.compact_after", "%s is too short: closed RMAs are compacted after at least a day (such as 2160h for 90 days)", cfg.Retention.CompactAfter)
	}
	for _, c := range []struct{ key, spec string }{{"digest", s.Digest}, {"reminders", s.Reminders}, {"compact", s.Compact}} {
		if strings.HasPrefix(c.spec, "TZ=") || strings.HasPrefix(c.spec, "CRON_TZ=") {
			p.at("schedule."+c.key, "%q: set the zone with schedule.timezone, not in the spec", c.spec)
			continue
		}
		if _, err := cron.ParseStandard(c.spec); err != nil {
			p.at("schedule."+c.key, "%q is not a 5-field cron spec (minute hour day-of-month month day-of-week): %v", c.spec, err)
		}
	}
}

func validateRouting(cfg *Config, p *problems) {
	r := &cfg.Routing
	if checkHandling(p, "routing.default", r.Default) {
		switch rma.Handling(r.Default) {
		case rma.HandlingForward, rma.HandlingVendorDirect:
			p.at("routing.default", "%s needs a brand's forward_to or portal: use in_house or vendor_ticket for the default", r.Default)
		}
	}
	seen := map[string]string{}
	for _, brand := range sortedKeys(r.Brands) {
		b := r.Brands[brand]
		path := childPath("routing.brands", brand)
		if other, dup := seen[strings.ToLower(brand)]; dup {
			p.at(path, "same brand as %q (brands match without regard to case)", other)
		}
		seen[strings.ToLower(brand)] = brand
		if b.Handling == "" {
			p.at(path+".handling", "missing: one of in_house, vendor_ticket, forward, vendor_direct")
			continue
		}
		if !checkHandling(p, path+".handling", b.Handling) {
			continue
		}
		// Each handling has the one thing the partner (or the vendor) must be pointed at.
		need := map[rma.Handling]string{rma.HandlingVendorTicket: "helpdesk", rma.HandlingForward: "forward_to", rma.HandlingVendorDirect: "portal"}[rma.Handling(b.Handling)]
		for _, f := range []struct{ key, value string }{{"helpdesk", b.Helpdesk}, {"forward_to", b.ForwardTo}, {"portal", b.Portal}} {
			switch {
			case f.key == need && f.value == "":
				p.at(path+"."+f.key, "missing: handling %s needs it", b.Handling)
			case f.key != need && f.value != "":
				p.at(path+"."+f.key, "not used with handling %s", b.Handling)
			case f.value == "":
			case f.key == "forward_to":
				if _, err := mail.ParseAddress(f.value); err != nil {
					p.at(path+"."+f.key, "%q is not an email address: %v", f.value, err)
				}
			default:
				if u, err := url.Parse(f.value); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					p.at(path+"."+f.key, "%q is not an http(s) URL", f.value)
				}
			}
		}
	}
}

func checkHandling(p *problems, path, h string) bool {
	if rma.ValidHandling(rma.Handling(h)) {
		return true
	}
	p.at(path, "%q is not one of in_house, vendor_ticket, forward, vendor_direct", h)
	return false
}

func validateServiceCenters(cfg *Config, p *problems) {
	sc := &cfg.ServiceCenters
	for _, country := range sortedKeys(sc.Centers) {
		c := sc.Centers[country]
		path := childPath("service_centers", country)
		if !isCountry(country) {
			p.at(path, "%q is not a two-letter ISO 3166 country code in capitals (such as GR, RO, FR)", country)
		}
		if c.Name == "" {
			p.at(path+".name", "missing: the centre's name for the parcel label")
		}
		if c.Address == "" {
			p.at(path+".address", "missing: the address partners ship to")
		}
	}
	switch {
	case sc.Default != "":
		if _, ok := sc.Centers[sc.Default]; !ok {
			p.at("service_centers.default", "%q has no entry in service_centers (have: %s)", sc.Default, strings.Join(sortedKeys(sc.Centers), ", "))
		}
	case len(sc.Centers) == 1:
		sc.Default = sortedKeys(sc.Centers)[0] // the only centre serves everyone
	case len(sc.Centers) > 1:
		p.at("service_centers.default", "missing: name the country whose centre serves partners from countries without one")
	case shipsToUs(&cfg.Routing):
		p.at("service_centers", "missing: in_house and vendor_ticket items are shipped to a service centre; add at least one")
	}
}

// shipsToUs reports whether any routing sends items to our own service centre.
func shipsToUs(r *Routing) bool {
	inHouse := func(h string) bool {
		return h == string(rma.HandlingInHouse) || h == string(rma.HandlingVendorTicket)
	}
	if inHouse(r.Default) {
		return true
	}
	for _, b := range r.Brands {
		if inHouse(b.Handling) {
			return true
		}
	}
	return false
}

func isCountry(code string) bool {
	if len(code) != 2 || strings.ToUpper(code) != code {
		return false
	}
	r, err := language.ParseRegion(code)
	return err == nil && r.IsCountry() && r.String() == code
}

var claimTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func validateClaimTypes(cfg *Config, p *problems) {
	if _, ok := cfg.ClaimTypes["defective"]; !ok {
		p.at("claim_types.defective", "missing: it is the claim type of items that name none")
	}
	for _, name := range sortedKeys(cfg.ClaimTypes) {
		ct := cfg.ClaimTypes[name]
		path := childPath("claim_types", name)
		if !claimTypeRE.MatchString(name) {
			p.at(path, "%q: claim type names are lower case letters, digits and '_'", name)
		}
		for i, f := range ct.Requires {
			if !slices.Contains(rma.Fields, f) {
				p.at(indexPath(path+".requires", i), "%q is not an item field (fields: %s)", f, strings.Join(rma.Fields, ", "))
			}
		}
		for i, b := range ct.Brands {
			if strings.TrimSpace(b) == "" {
				p.at(indexPath(path+".brands", i), "empty brand name")
			}
		}
	}
}

func validatePolicy(cfg *Config, p *problems) {
	pol := &cfg.Policy
	for i, b := range pol.SerialRequiredBrands {
		if strings.TrimSpace(b) == "" {
			p.at(indexPath("policy.serial_required_brands", i), "empty brand name")
		}
	}
	if pol.MinDescriptionChars < 0 {
		p.at("policy.min_description_chars", "must not be negative, got %d", pol.MinDescriptionChars)
	}
	oneOf(p, "policy.out_of_warranty", pol.OutOfWarranty, OutOfWarrantyPaidRepair, OutOfWarrantyReject)
	if pol.RestockingFeePercent < 0 || pol.RestockingFeePercent > 100 {
		p.at("policy.restocking_fee_percent", "must be from 0 to 100, got %d", pol.RestockingFeePercent)
	}
	for _, d := range []struct {
		key string
		n   int
	}{{"awaiting_goods_days", pol.AwaitingGoodsDays}, {"customer_delay_days", pol.CustomerDelayDays}, {"uncollected_days", pol.UncollectedDays},
		{"estimate_reminder_days", pol.EstimateReminderDays}} {
		if d.n < 1 {
			p.at("policy."+d.key, "must be at least 1 day, got %d", d.n)
		}
	}
}

// oneOf reports whether value is allowed, recording a problem when it is not.
func oneOf(p *problems, path, value string, allowed ...string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	p.at(path, "%q is not one of %s", value, strings.Join(allowed, ", "))
	return false
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
