package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/daemon"
	"github.com/rmad/rmad/store"
)

func init() {
	register(&command{
		name:  "run",
		short: "run the daemon: read the mailboxes and webhooks, decide, record and answer",
		run:   runDaemon,
	})
}

func runDaemon(env *cliEnv, _ []string) int {
	cfg, err := config.Load(env.configPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad: %v\n", err)
		return 1
	}
	log := config.NewLogger(cfg.Log, env.stdout)
	// go-redis's own complaints (a failed dial) as JSON lines too, not plain text in the journal.
	store.LogRedisTo(log.With().Str("component", "redis").Logger())
	daemon.SetMemoryLimit(cfg, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	d, err := daemon.New(ctx, cfg, log, daemon.Options{Ready: daemon.NotifyReady, Stopping: daemon.NotifyStopping})
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		fmt.Fprintf(env.stderr, "rmad: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		stopping := false
		for s := range sigs {
			switch {
			case s == syscall.SIGHUP:
				daemon.NotifyReloading()
				_ = d.Reload()
				daemon.NotifyReady()
			case stopping:
				// A second stop signal means the admin does not want to wait for the grace period.
				log.Warn().Str("signal", s.String()).Msg("second stop signal: exiting now")
				os.Exit(1)
			default:
				stopping = true
				log.Info().Str("signal", s.String()).Msg("stopping: no new work, finishing what is in flight")
				cancel() // Run tells systemd STOPPING
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error().Err(err).Msg("rmad failed")
		return 1
	}
	return 0
}
