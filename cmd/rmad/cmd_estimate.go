package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/estimate"
	"github.com/rmad/rmad/outbound"
	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

// Flags of estimate; rebound on every run.
var estimateFlags struct{ parts, labour, shipping, currency, note string }

func init() {
	register(&command{
		name:  "estimate",
		args:  "NUMBER --parts N --labour N --shipping N [--currency EUR] [--note TEXT]",
		short: "send the partner a repair estimate (status estimate_sent); it answers by mail or by a signed link",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&estimateFlags.parts, "parts", "", "cost of the parts, such as 80 or 80.50")
			fs.StringVar(&estimateFlags.labour, "labour", "", "cost of the labour")
			fs.StringVar(&estimateFlags.shipping, "shipping", "", "cost of the return shipping")
			fs.StringVar(&estimateFlags.currency, "currency", "EUR", "currency code")
			fs.StringVar(&estimateFlags.note, "note", "", "a note to the partner, in the mail")
		},
		run: runEstimate,
	})
}

const estimateUsage = "usage: rmad estimate NUMBER --parts N --labour N --shipping N [--currency EUR] [--note TEXT]"

func runEstimate(env *cliEnv, args []string) int {
	f := &estimateFlags
	*f = struct{ parts, labour, shipping, currency, note string }{currency: "EUR"}
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		for name, v := range map[string]*string{"parts": &f.parts, "labour": &f.labour, "shipping": &f.shipping, "currency": &f.currency, "note": &f.note} {
			fs.Func(name, "", func(s string) error { *v = s; return nil })
		}
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 1 {
		if err != nil {
			fmt.Fprintf(env.stderr, "rmad estimate: %v\n", err)
		}
		fmt.Fprintln(env.stderr, estimateUsage)
		return 2
	}
	number, err := rma.ParseNumber(args[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad estimate: %v\n", err)
		return 2
	}
	offer, problems := parseOffer(f.parts, f.labour, f.shipping, f.currency, f.note)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(env.stderr, "rmad estimate: %s\n", p)
		}
		fmt.Fprintln(env.stderr, estimateUsage)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "estimate")
	if c == nil {
		return code
	}
	defer c.Close()
	svc, closeOutbox, err := daemon.OpenEstimates(ctx, cfg, c, time.Now, config.NewLogger(cfg.Log, env.stderr))
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad estimate: %v\n", err)
		return 1
	}
	defer closeOutbox()
	sent, err := svc.Send(ctx, number.String(), offer, cliActor())
	var te *rma.TransitionError
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(env.stderr, "rmad estimate: no RMA %s\n", number)
		return 1
	case errors.As(err, &te):
		fmt.Fprintf(env.stderr, "rmad estimate: %s: %v (an estimate is sent while the RMA is diagnosing)\n", number, te)
		return 1
	case err != nil:
		fmt.Fprintf(env.stderr, "rmad estimate: %v\n", err)
		return 1
	}
	what := "estimate_sent"
	if sent.Again {
		what = "the same estimate was pending: its mail queued again (sent once)"
	}
	fmt.Fprintf(env.stdout, "%s: %s, total %s, mail <%s> to %v queued on the outbox\n", sent.Record.Number, what,
		outbound.EstimateTotal(sent.Estimate), sent.Mail.ID, sent.Mail.To)
	return 0
}

// parseOffer checks an estimate's fields as staff typed them (the CLI's flags, the console's
// form), with one problem per field that names it.
func parseOffer(parts, labour, shipping, currency, note string) (estimate.Offer, []string) {
	o := estimate.Offer{Note: note}
	var problems []string
	for _, f := range []struct {
		name, value string
		to          *int64
	}{{"parts", parts, &o.Parts}, {"labour", labour, &o.Labour}, {"shipping", shipping, &o.Shipping}} {
		v, err := rma.ParseAmount(f.value)
		if err != nil {
			problems = append(problems, "--"+f.name+": "+err.Error())
			continue
		}
		*f.to = v
	}
	cur, err := rma.ParseCurrency(currency)
	if err != nil {
		problems = append(problems, "--currency: "+err.Error())
	}
	o.Currency = cur
	if len(problems) == 0 && o.Parts+o.Labour+o.Shipping == 0 {
		problems = append(problems, "the total is 0: an estimate offers a paid repair")
	}
	return o, problems
}
