package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rmad/rmad"
)

// Settings are what differs between the configs of the demo, the benchmark and the tests; the
// rest (routing, policy, service centres, notify, security, limits) is config.sample.yaml's, which
// testdata/expected.json assumes. Empty fields take the defaults given with them.
type Settings struct {
	LogLevel, LogFormat string // info, json

	RedisAddr string // host:port of redis; "" leaves redis out (rmad's default)
	KeyPrefix string // "" leaves rmad's default

	// The one mailbox, "partners". The servers are plaintext on loopback (tls: none).
	IMAPAddr, IMAPUser string
	IMAPPasswordFile   string // "" leaves the password to RMAD_IMAP_PARTNERS_PASSWORD
	Mailbox            string // INBOX
	ProcessedMailbox   string // RMA/Processed
	RejectedMailbox    string // RMA/Rejected
	IDLE               bool
	PollInterval       time.Duration // 30s

	SMTPAddr   string // plaintext on loopback (tls: none)
	HTTPListen string // "" leaves rmad's default 127.0.0.1:8080

	// DataDir is the folder of partners.yaml, catalog.csv and sales.csv (see WriteSampleData);
	// "" for the config file's own folder.
	DataDir string

	// Cron specs in Europe/Athens; "" for the sample's. LeapDayDigest and LeapDayReminders
	// keep the jobs from mailing partners in the middle of a run.
	Digest, Reminders string
}

// Cron specs that fire only on 29 February.
const (
	LeapDayDigest    = "0 3 29 2 *"
	LeapDayReminders = "30 3 29 2 *"
)

// SampleFrom is the sender of the sample config's replies.
const SampleFrom = "Example Distribution RMA <rma@distributor.example>"

// Config renders s as a config file.
func Config(s Settings) string {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.LogLevel, "info")
	def(&s.LogFormat, "json")
	def(&s.Mailbox, "INBOX")
	def(&s.ProcessedMailbox, "RMA/Processed")
	def(&s.RejectedMailbox, "RMA/Rejected")
	def(&s.Digest, "0 8 * * 1-5")
	def(&s.Reminders, "30 8 * * *")
	if s.PollInterval == 0 {
		s.PollInterval = 30 * time.Second
	}
	data := func(name string) string {
		if s.DataDir == "" {
			return name
		}
		return filepath.Join(s.DataDir, name)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "log: {level: %s, format: %s}\n", s.LogLevel, s.LogFormat)
	if s.RedisAddr != "" || s.KeyPrefix != "" {
		var fields []string
		if s.RedisAddr != "" {
			fields = append(fields, fmt.Sprintf("url: %q", "redis://"+s.RedisAddr+"/0"))
		}
		if s.KeyPrefix != "" {
			fields = append(fields, fmt.Sprintf("key_prefix: %q", s.KeyPrefix))
		}
		fmt.Fprintf(&b, "redis: {%s}\n", strings.Join(fields, ", "))
	}
	fmt.Fprintf(&b, "imap:\n  - name: partners\n    address: %q\n    tls: none\n    username: %q\n", s.IMAPAddr, s.IMAPUser)
	if s.IMAPPasswordFile != "" {
		fmt.Fprintf(&b, "    password_file: %q\n", s.IMAPPasswordFile)
	}
	fmt.Fprintf(&b, "    mailbox: %q\n    processed_mailbox: %q\n    rejected_mailbox: %q\n    idle: %t\n    poll_interval: %s\n",
		s.Mailbox, s.ProcessedMailbox, s.RejectedMailbox, s.IDLE, s.PollInterval)
	fmt.Fprintf(&b, "smtp:\n  address: %q\n  tls: none\n  from: %q\n", s.SMTPAddr, SampleFrom)
	if s.HTTPListen != "" {
		fmt.Fprintf(&b, "http: {listen: %q}\n", s.HTTPListen)
	}
	fmt.Fprintf(&b, "schedule: {timezone: Europe/Athens, digest: %q, reminders: %q}\n", s.Digest, s.Reminders)
	fmt.Fprintf(&b, "partners_file: %q\ncatalog_file: %q\nsales_file: %q\n", data("partners.yaml"), data("catalog.csv"), data("sales.csv"))
	b.WriteString(sampleRules)
	return b.String()
}

// sampleRules is config.sample.yaml's service centres, routing and policy.
const sampleRules = `service_centers:
  GR: {name: "Example Distribution Service GR", address: "Example Street 1, 14451 Metamorfosi, Greece"}
  RO: {name: "Example Distribution Service RO", address: "Example Street 3, 031041 Bucharest, Romania"}
  default: GR
routing:
  default: in_house
  brands:
    Grandstream: {handling: vendor_ticket, helpdesk: "https://helpdesk.grandstream.com/"}
    DJI:         {handling: forward, forward_to: "rma@dji.example"}
    EcoFlow:     {handling: forward, forward_to: "service@ecoflow.example"}
    Ubiquiti:    {handling: vendor_direct, portal: "https://rma.ui.com/"}
    Ruckus:      {handling: vendor_direct, portal: "https://support.ruckuswireless.com/"}
    Innovaphone: {handling: vendor_direct, portal: "https://rma.innovaphone.com/"}
    Gigaset:     {handling: vendor_direct, portal: "https://g-estore.com/logistics/repair_form_pro.php"}
policy:
  serial_required_brands: [DJI, EcoFlow, Smartmi, Edifier, Viomi, Roidmi, Dreame, Amazfit, Deerma]
  min_description_chars: 15
  out_of_warranty: paid_repair
  no_fault_found_fee: "15 EUR incl. VAT"
  restocking_fee_percent: 15
  awaiting_goods_days: 14
  customer_delay_days: 10
  uncollected_days: 15
notify: {staff: service-desk@distributor.example}
security: {require_dmarc_pass: false, authserv_id: mx.distributor.example, unknown_sender_reply: true}
limits: {max_message_bytes: 26214400, max_items_per_submission: 1000}
`

// WriteSampleData writes the samples' partners.yaml, catalog.csv and sales.csv (rmad.Samples,
// from testdata/) into dir.
func WriteSampleData(dir string) error {
	for _, f := range []string{"partners.yaml", "catalog.csv", "sales.csv"} {
		b, err := rmad.Samples.ReadFile("testdata/" + f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return fmt.Errorf("sample data: %w", err)
		}
	}
	return nil
}
