package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rmad/rmad/explain"
)

// explainJSON is explain's --json flag (set anew by each flag set).
var explainJSON bool

// explainNow is explain's "today"; tests fix it.
var explainNow = time.Now

func init() {
	register(&command{
		name:  "explain",
		args:  "[--json] MAIL.eml...",
		short: "show what rmad would decide for mail files, and why (parse + rules; no Redis, IMAP or SMTP)",
		run:   runExplain,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&explainJSON, "json", false, "print one JSON array, one object per file, for tools")
		},
	})
}

// unreadableFile is a file's object when it could not be read as mail.
type unreadableFile struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// runExplain parses each file and runs the rules on it with the configured data files, as the
// daemon would, and prints the outcome: exit 0, or 1 when a file could not be read (the others
// are still explained) or the configuration does not load.
func runExplain(env *cliEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(env.stderr, "rmad explain: name at least one mail file (rmad explain [--json] MAIL.eml...)")
		return 2
	}
	cfg, data, code := loadConfigAndData(env)
	if cfg == nil {
		return code
	}
	ex := explain.New(cfg, data)
	ex.Now = explainNow
	var out []any
	code, items := 0, 0
	for i, file := range args {
		res, err := explainFile(ex, file)
		if err != nil {
			code = 1
			out = append(out, unreadableFile{File: file, Error: err.Error()})
			if !explainJSON {
				fmt.Fprintf(env.stdout, "%s%s\n  error: %v\n", sepLine(i), file, err)
			}
			continue
		}
		out = append(out, res.File)
		items += res.Items()
		if !explainJSON {
			fmt.Fprint(env.stdout, sepLine(i))
			ex.WriteText(env.stdout, res)
		}
	}
	if !explainJSON && items > 0 {
		fmt.Fprintln(env.stdout, "\n(explain does not see the store: an item already registered shows as accepted here, the daemon answers it as duplicate)")
	}
	if explainJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(env.stderr, "rmad explain: %v\n", err)
			return 1
		}
	}
	return code
}

func sepLine(i int) string {
	if i == 0 {
		return ""
	}
	return "\n"
}

func explainFile(ex *explain.Explainer, file string) (*explain.Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ex.Explain(file, f)
}
