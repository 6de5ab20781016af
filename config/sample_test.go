package config_test

import (
	"strings"
	"testing"

	"github.com/rmad/rmad/config"
)

// Sample is the file's meaning without its secrets: the same as loading it, as checkSample sees it.
func TestSample(t *testing.T) {
	cfg, err := config.Sample()
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, cfg)
	if cfg.Security.AuthservID != "mx.example.com" || cfg.Limits.MaxMessageBytes != config.DefaultMaxMessageBytes ||
		len(cfg.Webhooks.Sources) != 2 || cfg.IMAP[0].Password.Reveal() != "" {
		t.Errorf("security %+v, limits %+v, webhooks %d, imap password %q", cfg.Security, cfg.Limits,
			len(cfg.Webhooks.Sources), cfg.IMAP[0].Password.Reveal())
	}
}

func TestSampleWith(t *testing.T) {
	text, err := config.SampleWith(map[string]string{
		"smtp":          `{address: "127.0.0.1:2525", tls: none, from: "RMA <rma@shop.example>"}`,
		"imap":          `[{name: box, address: "127.0.0.1:1143", tls: none, username: u}]`,
		"webhooks":      "",
		"redis":         "",
		"partners_file": "p.yaml",
		"console":       "", // not in the sample and empty: stays out
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvIMAPPassword("box"), "pw")
	cfg, err := config.Parse(text, "/srv/rmad/config.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if cfg.SMTP.Address != "127.0.0.1:2525" || cfg.IMAP[0].Name != "box" || len(cfg.Webhooks.Sources) != 0 ||
		cfg.Redis.URL != config.Defaults().Redis.URL || cfg.PartnersFile != "/srv/rmad/p.yaml" {
		t.Errorf("replaced sections: smtp %+v, imap %+v, webhooks %+v, redis %+v, partners %s", cfg.SMTP, cfg.IMAP, cfg.Webhooks, cfg.Redis, cfg.PartnersFile)
	}
	sample, _ := config.Sample()
	if cfg.Routing.Brands["DJI"] != sample.Routing.Brands["DJI"] || cfg.Policy.UncollectedDays != sample.Policy.UncollectedDays ||
		cfg.Notify != sample.Notify || cfg.Security.AuthservID != sample.Security.AuthservID {
		t.Errorf("kept sections differ from the sample: routing %+v, policy %+v, notify %+v", cfg.Routing, cfg.Policy, cfg.Notify)
	}
	if strings.Contains(string(text), "\nconsole:") {
		t.Errorf("an empty new section was written:\n%s", text)
	}

	if _, err := config.SampleWith(map[string]string{"log": "{level: [info"}); err == nil || !strings.Contains(err.Error(), "log") {
		t.Errorf("broken section: err %v", err)
	}
}
