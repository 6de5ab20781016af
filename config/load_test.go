package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
)

// Base64 of "0123456789abcdef0123456789abcdef".
const (
	whsec1 = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	whsec2 = "whsec_ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

// writeFile writes content to dir/name (creating folders) and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustErrors(t *testing.T, err error) *config.Errors {
	t.Helper()
	var errs *config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want *config.Errors", err, err)
	}
	return errs
}

// The shipped example must load as documented once its secret files exist beside it.
func TestExampleConfigLoads(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "config.yaml", string(example))
	writeFile(t, dir, "secrets/imap-partners", "imap-pw\n")
	writeFile(t, dir, "secrets/smtp", "smtp-pw\r\n")
	writeFile(t, dir, "secrets/webhook-dji", whsec1+"\n"+whsec2+"\n") // rotation: two secrets
	writeFile(t, dir, "secrets/webhook-portal", whsec1)

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.example.yaml does not load:\n%v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"path", cfg.Path, path},
		{"imap password", cfg.IMAP[0].Password.Reveal(), "imap-pw"},
		{"smtp password", cfg.SMTP.Password.Reveal(), "smtp-pw"},
		{"dji secrets", len(cfg.Webhooks.Sources[0].Secrets), 2},
		{"portal secret", cfg.Webhooks.Sources[1].Secrets[0].Reveal(), whsec1},
		{"redis password", cfg.Redis.Password.Reveal(), ""},
		{"location", cfg.Schedule.Location.String(), "Europe/Athens"},
		{"partners file", cfg.PartnersFile, filepath.Join(dir, "partners.yaml")},
		{"catalog file", cfg.CatalogFile, filepath.Join(dir, "catalog.csv")},
		{"sales file", cfg.SalesFile, filepath.Join(dir, "sales.csv")},
		{"secret file", cfg.IMAP[0].PasswordFile, filepath.Join(dir, "secrets/imap-partners")},
		{"idle", cfg.IMAP[0].UseIDLE(), true},
		{"poll", cfg.IMAP[0].PollInterval, time.Minute},
		{"default centre", cfg.ServiceCenters.Default, "GR"},
		{"centres", len(cfg.ServiceCenters.Centers), 2},
		{"DJI", cfg.Routing.Brands["DJI"].ForwardTo, "rma@dji.example"},
		{"status map", cfg.Webhooks.Sources[0].StatusMap["IN_REPAIR"], "repairing"},
		{"claim types", len(cfg.ClaimTypes), 6},
		{"fast_refund", strings.Join(cfg.ClaimTypes["fast_refund"].Requires, ","), "iban"},
		{"max bytes", cfg.Limits.MaxMessageBytes, int64(26214400)},
		{"reply to unknown", cfg.Security.ReplyToUnknown(), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Every key of the reference sample must be accepted with the same meaning.
func TestSampleConfigLoads(t *testing.T) {
	sample := config.SampleYAML()

	t.Run("secret files", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "imap-partners", "imap-pw")
		writeFile(t, dir, "smtp", "smtp-pw")
		writeFile(t, dir, "webhook-dji", whsec1)
		writeFile(t, dir, "webhook-portal", whsec2)
		text := strings.ReplaceAll(string(sample), "/etc/rmad/secrets/", dir+"/")
		cfg, err := config.Parse([]byte(text), "config.sample.yaml")
		if err != nil {
			t.Fatalf("sample does not parse:\n%v", err)
		}
		checkSample(t, cfg)
		if got := cfg.IMAP[0].Password.Reveal(); got != "imap-pw" {
			t.Errorf("imap password = %q", got)
		}
	})

	t.Run("secrets from env", func(t *testing.T) {
		// The same file with the *_file keys dropped: every secret comes from its variable.
		text := regexp.MustCompile(`(?m)^\s*(password|secret)_file:.*\n`).ReplaceAllString(string(sample), "")
		t.Setenv("RMAD_IMAP_PARTNERS_PASSWORD", "imap-env")
		t.Setenv("RMAD_SMTP_PASSWORD", "smtp-env")
		t.Setenv("RMAD_REDIS_PASSWORD", "redis-env")
		t.Setenv("RMAD_WEBHOOK_DJI_SECRET", whsec1+" "+whsec2)
		t.Setenv("RMAD_WEBHOOK_B2B_PORTAL_SECRET", whsec2)
		cfg, err := config.Parse([]byte(text), "config.sample.yaml")
		if err != nil {
			t.Fatalf("sample does not parse:\n%v", err)
		}
		checkSample(t, cfg)
		for _, c := range []struct{ got, want string }{
			{cfg.IMAP[0].Password.Reveal(), "imap-env"},
			{cfg.SMTP.Password.Reveal(), "smtp-env"},
			{cfg.Redis.Password.Reveal(), "redis-env"},
			{cfg.Webhooks.Sources[0].Secrets[1].Reveal(), whsec2},
			{cfg.Webhooks.Sources[1].Secrets[0].Reveal(), whsec2},
		} {
			if c.got != c.want {
				t.Errorf("secret = %q, want %q", c.got, c.want)
			}
		}
	})
}

