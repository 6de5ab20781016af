package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func init() {
	register(&command{
		name:  "man",
		short: "print the rmad(8) manual page (roff) made from this help (man -l to read it)",
		run:   runMan,
	})
}

// manDescription, manEnvironment and manFiles are the parts of rmad(8) that are not command
// help: what rmad is, and where its settings come from.
const manDescription = `rmad reads partner mail from IMAP mailboxes and signed webhooks, checks every item of a return
(EAN, serial, purchase date, warranty, claim type), decides who handles it (the distributor's own service
or the manufacturer), numbers each accepted item RMA/<n>/SR/<year>, keeps its state in Redis and answers
the partner over SMTP in the partner's language, with a CSV of the results.

rmad run is the daemon, started by systemd (rmad.service); the other commands check the configuration,
explain decisions, and look up or change RMAs.`

var manEnvironment = [][2]string{
	{"RMAD_CONFIG", "the configuration file when --config is not given (else /etc/rmad/config.yaml)."},
	{"RMAD_REDIS_PASSWORD, RMAD_SMTP_PASSWORD", "the Redis and SMTP passwords when the configuration names no password_file."},
	{"RMAD_IMAP_<NAME>_PASSWORD, RMAD_WEBHOOK_<NAME>_SECRET", "a mailbox's password or a webhook source's secrets when the configuration names no file; <NAME> is the name upper-cased, other characters than A-Z and 0-9 turned into _."},
	{"RMAD_INSTANCE", "this instance's name in the shared queues (default: the host name); set it when several run on one host."},
}

var manFiles = [][2]string{
	{"/etc/rmad/config.yaml", "the configuration; every key is documented in the example, /usr/share/doc/rmad/examples/config.example.yaml."},
	{"/etc/rmad/secrets/", "one file per password or webhook secret (root:rmad, mode 0640)."},
	{"/etc/rmad/partners.yaml, catalog.csv, sales.csv", "the data files the configuration names (reloaded on SIGHUP: systemctl reload rmad)."},
	{"/lib/systemd/system/rmad.service", "the hardened systemd unit that runs rmad run as the rmad user."},
	{"/usr/share/doc/rmad/README.md", "the full manual."},
}

// runMan prints rmad(8) from the same command list, arguments, descriptions and flags that
// `rmad help` and `rmad COMMAND --help` print, so the man page cannot drift from them.
func runMan(env *cliEnv, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "rmad man: unexpected arguments: %s\n", strings.Join(args, " "))
		return 2
	}
	writeMan(env.stdout, manDate())
	return 0
}

// manDate is the page's date: $SOURCE_DATE_EPOCH when set (reproducible builds), else today.
func manDate() time.Time {
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(s, 0).UTC()
	}
	return time.Now().UTC()
}

func writeMan(w io.Writer, date time.Time) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p(`.TH RMAD 8 %s %s "System Administration"`, roffQuote(date.Format("2006-01-02")), roffQuote("rmad "+versionString()))
	p(".SH NAME")
	p(`rmad \- %s`, roffText(about))
	p(".SH SYNOPSIS")
	p(`\fBrmad\fR \fIcommand\fR [\fB\-\-config\fR \fIfile\fR] [\fIflags\fR] [\fIargs\fR]`)
	p(".br")
	p(`\fBrmad help\fR [\fIcommand\fR]`)
	p(".SH DESCRIPTION")
	for i, para := range strings.Split(manDescription, "\n\n") {
		if i > 0 {
			p(".PP")
		}
		p("%s", roffText(strings.ReplaceAll(para, "\n", " ")))
	}
	p(".SH COMMANDS")
	for _, c := range sortedCommands() {
		p(".TP")
		synopsis := `\fBrmad ` + roffText(c.name) + `\fR`
		if c.args != "" {
			synopsis += " " + roffText(c.args)
		}
		p("%s", synopsis)
		p("%s.", roffText(c.short))
		var flags []*flag.Flag
		newFlagSet(c, &cliEnv{}).VisitAll(func(f *flag.Flag) {
			if f.Name != "config" { // every command's; under OPTIONS
				flags = append(flags, f)
			}
		})
		if len(flags) > 0 {
			p(".RS")
			for _, f := range flags {
				writeManFlag(w, f, true)
			}
			p(".RE")
		}
	}
	p(".SH OPTIONS")
	p("Every command takes:")
	// Its default comes from $RMAD_CONFIG, which the usage text explains: no default printed,
	// so the page does not depend on the environment it was made in.
	newFlagSet(&command{}, &cliEnv{}).VisitAll(func(f *flag.Flag) { writeManFlag(w, f, false) })
	p(".SH EXIT STATUS")
	p("0 when the command did its work; 1 when it failed, with the reasons on standard error (check\\-config lists every problem as file:line: key.path: message); 2 for a wrong command line.")
	p(".SH ENVIRONMENT")
	writeManList(w, manEnvironment)
	p(".SH FILES")
	writeManList(w, manFiles)
	p(".SH SEE ALSO")
	p(`\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBredis\-server\fR(1)`)
}

// writeManFlag prints a flag as `rmad COMMAND --help` does: name, value name and usage, default.
func writeManFlag(w io.Writer, f *flag.Flag, withDefault bool) {
	name, usage := flag.UnquoteUsage(f)
	fmt.Fprintln(w, ".TP")
	if name == "" {
		fmt.Fprintf(w, `\fB\-\-%s\fR`+"\n", roffText(f.Name))
	} else {
		fmt.Fprintf(w, `\fB\-\-%s\fR \fI%s\fR`+"\n", roffText(f.Name), roffText(name))
	}
	if withDefault && f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
		usage += fmt.Sprintf(" (default %q)", f.DefValue)
	}
	fmt.Fprintln(w, roffText(usage))
}

func writeManList(w io.Writer, items [][2]string) {
	for _, it := range items {
		fmt.Fprintf(w, ".TP\n\\fB%s\\fR\n%s\n", roffText(it[0]), roffText(it[1]))
	}
}

// roffText escapes text for a roff line: backslashes, hyphens (so that they print as the ASCII
// hyphen-minus people type), a leading dot or quote (a request otherwise), and non-ASCII
// characters as \[uXXXX].
func roffText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if strings.HasPrefix(out, ".") || strings.HasPrefix(out, "'") {
		out = `\&` + out
	}
	return out
}

// roffQuote is a roff macro argument: escaped, in double quotes (a quote inside is doubled).
func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffText(s), `"`, `""`) + `"`
}
