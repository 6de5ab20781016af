// Package config is rmad's typed configuration: strict YAML loading (unknown keys are errors,
// all problems reported at once with file:line), defaults, validation and secrets.
package config

import (
	"net"
	"strings"
	"time"
)

// Config is the whole configuration file (see config.example.yaml for every key).
type Config struct {
	Log            Log            `yaml:"log"`
	Redis          Redis          `yaml:"redis"`
	IMAP           []Mailbox      `yaml:"imap"`
	SMTP           SMTP           `yaml:"smtp"`
	HTTP           HTTP           `yaml:"http"`
	Console        Console        `yaml:"console"`
	Webhooks       Webhooks       `yaml:"webhooks"`
	Schedule       Schedule       `yaml:"schedule"`
	ServiceCenters ServiceCenters `yaml:"service_centers"`
	PartnersFile   string         `yaml:"partners_file"`
	CatalogFile    string         `yaml:"catalog_file"`
	SalesFile      string         `yaml:"sales_file"`
	Routing        Routing        `yaml:"routing"`
	ClaimTypes     ClaimTypes     `yaml:"claim_types"`
	Policy         Policy         `yaml:"policy"`
	Notify         Notify         `yaml:"notify"`
	Labels         Labels         `yaml:"labels"`
	Security       Security       `yaml:"security"`
	Limits         Limits         `yaml:"limits"`
	Conversation   Conversation   `yaml:"conversation"`
	Retention      Retention      `yaml:"retention"`

	// Path is the file the config was loaded from (relative data files resolve against its folder).
	Path string `yaml:"-"`
}

// Conversation is how rmad answers partners' replies in an RMA's thread.
type Conversation struct {
	// Acknowledge answers a follow-up that only has free text ("thank you", a question) with a
	// short acknowledgement; by default it is only recorded and passed to staff.
	Acknowledge bool `yaml:"acknowledge"`
}

// Log settings.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | console
}

// Redis connection. URL for a single server; Sentinel or Cluster for more.
type Redis struct {
	URL           string         `yaml:"url"`
	Sentinel      *RedisSentinel `yaml:"sentinel"`
	Cluster       *RedisCluster  `yaml:"cluster"`
	PasswordFile  string         `yaml:"password_file"`
	KeyPrefix     string         `yaml:"key_prefix"`
	AllowVolatile bool           `yaml:"allow_volatile"`
	// MinReplicas is how many replicas must have a write that releases a mail (the inbox write
	// before the IMAP MOVE) or a number (the commit before its reply is queued) before rmad
	// goes on (WAIT, or WAITAOF where Redis has it). Default 0 with redis.url, 1 with Sentinel
	// or Cluster.
	MinReplicas int `yaml:"min_replicas"`
	// ReplicaTimeout bounds that wait; a write not confirmed in time is retried later.
	ReplicaTimeout time.Duration `yaml:"replica_timeout"`
	Password       Secret        `yaml:"-"` // from password_file or RMAD_REDIS_PASSWORD
}

// RedisSentinel addresses a Sentinel-managed master.
type RedisSentinel struct {
	Master    string   `yaml:"master"`
	Addresses []string `yaml:"addresses"`
}

// RedisCluster addresses a Redis Cluster.
type RedisCluster struct {
	Addresses []string `yaml:"addresses"`
}

// TLS modes for IMAP and SMTP.
const (
	TLSImplicit = "implicit"
	TLSStartTLS = "starttls"
	TLSNone     = "none" // loopback only
)

// Login mechanisms for IMAP and SMTP (imap[].auth, smtp.auth).
const (
	AuthPassword    = "password"    // LOGIN / AUTH PLAIN or LOGIN with password_file
	AuthXOAUTH2     = "xoauth2"     // SASL XOAUTH2 with an OAuth 2.0 access token (Microsoft 365, Google)
	AuthOAuthBearer = "oauthbearer" // SASL OAUTHBEARER (RFC 7628) with an OAuth 2.0 access token
)

// OAuth2 says how to get access tokens for auth xoauth2 or oauthbearer. Without a refresh
// token it is the client-credentials grant (Microsoft 365 app-only access); with one, the
// refresh-token grant (Google, or any delegated access).
type OAuth2 struct {
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	RefreshTokenFile string   `yaml:"refresh_token_file"`
	// From client_secret_file or RMAD_IMAP_<NAME>_CLIENT_SECRET / RMAD_SMTP_CLIENT_SECRET.
	ClientSecret Secret `yaml:"-"`
	RefreshToken Secret `yaml:"-"` // from refresh_token_file; empty: client credentials
}

