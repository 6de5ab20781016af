package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rmad/rmad/queue"
)

func init() {
	register(&command{
		name:  "dead-letters",
		args:  "[list | retry ID | retry --all]",
		short: "show the messages that failed for good (inbox and outbox), or put them back on their queue",
		run:   runDeadLetters,
	})
}

func runDeadLetters(env *cliEnv, args []string) int {
	usage := func() int {
		fmt.Fprintln(env.stderr, "usage: rmad dead-letters [list | retry ID | retry --all]")
		return 2
	}
	verb := "list"
	if len(args) > 0 {
		verb = args[0]
		args = args[1:]
	}
	switch {
	case verb == "list" && len(args) == 0:
	case verb == "retry" && len(args) == 1:
	default:
		return usage()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, c, code := redisForCLI(ctx, env, "dead-letters")
	if c == nil {
		return code
	}
	defer c.Close()
	queues := cliQueues(c, cfg.Redis.KeyPrefix)

	if verb == "list" {
		return listDeadLetters(ctx, env, queues)
	}
	if a := args[0]; a == "--all" || a == "-all" {
		total := 0
		for _, q := range queues {
			n, err := q.RetryAll(ctx)
			total += n
			if err != nil {
				fmt.Fprintf(env.stderr, "rmad dead-letters: %s: requeued %d, then: %v\n", q.Name(), n, err)
				return 1
			}
			if n > 0 {
				fmt.Fprintf(env.stdout, "%s: requeued %d\n", q.Name(), n)
			}
		}
		if total == 0 {
			fmt.Fprintln(env.stdout, "no dead letters")
		}
		return 0
	}
	// An ID may name its queue (outbox:1700000000000-0); else both are searched.
	id := args[0]
	for _, q := range queues {
		want := id
		if name, rest, ok := strings.Cut(id, ":"); ok {
			if name != q.Name() {
				continue
			}
			want = rest
		}
		err := q.Retry(ctx, want)
		if errors.Is(err, queue.ErrNotFound) {
			continue
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "rmad dead-letters: %v\n", err)
			return 1
		}
		fmt.Fprintf(env.stdout, "%s: requeued %s\n", q.Name(), want)
		return 0
	}
	fmt.Fprintf(env.stderr, "rmad dead-letters: no dead letter %s (see `rmad dead-letters list`)\n", id)
	return 1
}

func cliQueues(c redis.UniversalClient, prefix string) []*queue.Queue {
	return []*queue.Queue{
		queue.New(c, prefix, queue.Options{Stream: queue.Inbox}),
		queue.New(c, prefix, queue.Options{Stream: queue.Outbox}),
	}
}

func listDeadLetters(ctx context.Context, env *cliEnv, queues []*queue.Queue) int {
	for i, q := range queues {
		dls, err := q.DeadLetters(ctx, 0)
		if err != nil {
			fmt.Fprintf(env.stderr, "rmad dead-letters: %v\n", err)
			return 1
		}
		if i > 0 {
			fmt.Fprintln(env.stdout)
		}
		if len(dls) == 0 {
			fmt.Fprintf(env.stdout, "%s: no dead letters\n", q.Name())
			continue
		}
		fmt.Fprintf(env.stdout, "%s: %d dead letter(s)\n", q.Name(), len(dls))
		for _, d := range dls {
			fmt.Fprintf(env.stdout, "  %s  %s  %d attempt(s)  %d bytes", d.ID, fmtTime(d.At), d.Attempts, d.Size)
			if len(d.Attrs) > 0 {
				fmt.Fprintf(env.stdout, "  [%s]", fmtAttrs(d.Attrs))
			}
			fmt.Fprintf(env.stdout, "\n    last error: %s\n", oneLine(d.LastError))
		}
	}
	return 0
}

// oneLine keeps a multi-line error readable in the listing.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
