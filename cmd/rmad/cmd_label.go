package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/rmad/rmad/label"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/rules"
	"github.com/rmad/rmad/store"
)

// Flags of label.
var (
	labelOut    string
	labelFormat string
)

func init() {
	register(&command{
		name:  "label",
		args:  "NUMBER [-o FILE] [--format a6|a4x4]",
		short: "render the parcel label of a stored RMA as PDF, as the partner's reply carried it",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&labelOut, "o", "", "write the PDF to `FILE` (- for stdout; default rma-label-<n>-<year>.pdf)")
			fs.StringVar(&labelFormat, "format", "", "a6 or a4x4 (default: labels.format of the configuration)")
		},
		run: runLabel,
	})
}

func runLabel(env *cliEnv, args []string) int {
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.Func("o", "", func(v string) error { labelOut = v; return nil })
		fs.Func("format", "", func(v string) error { labelFormat = v; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 1 {
		fmt.Fprintln(env.stderr, "usage: rmad label NUMBER [-o FILE] [--format a6|a4x4]")
		return 2
	}
	number, err := rma.ParseNumber(args[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 2
	}
	if labelFormat != "" && labelFormat != string(label.A6) && labelFormat != string(label.A4x4) {
		fmt.Fprintf(env.stderr, "rmad label: --format %q is not one of a6, a4x4\n", labelFormat)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "label")
	if c == nil {
		return code
	}
	defer c.Close()
	format := label.Format(cfg.Labels.Format)
	if labelFormat != "" {
		format = label.Format(labelFormat)
	}

	rec, err := store.New(c, cfg.Redis.KeyPrefix).Get(ctx, number.String())
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(env.stderr, "rmad label: no RMA %s\n", number)
		return 1
	} else if err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 1
	}
	partners, err := rules.LoadPartners(cfg.PartnersFile)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 1
	}
	p, ok := partners.ByID(rec.PartnerID)
	if !ok {
		// The label still carries the number; the partner's name and address are left off.
		fmt.Fprintf(env.stderr, "rmad label: warning: partner %s of %s is not in %s: the label has no partner name or return address\n",
			rec.PartnerID, rec.Number, cfg.PartnersFile)
		p = rma.Partner{ID: rec.PartnerID}
	}
	l, err := label.ForRecord(rec, p, cfg.ServiceCenters)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 1
	}
	pdf, err := label.PDF(format, l)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 1
	}
	out := labelOut
	if out == "" {
		out = "rma-label-" + strconv.Itoa(number.N) + "-" + strconv.Itoa(number.Year) + ".pdf"
	}
	if out == "-" {
		if _, err := env.stdout.Write(pdf); err != nil {
			fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
			return 1
		}
		return 0
	}
	if err := os.WriteFile(out, pdf, 0o644); err != nil {
		fmt.Fprintf(env.stderr, "rmad label: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.stdout, "%s: wrote %s (%s, %d bytes)\n", rec.Number, out, format, len(pdf))
	return 0
}
