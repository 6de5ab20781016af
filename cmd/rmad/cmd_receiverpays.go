package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rmad/rmad/rma"
	"github.com/rmad/rmad/store"
)

var receiverPaysNote string

func init() {
	register(&command{
		name:  "receiver-pays",
		args:  "NUMBER approve|refuse [--note TEXT]",
		short: "answer a partner's request to ship at the receiver's cost; recorded in the RMA's history, an approval shows on its parcel label",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&receiverPaysNote, "note", "", "note for the history")
		},
		run: runReceiverPays,
	})
}

// receiverPaysAnswers maps the command's words to the history's values.
var receiverPaysAnswers = map[string]string{"approve": rma.ReceiverPaysApproved, "refuse": rma.ReceiverPaysRefused}

func runReceiverPays(env *cliEnv, args []string) int {
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.Func("note", "", func(v string) error { receiverPaysNote = v; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 2 {
		fmt.Fprintln(env.stderr, "usage: rmad receiver-pays NUMBER approve|refuse [--note TEXT]")
		return 2
	}
	number, err := rma.ParseNumber(args[0])
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad receiver-pays: %v\n", err)
		return 2
	}
	answer, ok := receiverPaysAnswers[strings.ToLower(args[1])]
	if !ok {
		fmt.Fprintf(env.stderr, "rmad receiver-pays: %q is not approve or refuse\n", args[1])
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "receiver-pays")
	if c == nil {
		return code
	}
	defer c.Close()

	err = store.New(c, cfg.Redis.KeyPrefix).AddEvent(ctx, number.String(), rma.Event{At: time.Now(), Actor: cliActor(),
		Note: strings.TrimSpace(receiverPaysNote), Extra: map[string]string{rma.ExtraReceiverPays: answer}})
	switch {
	case err == nil:
		fmt.Fprintf(env.stdout, "%s: receiver pays %s\n", number, answer)
		return 0
	case errors.Is(err, store.ErrNotFound):
		fmt.Fprintf(env.stderr, "rmad receiver-pays: no RMA %s\n", number)
	default:
		fmt.Fprintf(env.stderr, "rmad receiver-pays: %v\n", err)
	}
	return 1
}
