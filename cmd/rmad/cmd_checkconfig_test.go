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
    address: imap.distributor.test:993
    username: rma@distributor.test
smtp: {address: smtp.distributor.test:587, from: rma@distributor.test}
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
			wantOut: []string{"config OK: ", "mailboxes:", "partners (imap.distributor.test:993 INBOX, tls implicit, IDLE", "webhook sources: none",
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
		{name: "placeholders", config: strings.Replace(checkConfigBase, "smtp.distributor.test", "smtp.example.com", 1) +
			"catalog_file: DATA/catalog.csv\nnotify: {staff: desk@shop.EXAMPLE}\n", wantCode: 1,
			wantErr: []string{`config.yaml:5: smtp.address: "smtp.example.com:587" is a placeholder: example.com is reserved`,
				`config.yaml:10: notify.staff: "desk@shop.EXAMPLE" is a placeholder: .example is reserved`, ": 2 problems"}},
		{name: "placeholders beside config problems", config: checkConfigBase + "catalog_file: DATA/catalog.csv\nlog: {level: loud}\nsecurity: {authserv_id: mx.example.net}\n", wantCode: 1,
			wantErr: []string{`config.yaml:10: log.level: "loud"`, `config.yaml:11: security.authserv_id: "mx.example.net" is a placeholder`, ": 2 problems"}},
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

// The untouched example, even with its secret and data files in place, fails and names each
// value still to fill in.
func TestCheckConfigUntouchedExample(t *testing.T) {
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"config.yaml": string(example), "secrets/imap-partners": "pw", "secrets/smtp": "pw",
		"secrets/webhook-dji": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "secrets/webhook-portal": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	for _, f := range []string{"partners.yaml", "catalog.csv", "sales.csv"} {
		b, err := os.ReadFile(filepath.Join("../../testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--config", filepath.Join(dir, "config.yaml")}, &out, &errb); code != 1 {
		t.Fatalf("exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", code, &out, &errb)
	}
	wantContains(t, "stderr", errb.String(), []string{"imap[0].address: \"imap.example.com:993\" is a placeholder",
		"imap[0].username:", "smtp.address:", "smtp.from:", "routing.brands.DJI.forward_to:", "notify.staff:", "config NOT OK: "})
	if strings.Contains(errb.String(), "cannot read") {
		t.Errorf("only placeholders should be reported:\n%s", &errb)
	}
}

func TestReservedDomain(t *testing.T) {
	for name, want := range map[string]bool{
		"imap.example.com": true, "Mail.Example.ORG": true, "example.net": true, "rma.dji.example": true,
		"host.invalid": true, "myexample.com": false, "example.community": false, "rma.ui.com": false,
		"mail.distributor.test": false, "example.com.gr": false,
	} {
		if _, got := reservedDomain(name); got != want {
			t.Errorf("reservedDomain(%q) = %v, want %v", name, got, want)
		}
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
