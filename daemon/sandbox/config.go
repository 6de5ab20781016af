package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rmad/rmad"
	"github.com/rmad/rmad/config"
)

// Settings are what differs between the configs of the demo, the benchmark and the tests; the
// rest (routing, claim types, policy, service centres, notify, security, limits) is
// config.sample.yaml's (config.SampleWith), which testdata/expected.json assumes. Empty fields take the defaults given with them.
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

	// Cron specs in the sample's timezone; "" for the sample's. LeapDayDigest and LeapDayReminders
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

// WriteConfig writes the config file of s to path: config.sample.yaml with the connections,
// schedule and data files of s.
func WriteConfig(path string, s Settings) error {
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
	if s.PollInterval == 0 {
		s.PollInterval = 30 * time.Second
	}
	data := func(name string) string {
		if s.DataDir == "" {
			return name
		}
		return strconv.Quote(filepath.Join(s.DataDir, name))
	}

	sections := map[string]string{
		"log":           fmt.Sprintf("{level: %s, format: %s}", s.LogLevel, s.LogFormat),
		"redis":         "", // rmad's default unless set below
		"http":          "",
		"webhooks":      "",
		"smtp":          fmt.Sprintf("{address: %q, tls: none, from: %q}", s.SMTPAddr, SampleFrom),
		"partners_file": data("partners.yaml"), "catalog_file": data("catalog.csv"), "sales_file": data("sales.csv"),
	}
	if s.RedisAddr != "" || s.KeyPrefix != "" {
		var fields []string
		if s.RedisAddr != "" {
			fields = append(fields, fmt.Sprintf("url: %q", "redis://"+s.RedisAddr+"/0"))
		}
		if s.KeyPrefix != "" {
			fields = append(fields, fmt.Sprintf("key_prefix: %q", s.KeyPrefix))
		}
		sections["redis"] = "{" + strings.Join(fields, ", ") + "}"
	}
	imap := fmt.Sprintf("{name: partners, address: %q, tls: none, username: %q, ", s.IMAPAddr, s.IMAPUser)
	if s.IMAPPasswordFile != "" {
		imap += fmt.Sprintf("password_file: %q, ", s.IMAPPasswordFile)
	}
	sections["imap"] = "[" + imap + fmt.Sprintf("mailbox: %q, processed_mailbox: %q, rejected_mailbox: %q, idle: %t, poll_interval: %s}]",
		s.Mailbox, s.ProcessedMailbox, s.RejectedMailbox, s.IDLE, s.PollInterval)
	if s.HTTPListen != "" {
		sections["http"] = fmt.Sprintf("{listen: %q}", s.HTTPListen)
	}
	if s.Digest != "" || s.Reminders != "" {
		var fields []string
		if s.Digest != "" {
			fields = append(fields, fmt.Sprintf("digest: %q", s.Digest))
		}
		if s.Reminders != "" {
			fields = append(fields, fmt.Sprintf("reminders: %q", s.Reminders))
		}
		sections["schedule"] = "{timezone: Europe/Athens, " + strings.Join(fields, ", ") + "}"
	}
	b, err := config.SampleWith(sections)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("sandbox config: %w", err)
	}
	return nil
}

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
