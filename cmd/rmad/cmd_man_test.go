package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The man page names every command with its args usage and description, and every flag with
// its usage, as the help prints them.
func TestManPage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"man"}, &out, &errb); code != 0 {
		t.Fatalf("rmad man: exit %d\n%s", code, &errb)
	}
	page := out.String()
	if !strings.HasPrefix(page, `.TH RMAD 8 "`) {
		t.Errorf("no .TH header:\n%.200s", page)
	}
	want := []string{".SH NAME\nrmad \\- " + about, ".SH OPTIONS", "\\fB\\-\\-config\\fR \\fIfile\\fR", ".SH FILES", "/etc/rmad/config.yaml"}
	for _, c := range sortedCommands() {
		want = append(want, `\fBrmad `+roffText(c.name)+`\fR`+strings.TrimRight(" "+roffText(c.args), " "), roffText(c.short)+".")
		newFlagSet(c, &cliEnv{}).VisitAll(func(f *flag.Flag) {
			_, usage := flag.UnquoteUsage(f)
			want = append(want, `\fB\-\-`+roffText(f.Name)+`\fR`, roffText(usage))
		})
	}
	wantContains(t, "rmad man", page, want)
	for i, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "'") || (strings.HasPrefix(line, ".") && !strings.HasPrefix(line, ".TH ") && !strings.HasPrefix(line, ".SH ") &&
			!strings.Contains(" .TP .PP .RS .RE .br ", " "+line+" ")) {
			t.Errorf("line %d is an unexpected roff request: %q", i+1, line)
		}
	}
}

func TestManPageDate(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1774224000")
	if got := manDate().Format(time.DateOnly); got != "2026-03-23" {
		t.Errorf("manDate with SOURCE_DATE_EPOCH = %s, want 2026-03-23", got)
	}
}

func TestRoffText(t *testing.T) {
	for in, want := range map[string]string{
		`--send`:         `\-\-send`,
		`.eml files`:     `\&.eml files`,
		`'quoted' words`: `\&'quoted' words`,
		`C:\path`:        `C:\epath`,
		`SPEC §9 — é`:    `SPEC \[u00A7]9 \[u2014] \[u00E9]`,
	} {
		if got := roffText(in); got != want {
			t.Errorf("roffText(%q) = %q, want %q", in, got, want)
		}
	}
}

// complete runs the generated completion in bash for the words typed so far (the last one
// being completed) and returns what it offers.
func complete(t *testing.T, script, dir string, words ...string) []string {
	t.Helper()
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+w+"'")
	}
	cmd := exec.Command("bash", "-c", `source "$1"; COMP_WORDS=(`+strings.Join(quoted, " ")+`); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _rmad; printf '%s\n' "${COMPREPLY[@]}"`, "bash", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestBashCompletion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"completion", "bash"}, &out, &errb); code != 0 {
		t.Fatalf("rmad completion bash: exit %d\n%s", code, &errb)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "rmad.bash")
	if err := os.WriteFile(script, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mail.eml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"rmad", "run"}, "run run-job"},
		{[]string{"rmad", "help", "check"}, "check-config"},
		{[]string{"rmad", "run-job", ""}, "digest reminders compact mail.eml rmad.bash"},
		{[]string{"rmad", "dead-letters", "re"}, "retry"},
		{[]string{"rmad", "demo", "--o"}, "--once --out"},
		{[]string{"rmad", "check-config", "--config", "ma"}, "mail.eml"},
		{[]string{"rmad", "lookup", "--partner", ""}, ""},
		{[]string{"rmad", "explain", "--json", "m"}, "mail.eml"},
	}
	for _, c := range cases {
		if got := strings.Join(complete(t, script, dir, c.words...), " "); got != c.want {
			t.Errorf("completing %q: got %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
	if code := run([]string{"completion", "zsh"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "rmad completion bash") {
		t.Errorf("rmad completion zsh: exit %d, stderr %q", code, &errb)
	}
}

func TestCommandWords(t *testing.T) {
	for args, want := range map[string]string{
		"[list | retry ID | retry --all]":        "list retry",
		"digest|reminders [--now TIME] [--send]": "digest reminders",
		"[--json] [--partner ID] QUERY":          "",
		"bash":                                   "bash",
		"NUMBER STATUS [--note TEXT] [on|off]":   "on off",
	} {
		if got := strings.Join(commandWords(args), " "); got != want {
			t.Errorf("commandWords(%q) = %q, want %q", args, got, want)
		}
	}
}
