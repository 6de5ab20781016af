package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/rmad/rmad/internal/testenv"
)

// A mailbox's lease is lease:imap:<name>, and log lines name the mailbox as configured. A lease
// left under the name earlier versions used (lease:imap:imap:<name>) holds the mailbox back only
// while it lasts: an old instance still running keeps the mailbox, and a stopped one's lease
// expires within its TTL.
func TestMailboxLeaseAcrossUpgrade(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, harnessOptions{})
	const oldTTL = 2 * time.Second // what is left of a stopped old instance's lease
	if err := h.rdb.Set(ctx, h.prefix+"lease:imap:imap:partners", "oldhost:1/abcd", oldTTL).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.start(t)
	testenv.Eventually(t, waitLong, "mailbox connected", func() bool {
		return bytes.Contains(h.logs.Bytes(), []byte(`"message":"connected"`))
	})
	waited := time.Since(start)
	if waited < oldTTL-200*time.Millisecond {
		t.Errorf("read the mailbox after %s, while the old version's lease held it for %s", waited, oldTTL)
	}
	if limit := oldTTL + 15*time.Second; waited > limit {
		t.Errorf("read the mailbox only after %s; the old lease expired after %s", waited, oldTTL)
	}
	if n, _ := h.rdb.Exists(ctx, h.prefix+"lease:imap:partners").Result(); n != 1 {
		t.Errorf("no lease %slease:imap:partners while the mailbox is read", h.prefix)
	}
	if ttl, _ := h.rdb.PTTL(ctx, h.prefix+"lease:imap:imap:partners").Result(); ttl > 0 {
		t.Errorf("a lease is still written under the old name (ttl %s)", ttl)
	}
	standBy := false
	for _, line := range bytes.Split(h.logs.Bytes(), []byte("\n")) {
		var e struct {
			Mailbox *string `json:"mailbox"`
			Message string  `json:"message"`
		}
		if json.Unmarshal(line, &e) != nil || e.Mailbox == nil {
			continue
		}
		if *e.Mailbox != "partners" {
			t.Errorf("log line names mailbox %q, want the configured name partners: %s", *e.Mailbox, line)
		}
		standBy = standBy || bytes.Contains(line, []byte("older rmad version"))
	}
	if !standBy {
		t.Error("no log line says the mailbox waits for an older version's lease")
	}
}
