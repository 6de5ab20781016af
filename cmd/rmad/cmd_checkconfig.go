package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rules"
)

func init() {
	register(&command{
		name:  "check-config",
		short: "check the configuration and the partners, catalog and sales files it names; list every problem",
		run:   runCheckConfig,
	})
}

// runCheckConfig exits 0 with a summary when the config and its data files load, else 1 with
// every problem on its own line (file:line: key.path: message).
func runCheckConfig(env *cliEnv, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "rmad check-config: unexpected arguments: %s\n", strings.Join(args, " "))
		return 2
	}
	// Values left as the example's placeholders are problems too, listed with the rest, so the
	// untouched /etc/rmad/config.yaml of a fresh install says what to fill in.
	placeholders := findPlaceholders(env.configPath)
	cfg, err := config.Load(env.configPath)
	var data *rules.Data
	if err == nil {
		data, err = rules.LoadData(cfg)
	}
	if err != nil || len(placeholders) > 0 {
		return reportProblems(env.stderr, env.configPath, err, placeholders...)
	}

	w := env.stdout
	fmt.Fprintf(w, "config OK: %s\n", cfg.Path)
	var boxes []string
	for _, m := range cfg.IMAP {
		mode := "poll every " + m.PollInterval.String()
		if m.UseIDLE() {
			mode = "IDLE, else poll every " + m.PollInterval.String()
		}
		boxes = append(boxes, fmt.Sprintf("%s (%s %s, tls %s, %s)", m.Name, m.Address, m.Mailbox, m.TLS, mode))
	}
	summaryLine(w, "mailboxes", boxes)
	var sources []string
	for _, s := range cfg.Webhooks.Sources {
		sources = append(sources, fmt.Sprintf("%s (%s, %s)", s.Name, s.Kind, plural(len(s.Secrets), "secret")))
	}
	summaryLine(w, "webhook sources", sources)
	files := []string{
		fmt.Sprintf("partners %s (%s)", cfg.PartnersFile, plural(data.Partners.Len(), "partner")),
		fmt.Sprintf("catalog %s (%s)", cfg.CatalogFile, plural(data.Catalog.Len(), "product")),
	}
	if cfg.SalesFile != "" {
		files = append(files, fmt.Sprintf("sales %s (%s)", cfg.SalesFile, plural(data.Sales.Len(), "record")))
	} else {
		files = append(files, "sales: none")
	}
	summaryLine(w, "data files", files)
	fmt.Fprintf(w, "  %-16s %s, digest %q, reminders %q\n", "schedule:", cfg.Schedule.Location, cfg.Schedule.Digest, cfg.Schedule.Reminders)
	return 0
}

func summaryLine(w io.Writer, label string, items []string) {
	if len(items) == 0 {
		items = []string{"none"}
	}
	fmt.Fprintf(w, "  %-16s %s\n", label+":", strings.Join(items, "\n"+strings.Repeat(" ", 19)))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// loadConfigAndData loads the configuration and the data files it names; on failure it prints
// every problem and returns a nil config with the exit code.
func loadConfigAndData(env *cliEnv) (*config.Config, *rules.Data, int) {
	cfg, err := config.Load(env.configPath)
	if err != nil {
		return nil, nil, reportProblems(env.stderr, env.configPath, err)
	}
	data, err := rules.LoadData(cfg)
	if err != nil {
		return nil, nil, reportProblems(env.stderr, env.configPath, err)
	}
	return cfg, data, 0
}

// reportProblems prints every problem of err (a *config.Errors, the data files' joined errors,
// or nil) and of more (further problems in the config file), one per line, then a count, and
// returns the exit code 1.
func reportProblems(w io.Writer, path string, err error, more ...config.Error) int {
	list := more
	var other []string
	var cerrs *config.Errors
	if errors.As(err, &cerrs) {
		list = append(slices.Clone(cerrs.List), more...)
	} else if err != nil {
		other = strings.Split(err.Error(), "\n")
	}
	// The config file's problems in file order (those without a line last), then the data files'.
	order := func(e config.Error) int {
		if e.Line == 0 {
			return math.MaxInt
		}
		return e.Line
	}
	slices.SortStableFunc(list, func(a, b config.Error) int { return cmp.Compare(order(a), order(b)) })
	var lines []string
	for _, e := range list {
		lines = append(lines, e.Error())
	}
	lines = append(lines, other...)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "config NOT OK: %s: %s\n", path, plural(len(lines), "problem"))
	return 1
}