func checkSample(t *testing.T, cfg *config.Config) {
	t.Helper()
	m := cfg.IMAP[0]
	if m.Name != "partners" || m.Address != "imap.example.com:993" || m.TLS != config.TLSImplicit ||
		m.Mailbox != "INBOX" || m.ProcessedMailbox != "RMA/Processed" || !m.UseIDLE() || m.PollInterval != time.Minute {
		t.Errorf("imap[0] = %+v", m)
	}
	if cfg.Routing.Brands["Ubiquiti"].Portal != "https://rma.ui.com/" || cfg.Routing.Brands["Grandstream"].Handling != "vendor_ticket" {
		t.Errorf("routing = %+v", cfg.Routing)
	}
	if cfg.Policy.CustomerDelayDays != 10 || cfg.Policy.OutOfWarranty != config.OutOfWarrantyPaidRepair ||
		!slices.Contains(cfg.Policy.SerialRequiredBrands, "Deerma") {
		t.Errorf("policy = %+v", cfg.Policy)
	}
	if cfg.Schedule.Location == nil || cfg.Schedule.Location.String() != "Europe/Athens" {
		t.Errorf("location = %v", cfg.Schedule.Location)
	}
	if cfg.SMTP.From != "Example Distribution RMA <rma@example.com>" || cfg.Notify.Staff != "service-desk@example.com" {
		t.Errorf("smtp/notify = %+v %+v", cfg.SMTP, cfg.Notify)
	}
	if cfg.ServiceCenters.Centers["RO"].Address == "" || cfg.ServiceCenters.Default != "GR" {
		t.Errorf("service_centers = %+v", cfg.ServiceCenters)
	}
}

// required is the smallest valid file apart from the case under test; a case that sets one of
// these top-level keys replaces it.
var required = []string{
	"smtp: {address: smtp.example.com:587, from: rma@example.com}",
	"partners_file: partners.yaml",
	"catalog_file: catalog.csv",
	`service_centers: {GR: {name: Service GR, address: "Street 1, Athens"}}`,
}

