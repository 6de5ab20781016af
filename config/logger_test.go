package config_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rmad/rmad/config"
)

func TestNewLogger(t *testing.T) {
	cases := []struct {
		name      string
		log       config.Log
		wantJSON  bool
		wantDebug bool
		wantInfo  bool
	}{
		{"default", config.Log{}, true, false, true},
		{"json info", config.Log{Level: "info", Format: "json"}, true, false, true},
		{"json debug", config.Log{Level: "debug", Format: "json"}, true, true, true},
		{"warn hides info", config.Log{Level: "warn", Format: "json"}, true, false, false},
		{"console", config.Log{Level: "info", Format: "console"}, false, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := config.NewLogger(c.log, &buf)
			log.Debug().Str("component", "test").Msg("debug line")
			log.Info().Str("component", "test").Msg("info line")
			log.Error().Str("component", "test").Msg("error line")
			out := buf.String()
			if got := strings.Contains(out, "debug line"); got != c.wantDebug {
				t.Errorf("debug shown = %v:\n%s", got, out)
			}
			if got := strings.Contains(out, "info line"); got != c.wantInfo {
				t.Errorf("info shown = %v:\n%s", got, out)
			}
			if !strings.Contains(out, "error line") {
				t.Errorf("error not shown:\n%s", out)
			}
			first, _, _ := strings.Cut(out, "\n")
			var rec map[string]any
			isJSON := json.Unmarshal([]byte(first), &rec) == nil
			if isJSON != c.wantJSON {
				t.Fatalf("JSON = %v, want %v: %s", isJSON, c.wantJSON, first)
			}
			if isJSON && (rec["component"] != "test" || rec["time"] == nil || rec["level"] == nil) {
				t.Errorf("record lacks component/time/level: %s", first)
			}
		})
	}
}
