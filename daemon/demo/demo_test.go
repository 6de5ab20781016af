package demo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/daemon/demo"
)

// `rmad demo --once` twice in the same folder answers the samples both times: the second run
// does not take them for mails the first one answered.
func TestDemoTwiceInOneFolder(t *testing.T) {
	out := t.TempDir()
	for run := 1; run <= 2; run++ {
		var stdout bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := demo.Run(ctx, demo.Options{Out: out, Once: true, Stdout: &stdout})
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, stdout.String())
		}
		text := stdout.String()
		if n := strings.Count(text, "no reply (automatic mail)"); n > 1 || !strings.Contains(text, `01-gr-body-router.eml`) ||
			!strings.Contains(text, `reply "Re: Αίτηση RMA - router [RMA/1/SR/2026]"`) {
			t.Fatalf("run %d: %d samples without a reply, or no reply to the first sample:\n%s", run, n, text)
		}
		files, err := os.ReadDir(filepath.Join(out, "replies"))
		if err != nil || len(files) == 0 {
			t.Fatalf("run %d: replies folder: %d files, %v", run, len(files), err)
		}
	}
}
