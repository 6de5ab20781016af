package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rmad/rmad/rma"
)

// Load reads the configuration file at path: strict decoding, defaults, validation, secrets.
// Relative file names in it resolve against path's folder. On failure the error is an *Errors
// listing every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{List: []Error{{File: path, Message: "cannot read the configuration: " + pathErrReason(err)}}}
	}
	return Parse(data, path)
}

// Parse is Load for a configuration already in memory; name is used in messages and its folder
// for relative file names. Secrets are still read from their files or the environment.
func Parse(data []byte, name string) (*Config, error) {
	p := newProblems(name)
	cfg, ok := decodeConfig(data, name, p)
	if !ok {
		return nil, p.err()
	}
	validate(&cfg, p)
	loadSecrets(&cfg, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// decodeConfig decodes a file over the defaults, fills list entries' defaults and resolves its
// relative file names; ok is false when the file is not YAML at all.
func decodeConfig(data []byte, name string, p *problems) (cfg Config, ok bool) {
	cfg = Defaults()
	cfg.Path = name
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlSyntaxError(err)
		p.add(line, "", "%s", msg)
		return cfg, false
	}
	if len(doc.Content) > 0 { // an empty file is all defaults (and then fails validation)
		d := &decoder{p: p}
		d.value(doc.Content[0], reflect.ValueOf(&cfg).Elem(), "")
	}
	applyItemDefaults(&cfg)
	resolvePaths(&cfg, filepath.Dir(name))
	return cfg, true
}

// Defaults returns the configuration used for every key a file leaves out.
func Defaults() Config {
	return Config{
		Log:       Log{Level: "info", Format: "json"},
		Redis:     Redis{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "rmad:", ReplicaTimeout: time.Second},
		SMTP:      SMTP{TLS: TLSStartTLS, Auth: AuthPassword},
		HTTP:      HTTP{Listen: "127.0.0.1:8080"},
		Console:   Console{Locale: "en", SessionIdle: 8 * time.Hour, SessionMax: 7 * 24 * time.Hour, ReplyRetention: DefaultReplyRetention},
		Schedule:  Schedule{Timezone: "UTC", Digest: "0 8 * * 1-5", Reminders: "30 8 * * *", Compact: "45 3 * * *"},
		Retention: Retention{CompactAfter: 90 * 24 * time.Hour},
		Routing:   Routing{Default: string(rma.HandlingInHouse)},
		// docs/contract.md §4.
		ClaimTypes: ClaimTypes{
			"defective":      {},
			"order_error":    {},
			"delivery_error": {},
			"fast_refund":    {Requires: []string{"iban"}},
			"dji_care":       {Brands: []string{"DJI"}},
			"dji_warranty":   {Brands: []string{"DJI"}},
		},
		Policy: Policy{
			SerialRequiredBrands: []string{"DJI", "EcoFlow", "Smartmi", "Edifier", "Viomi", "Roidmi", "Dreame", "Amazfit", "Deerma"},
			MinDescriptionChars:  15,
			OutOfWarranty:        OutOfWarrantyPaidRepair,
			NoFaultFoundFee:      "15 EUR incl. VAT",
			RestockingFeePercent: 15,
			AwaitingGoodsDays:    14,
			CustomerDelayDays:    10,
			UncollectedDays:      15,
			EstimateReminderDays: 7,
		},
		Limits: Limits{MaxMessageBytes: DefaultMaxMessageBytes, MaxItemsPerSubmission: DefaultMaxItems, MaxCSVRows: DefaultMaxCSVRows,
			InboxBacklog: DefaultInboxBacklog, MemoryLimit: DefaultMemoryLimit},
		Labels: Labels{Format: LabelsA4x4},
	}
}

// Limits defaults, also for callers given a zero config.Limits.
const (
	DefaultMaxMessageBytes = 25 << 20 // 25 MiB: a request with a few scanned invoices
	DefaultMaxItems        = 1000
	DefaultMaxCSVRows      = 10000 // rows of one CSV or XLSX attachment, header and titles included
	// DefaultInboxBacklog keeps four workers busy for a while and bounds what a backlog of mail
	// costs in Redis (the rest waits in IMAP).
	DefaultInboxBacklog = 500
	// DefaultMemoryLimit is a soft limit over what rmad holds at its busiest (a backlog: 60-80
	// MB; one mail of 25 MB with thousands of labels: 50-90 MB live), so the collector works
	// harder before the heap grows past it instead of letting the garbage of a big reply (fpdf
	// allocates about 1 MB per label page) double it. Soft: a heap that needs more gets it.
	DefaultMemoryLimit = 100 << 20
	// MinMemoryLimit is the least limits.memory_limit other than 0: under it the collector
	// would run all the time.
	MinMemoryLimit = 32 << 20
)

// Mailbox defaults; list entries cannot be pre-filled like the rest.
const (
	DefaultMailbox          = "INBOX"
	DefaultProcessedMailbox = "RMA/Processed"
	DefaultRejectedMailbox  = "RMA/Rejected"
	DefaultPollInterval     = time.Minute
)

func applyItemDefaults(cfg *Config) {
	for i := range cfg.IMAP {
		m := &cfg.IMAP[i]
		if m.TLS == "" {
			m.TLS = TLSImplicit
		}
		if m.Auth == "" {
			m.Auth = AuthPassword
		}
		if m.Mailbox == "" {
			m.Mailbox = DefaultMailbox
		}
		if m.ProcessedMailbox == "" {
			m.ProcessedMailbox = DefaultProcessedMailbox
		}
		if m.RejectedMailbox == "" {
			m.RejectedMailbox = DefaultRejectedMailbox
		}
		if m.PollInterval == 0 {
			m.PollInterval = DefaultPollInterval
		}
	}
}

// resolvePaths makes relative data and secret file names relative to the config's folder, so
// that rmad finds them whatever its working directory.
func resolvePaths(cfg *Config, dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&cfg.PartnersFile)
	abs(&cfg.CatalogFile)
	abs(&cfg.SalesFile)
	abs(&cfg.Console.StaffFile)
	abs(&cfg.Redis.PasswordFile)
	abs(&cfg.HTTP.LinkSecretFile)
	abs(&cfg.SMTP.PasswordFile)
	oauth := func(o *OAuth2) {
		if o != nil {
			abs(&o.ClientSecretFile)
			abs(&o.RefreshTokenFile)
		}
	}
	oauth(cfg.SMTP.OAuth2)
	for i := range cfg.IMAP {
		abs(&cfg.IMAP[i].PasswordFile)
		oauth(cfg.IMAP[i].OAuth2)
	}
	for i := range cfg.Webhooks.Sources {
		abs(&cfg.Webhooks.Sources[i].SecretFile)
	}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError splits the YAML library's "yaml: line N: msg" into its parts.
func yamlSyntaxError(err error) (int, string) {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, "YAML syntax: " + m[2]
	}
	return 0, "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")
}
