package sandbox_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon/sandbox"
)

// TestConfig loads rendered configs with rmad's own loader (strict: unknown keys are errors).
func TestConfig(t *testing.T) {
	t.Run("defaults, data beside the config", func(t *testing.T) {
		t.Setenv(config.EnvIMAPPassword("partners"), "pw")
		dir := t.TempDir()
		if err := sandbox.WriteSampleData(dir); err != nil {
			t.Fatal(err)
		}
		cfg := load(t, dir, sandbox.Settings{IMAPAddr: "127.0.0.1:993", IMAPUser: "rma@distributor.example", SMTPAddr: "127.0.0.1:587"})
		m := cfg.IMAP[0]
		if m.Name != "partners" || m.Mailbox != "INBOX" || m.ProcessedMailbox != "RMA/Processed" || m.RejectedMailbox != "RMA/Rejected" ||
			m.UseIDLE() || m.PollInterval != 30*time.Second || m.Password != "pw" {
			t.Errorf("mailbox %+v", m)
		}
		if cfg.Schedule.Digest != "0 8 * * 1-5" || cfg.Schedule.Reminders != "30 8 * * *" || cfg.Schedule.Timezone != "Europe/Athens" {
			t.Errorf("schedule %+v", cfg.Schedule)
		}
		if cfg.PartnersFile != filepath.Join(dir, "partners.yaml") || cfg.Redis.KeyPrefix != config.Defaults().Redis.KeyPrefix ||
			cfg.HTTP.Listen != config.Defaults().HTTP.Listen || cfg.Log.Format != "json" {
			t.Errorf("partners %s, redis %+v, http %+v, log %+v", cfg.PartnersFile, cfg.Redis, cfg.HTTP, cfg.Log)
		}
		if len(cfg.Routing.Brands) != 7 || len(cfg.Policy.SerialRequiredBrands) != 9 {
			t.Errorf("routing %+v, policy %+v", cfg.Routing, cfg.Policy)
		}
	})
	t.Run("every setting", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "imap-password"), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		data, err := filepath.Abs("../../testdata")
		if err != nil {
			t.Fatal(err)
		}
		cfg := load(t, dir, sandbox.Settings{
			LogLevel: "debug", LogFormat: "console", RedisAddr: "127.0.0.1:6390", KeyPrefix: "t:x:",
			IMAPAddr: "127.0.0.1:1143", IMAPUser: "u", IMAPPasswordFile: "imap-password",
			Mailbox: "b/in", ProcessedMailbox: "b/done", RejectedMailbox: "b/rejected", IDLE: true, PollInterval: 5 * time.Second,
			SMTPAddr: "127.0.0.1:2525", HTTPListen: "127.0.0.1:9999", DataDir: data,
			Digest: sandbox.LeapDayDigest, Reminders: sandbox.LeapDayReminders,
		})
		m := cfg.IMAP[0]
		if m.Address != "127.0.0.1:1143" || m.Username != "u" || m.Password != "secret" || m.Mailbox != "b/in" ||
			m.ProcessedMailbox != "b/done" || m.RejectedMailbox != "b/rejected" || !m.UseIDLE() || m.PollInterval != 5*time.Second {
			t.Errorf("mailbox %+v", m)
		}
		if cfg.Redis.URL != "redis://127.0.0.1:6390/0" || cfg.Redis.KeyPrefix != "t:x:" || cfg.HTTP.Listen != "127.0.0.1:9999" ||
			cfg.SMTP.Address != "127.0.0.1:2525" || cfg.Log.Level != "debug" || cfg.Log.Format != "console" {
			t.Errorf("redis %+v, http %+v, smtp %s, log %+v", cfg.Redis, cfg.HTTP, cfg.SMTP.Address, cfg.Log)
		}
		if cfg.Schedule.Digest != sandbox.LeapDayDigest || cfg.Schedule.Reminders != sandbox.LeapDayReminders ||
			cfg.CatalogFile != filepath.Join(data, "catalog.csv") {
			t.Errorf("schedule %+v, catalog %s", cfg.Schedule, cfg.CatalogFile)
		}
	})
}

func load(t *testing.T, dir string, s sandbox.Settings) *config.Config {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := sandbox.WriteConfig(path, s); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		text, _ := os.ReadFile(path)
		t.Fatalf("%v\n%s", err, text)
	}
	return cfg
}