// Mailbox is one IMAP mailbox rmad reads.
type Mailbox struct {
	Name             string        `yaml:"name"`
	Address          string        `yaml:"address"`
	TLS              string        `yaml:"tls"`
	Username         string        `yaml:"username"`
	Auth             string        `yaml:"auth"` // password (default) | xoauth2 | oauthbearer
	PasswordFile     string        `yaml:"password_file"`
	OAuth2           *OAuth2       `yaml:"oauth2"`
	Mailbox          string        `yaml:"mailbox"`
	ProcessedMailbox string        `yaml:"processed_mailbox"`
	RejectedMailbox  string        `yaml:"rejected_mailbox"`
	IDLE             *bool         `yaml:"idle"` // default true
	PollInterval     time.Duration `yaml:"poll_interval"`
	Password         Secret        `yaml:"-"` // from password_file or RMAD_IMAP_<NAME>_PASSWORD
}

// UseIDLE reports whether IDLE is wanted (default true).
func (m Mailbox) UseIDLE() bool { return m.IDLE == nil || *m.IDLE }

// SMTP is the outgoing mail server.
type SMTP struct {
	Address      string  `yaml:"address"`
	TLS          string  `yaml:"tls"`
	Username     string  `yaml:"username"`
	Auth         string  `yaml:"auth"` // password (default) | xoauth2 | oauthbearer
	PasswordFile string  `yaml:"password_file"`
	OAuth2       *OAuth2 `yaml:"oauth2"`
	From         string  `yaml:"from"`
	Password     Secret  `yaml:"-"` // from password_file or RMAD_SMTP_PASSWORD
}

// UsesOAuth reports whether auth is one of the OAuth 2.0 mechanisms.
func UsesOAuth(auth string) bool { return auth == AuthXOAUTH2 || auth == AuthOAuthBearer }

// HTTP server.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is where partners reach this server (a reverse proxy's https URL): the links of
	// repair estimates are built on it. Empty: "http://" + Listen.
	PublicURL string `yaml:"public_url"`
	// LinkSecretFile holds the key that signs those links (else $RMAD_LINK_SECRET; with neither,
	// rmad keeps a random key in Redis, shared by the instances of that Redis).
	LinkSecretFile string `yaml:"link_secret_file"`
	LinkSecret     Secret `yaml:"-"`
}

