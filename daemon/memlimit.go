package daemon

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// SetMemoryLimit gives the Go runtime limits.memory_limit as its soft memory limit
// (runtime/debug.SetMemoryLimit) and returns the limit in force, math.MaxInt64 for none. The
// GOMEMLIMIT environment variable, which the runtime read at start, wins: the limit is then
// left as it set it. It is the process's setting, so `rmad run` calls it, not New (tests run
// many daemons in one process).
func SetMemoryLimit(cfg *config.Config, log zerolog.Logger) int64 {
	log = log.With().Str("component", "runtime").Logger()
	if env, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		limit := debug.SetMemoryLimit(-1)
		log.Info().Str("gomemlimit", env).Int64("memory_limit", limit).Msg("soft memory limit from GOMEMLIMIT (limits.memory_limit is not used)")
		return limit
	}
	limit := cfg.Limits.MemoryLimit
	if limit <= 0 {
		limit = math.MaxInt64
	}
	debug.SetMemoryLimit(limit)
	if limit < math.MaxInt64 {
		log.Info().Int64("memory_limit", limit).Msg("soft memory limit (limits.memory_limit)")
	}
	return limit
}