// withRequired appends the required keys the case text does not set itself, below it, so that
// the case's own line numbers stay as written.
func withRequired(text string) string {
	var b strings.Builder
	b.WriteString(text)
	if text != "" && !strings.HasSuffix(text, "\n") {
		b.WriteString("\n")
	}
	for _, r := range required {
		key, _, _ := strings.Cut(r, ":")
		if !regexp.MustCompile(`(?m)^` + key + `:`).MatchString(text) {
			b.WriteString(r + "\n")
		}
	}
	return b.String()
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse([]byte(withRequired("")), "cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Defaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "json"},
		{"redis.url", cfg.Redis.URL, "redis://127.0.0.1:6379/0"},
		{"redis.key_prefix", cfg.Redis.KeyPrefix, "rmad:"},
		{"redis.min_replicas", cfg.Redis.MinReplicas, 0},
		{"redis.replica_timeout", cfg.Redis.ReplicaTimeout, time.Second},
		{"console.reply_retention", cfg.Console.ReplyRetention, 30 * 24 * time.Hour},
		{"smtp.tls", cfg.SMTP.TLS, "starttls"},
		{"http.listen", cfg.HTTP.Listen, "127.0.0.1:8080"},
		{"http.public_url", cfg.HTTP.BaseURL(), "http://127.0.0.1:8080"},
		{"policy.estimate_reminder_days", cfg.Policy.EstimateReminderDays, 7},
		{"schedule.timezone", cfg.Schedule.Location.String(), "UTC"},
		{"schedule.digest", cfg.Schedule.Digest, "0 8 * * 1-5"},
		{"schedule.reminders", cfg.Schedule.Reminders, "30 8 * * *"},
		{"schedule.compact", cfg.Schedule.Compact, "45 3 * * *"},
		{"retention.compact_after", cfg.Retention.CompactAfter, 90 * 24 * time.Hour},
		{"routing.default", cfg.Routing.Default, "in_house"},
		{"claim_types", len(cfg.ClaimTypes), 6},
		{"dji_care", strings.Join(cfg.ClaimTypes["dji_care"].Brands, ","), "DJI"},
		{"policy.min_description_chars", cfg.Policy.MinDescriptionChars, 15},
		{"policy.awaiting_goods_days", cfg.Policy.AwaitingGoodsDays, 14},
		{"policy.restocking_fee_percent", cfg.Policy.RestockingFeePercent, 15},
		{"policy.serial_required_brands", len(cfg.Policy.SerialRequiredBrands), len(want.Policy.SerialRequiredBrands)},
		{"limits.max_message_bytes", cfg.Limits.MaxMessageBytes, int64(25 << 20)},
		{"limits.max_items_per_submission", cfg.Limits.MaxItemsPerSubmission, 1000},
		{"limits.inbox_backlog", cfg.Limits.InboxBacklog, int64(500)},
		{"limits.memory_limit", cfg.Limits.MemoryLimit, int64(100 << 20)},
		{"security.unknown_sender_reply", cfg.Security.ReplyToUnknown(), true},
		{"service_centers.default", cfg.ServiceCenters.Default, "GR"}, // the only centre
		{"labels.format", cfg.Labels.Format, "a4x4"},
		{"sales_file", cfg.SalesFile, ""},
		{"partners_file", cfg.PartnersFile, "partners.yaml"}, // relative to cfg.yaml's folder "."
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	t.Setenv("RMAD_IMAP_IN_1_PASSWORD", "pw")
	cfg, err = config.Parse([]byte(withRequired("imap:\n  - {name: in.1, address: imap.example.com:993, username: u}\n")), "cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.IMAP[0]
	if m.TLS != "implicit" || m.Mailbox != "INBOX" || m.ProcessedMailbox != "RMA/Processed" ||
		m.RejectedMailbox != "RMA/Rejected" || !m.UseIDLE() || m.PollInterval != time.Minute || m.Password.Reveal() != "pw" {
		t.Errorf("mailbox defaults = %+v", m)
	}
}

// Explicit values replace defaults, including empty lists and false.
func TestExplicitValuesWin(t *testing.T) {
	text := withRequired(`policy: {serial_required_brands: [], min_description_chars: 0}
security: {unknown_sender_reply: false}
claim_types: {defective: {}, warranty_extension: {requires: [serial, purchase_date]}}
redis: {sentinel: {master: m, addresses: ["10.0.0.1:26379"]}}
`)
	cfg, err := config.Parse([]byte(text), "cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Policy.SerialRequiredBrands) != 0 || cfg.Policy.MinDescriptionChars != 0 || cfg.Policy.UncollectedDays != 15 {
		t.Errorf("policy = %+v", cfg.Policy)
	}
	if cfg.Security.ReplyToUnknown() {
		t.Error("unknown_sender_reply: false ignored")
	}
	if len(cfg.ClaimTypes) != 2 || len(cfg.ClaimTypes["warranty_extension"].Requires) != 2 {
		t.Errorf("claim_types = %+v, want exactly the two given", cfg.ClaimTypes)
	}
	if cfg.Redis.URL != "" || cfg.Redis.Sentinel.Master != "m" {
		t.Errorf("redis = %+v: with a sentinel the default URL must be cleared", cfg.Redis)
	}
	if cfg.Redis.MinReplicas != 1 {
		t.Errorf("redis.min_replicas = %d, want 1 by default with a sentinel", cfg.Redis.MinReplicas)
	}
}

// redis.min_replicas defaults by how Redis is reached; an explicit value wins, 0 included.
func TestMinReplicasDefaults(t *testing.T) {
	for _, tc := range []struct {
		redis string
		want  int
	}{
		{"{url: \"redis://10.0.0.1:6379\"}", 0},
		{"{url: \"redis://10.0.0.1:6379\", min_replicas: 2}", 2},
		{"{cluster: {addresses: [\"10.0.0.1:7000\"]}}", 1},
		{"{cluster: {addresses: [\"10.0.0.1:7000\"]}, min_replicas: 0}", 0},
		{"{sentinel: {master: m, addresses: [\"10.0.0.1:26379\"]}, min_replicas: 3, replica_timeout: 250ms}", 3},
	} {
		cfg, err := config.Parse([]byte(withRequired("redis: "+tc.redis+"\n")), "cfg.yaml")
		if err != nil {
			t.Errorf("%s: %v", tc.redis, err)
			continue
		}
		if cfg.Redis.MinReplicas != tc.want {
			t.Errorf("%s: min_replicas = %d, want %d", tc.redis, cfg.Redis.MinReplicas, tc.want)
		}
	}
}

// One case per rule: the single problem reported, with its line and key path.
// oauthA is an oauth2 block for imapA with one line added or replacing its default.
func oauthA(line string) string {
	fields := map[string]string{"token_url": "https://login.example.com/token", "client_id": "c", "scopes": "[s]"}
	key, _, _ := strings.Cut(line, ":")
	text := "    auth: xoauth2\n    oauth2:\n      " + line + "\n"
	for _, k := range []string{"client_id", "scopes", "token_url"} {
		if k != key {
			text += "      " + k + ": " + fields[k] + "\n"
		}
	}
	return text
}

func TestValidation(t *testing.T) {
	t.Setenv("RMAD_IMAP_A_CLIENT_SECRET", "cs")
	t.Setenv("RMAD_SMTP_CLIENT_SECRET", "cs")
	t.Setenv("RMAD_IMAP_A_PASSWORD", "pw")
	t.Setenv("RMAD_IMAP_B_PASSWORD", "pw")
	t.Setenv("RMAD_WEBHOOK_W_SECRET", whsec1)
	imapA := "imap:\n  - name: a\n    address: imap.example.com:993\n    username: u\n"
	cases := []struct {
		name string
		text string
		want string // "line: path: message start"
	}{
		{"yaml syntax", "log:\n  level: info: debug\n", `:2: YAML syntax: mapping values are not allowed in this context`},
		{"unknown top-level key", "log: {level: info}\nlogs: {}\n", `:2: logs: unknown key (known here: `},
		{"unknown nested key", imapA + "    tsl: implicit\n", `:5: imap[0].tsl: unknown key (known here: address, auth, idle, `},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", `:3: log.level: duplicate key (first set at line 2)`},
		{"not a list", "imap: {name: a}\n", `:1: imap: want a list, got a mapping`},
		{"not a mapping", "policy: [1, 2]\n", `:1: policy: want a mapping of keys, got a list`},
		{"not a number", "limits:\n  max_items_per_submission: lots\n", `:2: limits.max_items_per_submission: "lots" is not a whole number`},
		{"not a bool", "redis:\n  allow_volatile: maybe\n", `:2: redis.allow_volatile: "maybe" is not true or false`},
		{"list for a text", "notify:\n  staff: [a@example.com]\n", `:2: notify.staff: want a text value, got a list`},
		{"duration without unit", imapA + "    poll_interval: 60\n", `:5: imap[0].poll_interval: "60" is not a duration: write it with a unit`},
		{"negative duration", imapA + "    poll_interval: -5s\n", `:5: imap[0].poll_interval: must be positive, got -5s`},
		{"compact too soon", "retention:\n  compact_after: 2h\n", `:2: retention.compact_after: 2h0m0s is too short: closed RMAs are compacted after at least a day`},
		{"compact spec", "schedule:\n  compact: every night\n", `:2: schedule.compact: "every night" is not a 5-field cron spec`},
		{"log level", "log:\n  level: verbose\n", `:2: log.level: "verbose" is not one of debug, info, warn, error`},
		{"log format", "log: {format: text}\n", `:1: log.format: "text" is not one of json, console`},
		{"labels format", "labels:\n  format: A5\n", `:2: labels.format: "A5" is not one of a6, a4x4`},
		{"imap tls", imapA + "    tls: startls\n", `:5: imap[0].tls: "startls" is not one of implicit, starttls, none`},
		{"imap tls none remote", imapA + "    tls: none\n", `:5: imap[0].tls: none sends the password in clear text: allowed only for a loopback address, not imap.example.com`},
		{"smtp tls none remote", "smtp:\n  address: 192.0.2.1:25\n  tls: none\n  from: rma@example.com\n", `:3: smtp.tls: none sends the password in clear text`},
		{"imap address", "imap:\n  - name: a\n    address: imap.example.com\n    username: u\n", `:3: imap[0].address: "imap.example.com": want host:port`},
		{"imap port", "imap:\n  - name: a\n    address: imap.example.com:imaps\n    username: u\n", `:3: imap[0].address: "imap.example.com:imaps": port "imaps" is not a number`},
		{"imap username", "imap:\n  - name: a\n    address: imap.example.com:993\n", `:2: imap[0].username: missing`},
		{"imap name", "imap:\n  - name: a b\n    address: imap.example.com:993\n    username: u\n", `:2: imap[0].name: "a b": use letters, digits`},
		{"duplicate imap names", imapA + "  - name: A\n    address: imap2.example.com:993\n    username: u\n", `:5: imap[1].name: "A": imap[0] already has this name`},
		{"processed is the inbox", imapA + "    processed_mailbox: INBOX\n", `:5: imap[0].processed_mailbox: "INBOX" is the mailbox rmad reads`},
		{"smtp from", "smtp: {address: smtp.example.com:587, from: not an address}\n", `:1: smtp.from: "not an address" is not an email address`},
		{"smtp address", "smtp: {from: rma@example.com}\n", `:1: smtp.address: missing`},
		{"http listen", "http: {listen: localhost}\n", `:1: http.listen: "localhost": want host:port`},
		{"http public_url", "http: {public_url: \"rma.example.com\"}\n", `:1: http.public_url: "rma.example.com": write the URL partners reach this server at`},
		{"http public_url query", "http: {public_url: \"https://rma.example.com/?a=1\"}\n", `:1: http.public_url: "https://rma.example.com/?a=1": write the URL`},
		{"estimate days", "policy: {estimate_reminder_days: 0}\n", `:1: policy.estimate_reminder_days: must be at least 1 day, got 0`},
		{"link secret file", "http: {link_secret_file: /nonexistent/link}\n", `:1: http.link_secret_file: cannot read secret file /nonexistent/link`},
		{"redis url", "redis:\n  url: http://127.0.0.1:6379\n", `:2: redis.url: not a Redis URL (redis://, rediss:// or unix://): redis: invalid URL scheme: http`},
		{"redis password in url", "redis:\n  url: redis://:hunter2@127.0.0.1:6379\n", `:2: redis.url: holds a password: put it in redis.password_file or RMAD_REDIS_PASSWORD instead`},
		{"redis url and cluster", "redis:\n  url: redis://127.0.0.1:6379\n  cluster: {addresses: [10.0.0.1:7000]}\n", `:2: redis.url: set only one of url, sentinel and cluster`},
		{"redis sentinel and cluster", "redis:\n  sentinel: {master: m, addresses: [10.0.0.1:26379]}\n  cluster: {addresses: [10.0.0.1:7000]}\n", `:3: redis.cluster: set only one of url, sentinel and cluster`},
		{"redis min_replicas", "redis:\n  min_replicas: -1\n", `:2: redis.min_replicas: must be from 0 (no waiting) to 16, got -1`},
		{"redis replica_timeout", "redis:\n  replica_timeout: 0s\n", `:2: redis.replica_timeout: must be more than 0 and at most 1m0s, got 0s`},
		{"console reply_retention", "console:\n  reply_retention: 0s\n", `:2: console.reply_retention: must be more than 0 and at most 8784h0m0s (a year), got 0s`},
		{"console reply_retention long", "console:\n  reply_retention: 9000h\n", `:2: console.reply_retention: must be more than 0 and at most 8784h0m0s (a year), got 9000h0m0s`},
		{"redis replica_timeout long", "redis:\n  replica_timeout: 2m\n", `:2: redis.replica_timeout: must be more than 0 and at most 1m0s, got 2m0s`},
		{"redis sentinel master", "redis:\n  sentinel:\n    addresses: [10.0.0.1:26379]\n", `:2: redis.sentinel.master: missing`},
		{"webhook kind", "webhooks:\n  sources:\n    - name: w\n      kind: status\n", `:4: webhooks.sources[0].kind: "status" is not one of vendor_status, submission`},
		{"status_map value", "webhooks:\n  sources:\n    - name: w\n      kind: vendor_status\n      status_map:\n        DONE: finished\n", `:6: webhooks.sources[0].status_map.DONE: unknown status "finished"`},
		{"status_map on submission", "webhooks:\n  sources:\n    - name: w\n      kind: submission\n      status_map: {DONE: closed}\n", `:5: webhooks.sources[0].status_map: only a vendor_status source maps statuses`},
		{"timezone", "schedule:\n  timezone: Europe/Athen\n", `:2: schedule.timezone: "Europe/Athen" is not a time zone`},
		{"digest cron", "schedule:\n  digest: \"0 8 * *\"\n", `:2: schedule.digest: "0 8 * *" is not a 5-field cron spec`},
		{"reminders cron", "schedule:\n  reminders: \"61 8 * * *\"\n", `:2: schedule.reminders: "61 8 * * *" is not a 5-field cron spec`},
		{"cron with zone", "schedule:\n  digest: \"CRON_TZ=UTC 0 8 * * *\"\n", `:2: schedule.digest: "CRON_TZ=UTC 0 8 * * *": set the zone with schedule.timezone`},
		{"routing default", "routing:\n  default: inhouse\n", `:2: routing.default: "inhouse" is not one of in_house, vendor_ticket, forward, vendor_direct`},
		{"routing default forward", "routing:\n  default: forward\n", `:2: routing.default: forward needs a brand's forward_to or portal`},
		{"routing handling", "routing:\n  brands:\n    Acme: {handling: repair}\n", `:3: routing.brands.Acme.handling: "repair" is not one of in_house`},
		{"routing forward_to", "routing:\n  brands:\n    DJI:\n      handling: forward\n", `:3: routing.brands.DJI.forward_to: missing: handling forward needs it`},
		{"routing unused key", "routing:\n  brands:\n    Acme:\n      handling: in_house\n      portal: https://x.example/\n", `:5: routing.brands.Acme.portal: not used with handling in_house`},
		{"routing portal url", "routing:\n  brands:\n    Ubiquiti: {handling: vendor_direct, portal: rma.ui.com}\n", `:3: routing.brands.Ubiquiti.portal: "rma.ui.com" is not an http(s) URL`},
		{"routing brand case", "routing:\n  brands:\n    DJI: {handling: in_house}\n    dji: {handling: in_house}\n", `:4: routing.brands.dji: same brand as "DJI"`},
		{"claim type requires", "claim_types:\n  defective: {}\n  fast_refund:\n    requires: [iban, bank]\n", `:4: claim_types.fast_refund.requires[1]: "bank" is not an item field`},
		{"claim types without defective", "claim_types:\n  order_error: {}\n", `:1: claim_types.defective: missing: it is the claim type`},
		{"claim type name", "claim_types:\n  defective: {}\n  Fast-Refund: {}\n", `:3: claim_types.Fast-Refund: "Fast-Refund": claim type names are lower case`},
		{"service centre default", "service_centers:\n  GR: {name: S, address: A}\n  default: FR\n", `:3: service_centers.default: "FR" has no entry in service_centers (have: GR)`},
		{"service centre country", "service_centers:\n  EL: {name: S, address: A}\n", `:2: service_centers.EL: "EL" is not a two-letter ISO 3166 country code`},
		{"service centre address", "service_centers:\n  GR: {name: S}\n", `:2: service_centers.GR.address: missing`},
		{"service centres need default", "service_centers:\n  GR: {name: S, address: A}\n  RO: {name: S, address: A}\n", `:1: service_centers.default: missing`},
		{"no service centre", "service_centers: {}\n", `:1: service_centers: missing: in_house and vendor_ticket items are shipped`},
		{"partners file", "partners_file: \"\"\n", `:1: partners_file: missing`},
		{"out_of_warranty", "policy:\n  out_of_warranty: refund\n", `:2: policy.out_of_warranty: "refund" is not one of paid_repair, reject`},
		{"restocking fee", "policy:\n  restocking_fee_percent: 150\n", `:2: policy.restocking_fee_percent: must be from 0 to 100, got 150`},
		{"policy days", "policy:\n  uncollected_days: 0\n", `:2: policy.uncollected_days: must be at least 1 day, got 0`},
		{"notify staff", "notify:\n  staff: desk\n", `:2: notify.staff: "desk" is not an email address`},
		{"dmarc without authserv", "security:\n  require_dmarc_pass: true\n", `:1: security.authserv_id: missing`},
		{"limits", "limits:\n  max_message_bytes: 0\n", `:2: limits.max_message_bytes: must be more than 0, got 0`},
		{"inbox backlog", "limits:\n  inbox_backlog: -5\n", `:2: limits.inbox_backlog: must be more than 0, got -5`},
		{"memory limit", "limits:\n  memory_limit: 1000000\n", `:2: limits.memory_limit: must be 0 (no limit) or at least 33554432 (32 MiB), got 1000000`},
		{"imap auth", imapA + "    auth: oauth\n", `:5: imap[0].auth: "oauth" is not one of password, xoauth2, oauthbearer`},
		{"imap oauth2 missing", imapA + "    auth: xoauth2\n", `:2: imap[0].oauth2: missing: auth xoauth2 needs token_url, client_id, client_secret_file and scopes`},
		{"oauth2 with password auth", imapA + "    oauth2: {token_url: \"https://t.example/token\", client_id: c, scopes: [s]}\n", `:5: imap[0].oauth2: is used only with auth xoauth2 or oauthbearer (auth is password)`},
		{"oauth2 token_url", imapA + oauthA("token_url: login.example.com/token"), `:7: imap[0].oauth2.token_url: "login.example.com/token" is not an https:// URL`},
		{"oauth2 token_url http", imapA + oauthA("token_url: http://login.example.com/token"), `:7: imap[0].oauth2.token_url: "http://login.example.com/token" sends the client secret in clear text`},
		{"oauth2 client_id", imapA + oauthA("client_id: \"\""), `:7: imap[0].oauth2.client_id: missing: the application (client) ID`},
		{"oauth2 scopes", imapA + oauthA("scopes: []"), `:7: imap[0].oauth2.scopes: missing: list the scopes`},
		{"oauth2 scope with space", imapA + oauthA("scopes: [\"a b\"]"), `:7: imap[0].oauth2.scopes[0]: "a b": one scope per list entry`},
		{"oauth2 unknown key", imapA + oauthA("tenant: x"), `:7: imap[0].oauth2.tenant: unknown key (known here: client_id, `},
		{"smtp oauth needs username", "smtp:\n  address: smtp.example.com:587\n  from: rma@example.com\n  auth: oauthbearer\n  oauth2: {token_url: \"https://t.example/token\", client_id: c, scopes: [s]}\n", `:1: smtp.username: missing: auth oauthbearer logs in as this mailbox`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := withRequired(c.text)
			_, err := config.Parse([]byte(text), "cfg.yaml")
			if err == nil {
				t.Fatalf("no error for\n%s", text)
			}
			errs := mustErrors(t, err)
			if len(errs.List) != 1 || !strings.HasPrefix(err.Error(), "cfg.yaml"+c.want) {
				t.Errorf("for\n%s\ngot  %v\nwant cfg.yaml%s…", text, err, c.want)
			}
		})
	}
}

// Cases that must be accepted: the rules above are not stricter than they say.
func TestValidationAccepts(t *testing.T) {
	t.Setenv("RMAD_IMAP_LOCAL_PASSWORD", "pw")
	for _, text := range []string{
		"imap:\n  - {name: local, address: 127.0.0.1:143, tls: none, username: u}\n",
		"imap:\n  - {name: local, address: \"[::1]:143\", tls: none, username: u}\n",
		"smtp: {address: localhost:25, tls: none, from: rma@example.com}\n",
		"http: {listen: \":8080\"}\n",
		"schedule: {digest: \"@daily\", reminders: \"*/15 7-18 * * MON-FRI\", timezone: America/New_York}\n",
		"redis: {url: \"unix:///run/redis/redis.sock\"}\n",
		"redis: {url: \"rediss://rmad@redis.example.com:6380/2\"}\n",
		"webhooks: {sources: [{name: w, kind: vendor_status, status_map: {ok: CLOSED}}]}\n",
		"notify: {staff: \"a@example.com, Desk <b@example.com>\"}\n",
		"routing: {default: vendor_ticket, brands: {Acme: {handling: vendor_direct, portal: \"https://rma.acme.example/\"}}}\n",
		"labels: {format: a6}\n",
	} {
		t.Setenv("RMAD_WEBHOOK_W_SECRET", whsec1)
		if _, err := config.Parse([]byte(withRequired(text)), "cfg.yaml"); err != nil {
			t.Errorf("refused\n%s\n%v", text, err)
		}
	}
}

// YAML anchors and merge keys work, with the mapping's own keys winning.
func TestMergeKeys(t *testing.T) {
	t.Setenv("RMAD_IMAP_A_PASSWORD", "pw")
	t.Setenv("RMAD_IMAP_B_PASSWORD", "pw")
	text := withRequired(`imap:
  - &box {name: a, address: imap.example.com:993, username: u, poll_interval: 5m}
  - <<: *box
    name: b
`)
	cfg, err := config.Parse([]byte(text), "cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.IMAP[1]; b.Name != "b" || b.PollInterval != 5*time.Minute || b.Username != "u" {
		t.Errorf("imap[1] = %+v", b)
	}
}

// A file with five different mistakes yields five lines, in file order, each with its place.
func TestAllProblemsAtOnce(t *testing.T) {
	text := `log:
  level: loud
imap:
  - name: a
    address: imap.example.com:993
    tls: startls
    username: u
    password_file: /nonexistent/rmad-secret
schedule:
  digest: "every day"
  timezon: UTC
policy:
  out_of_warranty: refund
`
	_, err := config.Parse([]byte(withRequired(text)), "config.yaml")
	errs := mustErrors(t, err)
	want := []string{
		`config.yaml:2: log.level: "loud" is not one of debug, info, warn, error`,
		`config.yaml:6: imap[0].tls: "startls" is not one of implicit, starttls, none`,
		`config.yaml:8: imap[0].password_file: cannot read secret file /nonexistent/rmad-secret: no such file or directory`,
		`config.yaml:10: schedule.digest: "every day" is not a 5-field cron spec`,
		`config.yaml:11: schedule.timezon: unknown key`,
		`config.yaml:13: policy.out_of_warranty: "refund" is not one of paid_repair, reject`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || len(errs.List) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d:\ngot  %s\nwant %s…", i+1, lines[i], want[i])
		}
	}
	if e := errs.List[1]; e.File != "config.yaml" || e.Line != 6 || e.Path != "imap[0].tls" {
		t.Errorf("structured error = %+v", e)
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good", "s3cret\n")
	empty := writeFile(t, dir, "empty", "\n")
	rotated := writeFile(t, dir, "rotated", whsec1+"\n\n"+whsec2+"\n")
	badPrefix := writeFile(t, dir, "bad-prefix", "sk_live_TOPSECRETVALUE\n")
	badBase64 := writeFile(t, dir, "bad-b64", "whsec_TOP!SECRET!VALUE\n")
	missing := filepath.Join(dir, "missing")

	mailbox := func(extra string) string {
		return "imap:\n  - name: in-1\n    address: imap.example.com:993\n    username: u\n" + extra
	}
	oauthBox := func(extra string) string {
		return mailbox("    auth: xoauth2\n    oauth2:\n      token_url: https://login.example.com/token\n      client_id: c\n      scopes: [s]\n" + extra)
	}
	source := func(extra string) string {
		return "webhooks:\n  sources:\n    - name: portal\n      kind: submission\n" + extra
	}
	imapPassword := func(c *config.Config) string { return c.IMAP[0].Password.Reveal() }
	cases := []struct {
		name    string
		text    string
		env     map[string]string
		want    string                      // error after "<dir>/cfg.yaml"; empty: no error
		secret  func(*config.Config) string // with want empty: the loaded secret ...
		value   string                      // ... must be this
		noLeaks string                      // must not appear in the error
	}{
		{name: "file, newline trimmed", text: mailbox("    password_file: " + good + "\n"), secret: imapPassword, value: "s3cret"},
		{name: "env", text: mailbox(""), env: map[string]string{"RMAD_IMAP_IN_1_PASSWORD": "from-env"}, secret: imapPassword, value: "from-env"},
		{name: "file wins over env", text: mailbox("    password_file: " + good + "\n"),
			env: map[string]string{"RMAD_IMAP_IN_1_PASSWORD": "from-env"}, secret: imapPassword, value: "s3cret"},
		{name: "relative file", text: mailbox("    password_file: good\n"), secret: imapPassword, value: "s3cret"},
		{name: "missing file", text: mailbox("    password_file: " + missing + "\n"),
			want: ":5: imap[0].password_file: cannot read secret file " + missing + ": no such file or directory"},
		{name: "unreadable file (a folder)", text: mailbox("    password_file: " + dir + "\n"),
			want: ":5: imap[0].password_file: cannot read secret file " + dir + ": is a directory"},
		{name: "empty file", text: mailbox("    password_file: " + empty + "\n"),
			want: ":5: imap[0].password_file: secret file " + empty + " is empty"},
		{name: "imap password nowhere", text: mailbox(""),
			want: ":2: imap[0].password_file: missing: set password_file to a file holding the secret, or the environment variable RMAD_IMAP_IN_1_PASSWORD"},
		{name: "smtp without username needs none", text: "smtp: {address: smtp.example.com:25, from: a@example.com}\n",
			secret: func(c *config.Config) string { return c.SMTP.Password.Reveal() }, value: ""},
		{name: "smtp username needs a password", text: "smtp: {address: smtp.example.com:25, from: a@example.com, username: u}\n",
			want: ":1: smtp.password_file: missing: set password_file to a file holding the secret, or the environment variable RMAD_SMTP_PASSWORD"},
		{name: "smtp password from env", text: "smtp: {address: smtp.example.com:25, from: a@example.com, username: u}\n",
			env: map[string]string{"RMAD_SMTP_PASSWORD": "smtp-env\n"}, secret: func(c *config.Config) string { return c.SMTP.Password.Reveal() }, value: "smtp-env"},
		{name: "redis password from file", text: "redis: {password_file: " + good + "}\n",
			secret: func(c *config.Config) string { return c.Redis.Password.Reveal() }, value: "s3cret"},
		{name: "oauth: no password needed, client secret from file", text: oauthBox("      client_secret_file: good\n"),
			secret: func(c *config.Config) string {
				return c.IMAP[0].OAuth2.ClientSecret.Reveal() + "|" + c.IMAP[0].Password.Reveal()
			}, value: "s3cret|"},
		{name: "oauth: client secret from env", text: oauthBox(""), env: map[string]string{"RMAD_IMAP_IN_1_CLIENT_SECRET": "cs-env"},
			secret: func(c *config.Config) string { return c.IMAP[0].OAuth2.ClientSecret.Reveal() }, value: "cs-env"},
		{name: "oauth: client secret nowhere", text: oauthBox(""),
			want: ":6: imap[0].oauth2.client_secret_file: missing: set client_secret_file to a file holding the secret, or the environment variable RMAD_IMAP_IN_1_CLIENT_SECRET"},
		{name: "oauth: refresh token file", text: oauthBox("      client_secret_file: good\n      refresh_token_file: " + good + "\n"),
			secret: func(c *config.Config) string { return c.IMAP[0].OAuth2.RefreshToken.Reveal() }, value: "s3cret"},
		{name: "oauth: refresh token file missing", text: oauthBox("      client_secret_file: good\n      refresh_token_file: " + missing + "\n"),
			want: ":11: imap[0].oauth2.refresh_token_file: cannot read secret file " + missing + ": no such file or directory"},
		{name: "smtp oauth: secret from env", text: "smtp:\n  address: smtp.example.com:587\n  from: a@example.com\n  username: u\n  auth: xoauth2\n" +
			"  oauth2: {token_url: \"https://t.example/token\", client_id: c, scopes: [s]}\n", env: map[string]string{"RMAD_SMTP_CLIENT_SECRET": "smtp-cs"},
			secret: func(c *config.Config) string {
				return c.SMTP.OAuth2.ClientSecret.Reveal() + "|" + c.SMTP.Password.Reveal()
			}, value: "smtp-cs|"},
		{name: "webhook rotation", text: source("      secret_file: " + rotated + "\n"),
			secret: func(c *config.Config) string { return fmt.Sprint(c.Webhooks.Sources[0].Secrets) }, value: "[****** ******]"},
		{name: "webhook rotation, second secret", text: source("      secret_file: " + rotated + "\n"),
			secret: func(c *config.Config) string { return c.Webhooks.Sources[0].Secrets[1].Reveal() }, value: whsec2},
		{name: "webhook secret nowhere", text: source(""),
			want: ":3: webhooks.sources[0].secret_file: missing: set secret_file to a file holding the secret, or the environment variable RMAD_WEBHOOK_PORTAL_SECRET"},
		{name: "webhook secret prefix", text: source("      secret_file: " + badPrefix + "\n"),
			want: ":5: webhooks.sources[0].secret_file: secret 1 in " + badPrefix + " does not start with whsec_", noLeaks: "TOPSECRETVALUE"},
		{name: "webhook secret base64", text: source("      secret_file: " + badBase64 + "\n"),
			want: ":5: webhooks.sources[0].secret_file: secret 1 in " + badBase64 + " is not whsec_ followed by base64", noLeaks: "SECRET"},
		{name: "webhook secret env", text: source(""), env: map[string]string{"RMAD_WEBHOOK_PORTAL_SECRET": "nope-SECRETVALUE"},
			want: ":3: webhooks.sources[0].secret_file: secret 1 in $RMAD_WEBHOOK_PORTAL_SECRET does not start with whsec_", noLeaks: "SECRETVALUE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := config.Parse([]byte(withRequired(c.text)), filepath.Join(dir, "cfg.yaml"))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := c.secret(cfg); got != c.value {
					t.Errorf("secret = %q, want %q", got, c.value)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			mustErrors(t, err)
			if want := filepath.Join(dir, "cfg.yaml") + c.want; err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
			if c.noLeaks != "" && strings.Contains(err.Error(), c.noLeaks) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v", s, s, config.Mailbox{Password: s}, config.SMTP{Password: s})} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if b, _ := s.MarshalText(); strings.Contains(string(b), "hunter2") {
		t.Errorf("MarshalText = %s", b)
	}
	if s.Reveal() != "hunter2" {
		t.Error("Reveal lost the value")
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(path)
	errs := mustErrors(t, err)
	if len(errs.List) != 1 || err.Error() != path+": cannot read the configuration: no such file or directory" {
		t.Errorf("got %v", err)
	}
}

// Odd files give problems, never a panic or a silent success.
func TestOddFiles(t *testing.T) {
	cases := []struct{ text, want string }{
		{"", "cfg.yaml: smtp.address: missing"},
		{"# only a comment\n", "cfg.yaml: smtp.address: missing"},
		{"- a\n- b\n", "cfg.yaml:1: want a mapping of keys, got a list"},
		{"just text\n", "cfg.yaml:1: want a mapping of keys, got a single value"},
		{"imap: [1, 2]\n", "cfg.yaml:1: imap[0]: want a mapping of keys, got a single value"},
		{"routing: {brands: {[a]: {handling: in_house}}}\n", "cfg.yaml:1: routing.brands: keys must be plain names, got a list"},
		{"log: &l {level: debug}\nhttp: *l\n", "cfg.yaml:1: http.level: unknown key"},
		{"\tlog: x\n", "cfg.yaml: YAML syntax: found character that cannot start any token"},
	}
	for _, c := range cases {
		_, err := config.Parse([]byte(c.text), "cfg.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("for %q\ngot  %v\nwant %s…", c.text, err, c.want)
		}
	}
}

func TestHTTPBaseURL(t *testing.T) {
	for h, want := range map[config.HTTP]string{
		{Listen: "127.0.0.1:8080"}: "http://127.0.0.1:8080",
		{Listen: ":8080"}:          "http://localhost:8080",
		{Listen: "[::]:8080"}:      "http://localhost:8080",
		{Listen: ":8080", PublicURL: " https://rma.example.com/b/ "}: "https://rma.example.com/b",
	} {
		if got := h.BaseURL(); got != want {
			t.Errorf("%+v: BaseURL %q, want %q", h, got, want)
		}
	}
}
