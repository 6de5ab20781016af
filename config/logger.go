package config

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

// NewLogger builds rmad's logger from the log section: JSON lines (for journald and log
// shippers) or zerolog's console writer (for humans), at the configured level. Components add
// their own field: logger.With().Str("component", "imap").Logger().
func NewLogger(l Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(l.Level)
	if err != nil || l.Level == "" {
		level = zerolog.InfoLevel // Load has refused anything else; a zero Log means the default
	}
	if l.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}
