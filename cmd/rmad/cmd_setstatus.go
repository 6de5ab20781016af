package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

var setStatusNote string

func init() {
	register(&command{
		name:  "set-status",
		args:  "NUMBER STATUS [--note TEXT]",
		short: "move an RMA to a new status (checked against the lifecycle) and record it in its history",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&setStatusNote, "note", "", "note for the history (the partner sees it in the next digest)")
		},
		run: runSetStatus,
	})
}

func runSetStatus(env *cliEnv, args []string) int {
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.Func("note", "", func(v string) error { setStatusNote = v; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 2 {
		fmt.Fprintln(env.stderr, "usage: rmad set-status NUMBER STATUS [--note TEXT]")
		return 2
	}
	number, err := rma.ParseNumber(args[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad set-status: %v\n", err)
		return 2
	}
	to, err := rma.ParseStatus(args[1])
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad set-status: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "set-status")
	if c == nil {
		return code
	}
	defer c.Close()

	st := store.New(c, cfg.Redis.KeyPrefix)
	r, err := st.SetStatus(ctx, number.String(), to, cliActor(), strings.TrimSpace(setStatusNote), nil, time.Now())
	if err == nil {
		from := rma.Status("?")
		if n := len(r.History); n >= 2 {
			from = r.History[n-2].Status
		}
		fmt.Fprintf(env.stdout, "%s: %s → %s\n", r.Number, from, r.Status)
		return 0
	}
	var te *rma.TransitionError
	switch {
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(env.stderr, "rmad set-status: no RMA %s\n", number)
	case errors.As(err, &te):
		fmt.Fprintf(env.stderr, "rmad set-status: %s: %v\n", number, te)
	default:
		fmt.Fprintf(env.stderr, "rmad set-status: %v\n", err)
	}
	return 1
}

// cliActor names the person at the terminal in the history: cli:<login>.
func cliActor() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	return "cli:" + name
}
