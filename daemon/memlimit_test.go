package daemon

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"

	"github.com/rmad/rmad/config"
)

// limits.memory_limit becomes the runtime's soft limit unless GOMEMLIMIT is set, which wins.
// The limits set here are far over what the test process uses, so that tests running beside
// it are not slowed.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	cfg := &config.Config{}
	cfg.Limits.MemoryLimit = 64 << 30
	if os.Getenv("GOMEMLIMIT") == "" {
		t.Setenv("GOMEMLIMIT", "")
		os.Unsetenv("GOMEMLIMIT")
	}
	if got := SetMemoryLimit(cfg, zerolog.Nop()); got != 64<<30 || debug.SetMemoryLimit(-1) != 64<<30 {
		t.Errorf("limit %d, runtime's %d, want %d", got, debug.SetMemoryLimit(-1), int64(64<<30))
	}
	cfg.Limits.MemoryLimit = 0
	if got := SetMemoryLimit(cfg, zerolog.Nop()); got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("limit 0: %d, runtime's %d, want none", got, debug.SetMemoryLimit(-1))
	}

	debug.SetMemoryLimit(96 << 30) // as the runtime would from GOMEMLIMIT=96GiB
	t.Setenv("GOMEMLIMIT", "96GiB")
	cfg.Limits.MemoryLimit = 64 << 30
	if got := SetMemoryLimit(cfg, zerolog.Nop()); got != 96<<30 || debug.SetMemoryLimit(-1) != 96<<30 {
		t.Errorf("with GOMEMLIMIT: limit %d, runtime's %d, want GOMEMLIMIT's %d", got, debug.SetMemoryLimit(-1), int64(96<<30))
	}
}
