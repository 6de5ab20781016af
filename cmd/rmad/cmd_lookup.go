package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Flags of lookup; flag.FlagSet rebinds them (and resets the defaults) on every run.
var (
	lookupJSON    bool
	lookupPartner string
)

func init() {
	register(&command{
		name:  "lookup",
		args:  "[--json] [--partner ID] QUERY",
		short: "show the RMAs an RMA number, serial or partner's own number names, with status and history",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&lookupJSON, "json", false, "print the records as a JSON array")
			fs.StringVar(&lookupPartner, "partner", "", "only this partner's RMAs (`ID` from the partners file)")
		},
		run: runLookup,
	})
}

func runLookup(env *cliEnv, args []string) int {
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.BoolFunc("json", "", func(string) error { lookupJSON = true; return nil })
		fs.Func("partner", "", func(v string) error { lookupPartner = v; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 1 {
		fmt.Fprintln(env.stderr, "usage: rmad lookup [--json] [--partner ID] QUERY")
		return 2
	}
	query := args[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "lookup")
	if c == nil {
		return code
	}
	defer c.Close()

	recs, err := store.New(c, cfg.Redis.KeyPrefix).Lookup(ctx, lookupPartner, query)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad lookup: %v\n", err)
		return 1
	}
	if lookupJSON {
		if recs == nil {
			recs = []rma.Record{}
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(recs); err != nil {
			fmt.Fprintf(env.stderr, "rmad lookup: %v\n", err)
			return 1
		}
	} else {
		if len(recs) == 0 {
			scope := ""
			if lookupPartner != "" {
				scope = " of partner " + lookupPartner
			}
			fmt.Fprintf(env.stdout, "no RMA%s matches %q (looked for an RMA number, a serial and an own number)\n", scope, query)
		}
		for i, r := range recs {
			if i > 0 {
				fmt.Fprintln(env.stdout)
			}
			printRecord(env.stdout, r)
		}
	}
	if len(recs) == 0 {
		return 1 // like grep: nothing found
	}
	return 0
}

// printRecord writes one RMA for people: what, whose, where it stands, and how it got there.
func printRecord(w io.Writer, r rma.Record) {
	d := r.Decision
	fmt.Fprintf(w, "%s  partner %s  status %s\n", r.Number, r.PartnerID, r.Status)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-13s %s\n", label+":", value)
		}
	}
	product := d.Item.EAN
	if d.Product != nil {
		product = fmt.Sprintf("%s %s (EAN %s)", d.Product.Brand, d.Product.Model, d.Item.EAN)
	}
	line("product", product)
	line("serial", d.Item.Serial)
	line("own number", d.Item.OwnNumber)
	line("handling", string(d.Route.Handling))
	line("warranty", string(d.Warranty.Status))
	line("description", d.Item.Description)
	line("created", fmtTime(r.CreatedAt)+" from "+describeSource(r.Source))
	line("updated", fmtTime(r.UpdatedAt))
	fmt.Fprintln(w, "  history:")
	for _, e := range r.History {
		fmt.Fprintf(w, "    %s  %-22s %s", fmtTime(e.At), e.Status, e.Actor)
		if e.Note != "" {
			fmt.Fprintf(w, "  %q", e.Note)
		}
		if len(e.Extra) > 0 {
			fmt.Fprintf(w, "  [%s]", fmtAttrs(e.Extra))
		}
		fmt.Fprintln(w)
	}
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func fmtAttrs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func describeSource(s rma.Source) string {
	var parts []string
	switch {
	case s.WebhookID != "":
		parts = append(parts, s.Channel+" delivery "+s.WebhookID)
	case s.MessageID != "":
		parts = append(parts, "mail <"+s.MessageID+">")
	case s.Channel != "":
		parts = append(parts, s.Channel)
	}
	if s.Mailbox != "" {
		parts = append(parts, fmt.Sprintf("mailbox %s UIDVALIDITY %d UID %d", s.Mailbox, s.UIDValidity, s.UID))
	}
	if len(parts) == 0 {
		return "unknown source"
	}
	return strings.Join(parts, ", ")
}

// redisForCLI loads the configuration and connects to its Redis. On failure it has told the
// user why and returns a nil client and the exit code.
func redisForCLI(ctx context.Context, env *cliEnv, name string) (*config.Config, redis.UniversalClient, int) {
	cfg, err := config.Load(env.configPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad %s: %v\n", name, err)
		return nil, nil, 1
	}
	c, err := store.Connect(ctx, cfg.Redis)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad %s: %v\n", name, err)
		return nil, nil, 1
	}
	return cfg, c, 0
}

// trailingFlags lets flags follow the arguments too (rmad set-status N received --note "..."),
// which the flag package alone does not: define registers setters (Func, BoolFunc) that write
// the command's variables without resetting them. It returns the positional arguments.
func trailingFlags(args []string, define func(fs *flag.FlagSet)) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		define(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, nil
}