// BaseURL is PublicURL, or else the http:// URL of Listen, without a trailing slash.
func (h HTTP) BaseURL() string {
	if u := strings.TrimRight(strings.TrimSpace(h.PublicURL), "/"); u != "" {
		return u
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return "http://" + h.Listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Console is the staff console under /console/ on the HTTP server.
type Console struct {
	Enabled   bool   `yaml:"enabled"`
	StaffFile string `yaml:"staff_file"` // accounts: username, name, role, password hash
	Locale    string `yaml:"locale"`     // en | el: the console's language
	// SessionIdle ends a session unused this long; SessionMax ends any session this old.
	SessionIdle time.Duration `yaml:"session_idle"`
	SessionMax  time.Duration `yaml:"session_max"`
	// ReplyRetention is how long rmad keeps the partner mails it sent about an RMA (the newest
	// few per RMA) for staff to send again from the RMA page.
	ReplyRetention time.Duration `yaml:"reply_retention"`
	// TrustedProxyHeader (e.g. X-Remote-User) names the signed-in user when the request comes
	// from one of TrustedProxies (CIDRs); from anywhere else it is ignored.
	TrustedProxyHeader string   `yaml:"trusted_proxy_header"`
	TrustedProxies     []string `yaml:"trusted_proxies"`
}

// DefaultReplyRetention is console.reply_retention's default: 30 days.
const DefaultReplyRetention = 30 * 24 * time.Hour

// Console languages (i18n.ConsoleLocales: the console's tests check they are the same).
var ConsoleLocales = []string{"en", "el"}

// Webhook source kinds.
const (
	WebhookVendorStatus = "vendor_status"
	WebhookSubmission   = "submission"
)

// Webhooks lists the signed webhook sources.
type Webhooks struct {
	Sources []WebhookSource `yaml:"sources"`
}

// WebhookSource is one sender of signed webhooks.
type WebhookSource struct {
	Name       string            `yaml:"name"`
	Kind       string            `yaml:"kind"`
	SecretFile string            `yaml:"secret_file"` // one whsec_ secret per line (several for rotation)
	StatusMap  map[string]string `yaml:"status_map"`  // vendor status → rmad status
	Secrets    []Secret          `yaml:"-"`           // from secret_file or RMAD_WEBHOOK_<NAME>_SECRET
}

// Retention says how long RMAs are kept in their full form in Redis.
type Retention struct {
	// CompactAfter: a closed RMA unchanged this long is packed into one compact value (the
	// schedule's compact job); it is still found and shown as before.
	CompactAfter time.Duration `yaml:"compact_after"`
}

// Schedule of the cron jobs.
type Schedule struct {
	Timezone  string         `yaml:"timezone"`
	Digest    string         `yaml:"digest"`
	Reminders string         `yaml:"reminders"`
	Compact   string         `yaml:"compact"`
	Location  *time.Location `yaml:"-"`
}

// ServiceCenter is one country's service centre.
type ServiceCenter struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

// ServiceCenters maps a country code to its centre; Default names the country whose centre
// serves partners from countries without one. In YAML both share one mapping (default: GR).
type ServiceCenters struct {
	Centers map[string]ServiceCenter
	Default string
}

// For is the service centre partners from country ship to: that country's, else the default
// country's. It reports false when neither has an address.
func (s ServiceCenters) For(country string) (ServiceCenter, bool) {
	for _, cc := range []string{country, s.Default} {
		cc = strings.TrimSpace(cc)
		if cc == "" {
			continue
		}
		for k, sc := range s.Centers {
			if strings.EqualFold(k, cc) && strings.TrimSpace(sc.Address) != "" {
				return sc, true
			}
		}
	}
	return ServiceCenter{}, false
}

// Routing per brand (docs/contract.md §5).
type Routing struct {
	Default string                  `yaml:"default"`
	Brands  map[string]BrandRouting `yaml:"brands"`
}

// BrandRouting is one brand's handling and where to send the partner.
type BrandRouting struct {
	Handling  string `yaml:"handling"`
	Helpdesk  string `yaml:"helpdesk"`
	ForwardTo string `yaml:"forward_to"`
	Portal    string `yaml:"portal"`
}

// ClaimTypes maps a claim type name to its restrictions.
type ClaimTypes map[string]ClaimType

// ClaimType restricts a claim type to brands and names fields it requires.
type ClaimType struct {
	Requires []string `yaml:"requires"`
	Brands   []string `yaml:"brands"`
}

// Out-of-warranty policies.
const (
	OutOfWarrantyPaidRepair = "paid_repair"
	OutOfWarrantyReject     = "reject"
)

// Policy values (docs/contract.md §2–§4).
type Policy struct {
	SerialRequiredBrands []string `yaml:"serial_required_brands"`
	MinDescriptionChars  int      `yaml:"min_description_chars"`
	OutOfWarranty        string   `yaml:"out_of_warranty"`
	NoFaultFoundFee      string   `yaml:"no_fault_found_fee"`
	RestockingFeePercent int      `yaml:"restocking_fee_percent"`
	AwaitingGoodsDays    int      `yaml:"awaiting_goods_days"`
	CustomerDelayDays    int      `yaml:"customer_delay_days"`
	UncollectedDays      int      `yaml:"uncollected_days"`
	// EstimateReminderDays: a repair estimate unanswered this long is reminded once; twice
	// this long, the unit is returned unrepaired.
	EstimateReminderDays int `yaml:"estimate_reminder_days"`
}

// Label formats (labels.format): one A6 label per page, or four A6 labels on an A4 page.
const (
	LabelsA6   = "a6"
	LabelsA4x4 = "a4x4"
)

// Labels configures the parcel labels sent with replies.
type Labels struct {
	Format string `yaml:"format"` // a6 | a4x4
}

// Notify lists who else hears of things.
type Notify struct {
	Staff string `yaml:"staff"`
}

// Security options for senders.
type Security struct {
	RequireDMARCPass   bool   `yaml:"require_dmarc_pass"`
	AuthservID         string `yaml:"authserv_id"`
	UnknownSenderReply *bool  `yaml:"unknown_sender_reply"` // default true
}

// ReplyToUnknown reports whether unknown senders get the registration hint (default true).
func (s Security) ReplyToUnknown() bool { return s.UnknownSenderReply == nil || *s.UnknownSenderReply }

// Limits on input size.
type Limits struct {
	MaxMessageBytes       int64 `yaml:"max_message_bytes"`
	MaxItemsPerSubmission int   `yaml:"max_items_per_submission"`
	MaxCSVRows            int   `yaml:"max_csv_rows"` // non-empty rows read from one CSV or XLSX file
	// InboxBacklog: the IMAP watchers stop fetching while the inbox stream holds this many
	// unprocessed mails (or the outbox twice as many messages), until it is down to half.
	InboxBacklog int64 `yaml:"inbox_backlog"`
	// MemoryLimit is the Go runtime's soft memory limit for `rmad run`, in bytes (0: none); the
	// GOMEMLIMIT environment variable wins over it (daemon.SetMemoryLimit).
	MemoryLimit int64 `yaml:"memory_limit"`
}

// Secret is a password or key; it never prints itself.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "******"
}

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }
