package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/rmad/rmad/daemon/demo"
)

var demoFlags struct {
	once    bool
	out     string
	redis   string
	verbose bool
}

func init() {
	register(&command{
		name:  "demo",
		args:  "[--once] [--out DIR] [--redis HOST:PORT] [--verbose]",
		short: "run the whole pipeline on the sample mails (private Redis, in-memory IMAP, SMTP sink)",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&demoFlags.once, "once", false, "exit after the sample mails instead of serving until Ctrl-C")
			fs.StringVar(&demoFlags.out, "out", "demo-out", "`folder` for the replies (.eml), the config and the private Redis")
			fs.StringVar(&demoFlags.redis, "redis", "", "use this Redis (`host:port`) instead of starting a private redis-server")
			fs.BoolVar(&demoFlags.verbose, "verbose", false, "print the daemon's logs too")
		},
		run: func(env *cliEnv, _ []string) int {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out, err := filepath.Abs(demoFlags.out)
			if err != nil {
				fmt.Fprintf(env.stderr, "rmad demo: %v\n", err)
				return 1
			}
			opt := demo.Options{Out: out, Once: demoFlags.once, Redis: demoFlags.redis, Stdout: env.stdout}
			if demoFlags.verbose {
				opt.Log = env.stderr
			}
			if err := demo.Run(ctx, opt); err != nil {
				fmt.Fprintf(env.stderr, "rmad demo: %v\n", err)
				return 1
			}
			return 0
		},
	})
}
