package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkConfigFixture writes a config using the repo's sample data files and returns its path.
func checkConfigFixture(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("DATA", data, "DIR", dir).Replace(body)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantContains fails the test for every string of want that the output named what lacks.
func wantContains(t *testing.T, what, output string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(output, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, output)
		}
	}
}

const checkConfigBase = `imap:
  - name: partners
    address: imap.example.com:993
    username: rma@example.com
smtp: {address: smtp.example.com:587, from: rma@example.com}
service_centers: {GR: {name: Service GR, address: "Street 1, Athens"}}
partners_file: DATA/partners.yaml
sales_file: DATA/sales.csv
`

func TestCheckConfig(t *testing.T) {
	t.Setenv("RMAD_IMAP_PARTNERS_PASSWORD", "pw")
	brokenCatalog := filepath.Join(t.TempDir(), "catalog.csv")
	if err := os.WriteFile(brokenCatalog, []byte("ean,brand,model,warranty_months,fault_types,bulk\n5204001000013,TP-Link,Archer,many,,no\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokenPartners := filepath.Join(t.TempDir(), "partners.yaml")
	if err := os.WriteFile(brokenPartners, []byte("partners:\n  - id: A\n    country: GR\n    locale: de\n    emails: a@a.example\n    colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withPartners := strings.Replace(checkConfigBase, "partners_file: DATA/partners.yaml", "partners_file: "+brokenPartners, 1)
	cases := []struct {
		name       string
		config     string // "" for a file that does not exist
		args       []string
		wantCode   int
		wantOut    []string
		wantErr    []string
		useEnvPath bool // pass the path in $RMAD_CONFIG instead of --config
	}{
		{name: "valid", config: checkConfigBase + "catalog_file: DATA/catalog.csv\n", wantCode: 0,
			wantOut: []string{"config OK: ", "mailboxes:", "partners (imap.example.com:993 INBOX, tls implicit, IDLE", "webhook sources: none",
				"/testdata/partners.yaml (", " partners)", " products)", " records)"}},
		{name: "path from RMAD_CONFIG", config: checkConfigBase + "catalog_file: DATA/catalog.csv\n", useEnvPath: true, wantCode: 0,
			wantOut: []string{"config OK: "}},
		{name: "config problems", config: checkConfigBase + "catalog_file: DATA/catalog.csv\nlog: {level: loud}\nlimits: {max_items: 5}\n", wantCode: 1,
			wantErr: []string{`config.yaml:10: log.level: "loud" is not one of`, "config.yaml:11: limits.max_items: unknown key", ": 2 problems"}},
		{name: "missing config", config: "", wantCode: 1,
			wantErr: []string{"cannot read the configuration: no such file or directory", ": 1 problem"}},
		{name: "broken data file", config: checkConfigBase + "catalog_file: " + brokenCatalog + "\n", wantCode: 1,
			wantErr: []string{brokenCatalog + ":2", "config NOT OK: "}},
		// The partners file's problems read like the config's: file:line: key.path: message.
		{name: "broken partners file", config: withPartners + "catalog_file: DATA/catalog.csv\n", wantCode: 1,
			wantErr: []string{brokenPartners + `:4: partners[0].locale: "de": want one of en, el, ro, fr`,
				brokenPartners + ":6: partners[0].colour: unknown key", ": 2 problems"}},
		{name: "extra argument", config: checkConfigBase + "catalog_file: DATA/catalog.csv\n", args: []string{"extra"}, wantCode: 2,
			wantErr: []string{"unexpected arguments: extra"}},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantErr: []string{"usage: rmad check-config"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent.yaml")
			if c.config != "" {
				path = checkConfigFixture(t, c.config)
			}
			args := []string{"check-config", "--config", path}
			if c.useEnvPath {
				t.Setenv("RMAD_CONFIG", path)
				args = []string{"check-config"}
			}
			var out, errb bytes.Buffer
			code := run(append(args, c.args...), &out, &errb)
			if code != c.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.wantCode, &out, &errb)
			}
			wantContains(t, "stdout", out.String(), c.wantOut)
			wantContains(t, "stderr", errb.String(), c.wantErr)
			if strings.Contains(out.String()+errb.String(), "pw\n") {
				t.Error("the password was printed")
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	cases := []struct {
		args    []string
		code    int
		wantOut string
	}{
		{[]string{"help"}, 0, "check-config"},
		{[]string{"--help"}, 0, "version"},
		{[]string{"help", "check-config"}, 0, "usage: rmad check-config [--config FILE]"},
		{[]string{"version"}, 0, "rmad "},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(out.String(), c.wantOut) {
			t.Errorf("rmad %s: exit %d, stdout:\n%s\nwant exit %d and %q", strings.Join(c.args, " "), code, &out, c.code, c.wantOut)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"no-such-command"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "no-such-command"`) {
		t.Errorf("unknown command: exit %d, stderr:\n%s", code, &errb)
	}
}
