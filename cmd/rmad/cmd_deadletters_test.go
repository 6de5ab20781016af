package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rmad/rmad/queue"
)

// makeDeadLetters puts n messages on a queue and lets a handler fail them for good.
func makeDeadLetters(t *testing.T, q *queue.Queue, n int, why string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range n {
		if _, err := q.Add(ctx, []byte(fmt.Sprintf("payload %d", i)), map[string]string{"message_id": fmt.Sprintf("m%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		_ = q.Run(ctx, func(context.Context, queue.Message) error {
			return fmt.Errorf("%s\nsecond line: %w", why, queue.ErrPermanent)
		})
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dls, err := q.DeadLetters(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d", len(dls), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestDeadLettersCommand(t *testing.T) {
	path, prefix, c := redisCLIFixture(t)
	fast := func(stream string) queue.Options {
		return queue.Options{Stream: stream, Consumer: "test", Block: 50 * time.Millisecond}
	}
	inbox := queue.New(c, prefix, fast(queue.Inbox))
	outbox := queue.New(c, prefix, fast(queue.Outbox))

	code, out, errs := runCLI(t, "dead-letters", "--config", path)
	if code != 0 || !strings.Contains(out, "inbox: no dead letters") || !strings.Contains(out, "outbox: no dead letters") {
		t.Fatalf("empty list: %d\n%s%s", code, out, errs)
	}
	makeDeadLetters(t, inbox, 2, "mime: malformed header")
	makeDeadLetters(t, outbox, 1, "smtp: 550 mailbox unavailable")

	code, out, errs = runCLI(t, "dead-letters", "--config", path, "list")
	if code != 0 || !strings.Contains(out, "inbox: 2 dead letter(s)") || !strings.Contains(out, "outbox: 1 dead letter(s)") ||
		!strings.Contains(out, "last error: mime: malformed header second line: permanent failure") ||
		!strings.Contains(out, "1 attempt(s)  9 bytes  [message_id=m0@example.com]") ||
		!strings.Contains(out, "last error: smtp: 550 mailbox unavailable") {
		t.Fatalf("list: %d\n%s%s", code, out, errs)
	}

	dls, _ := outbox.DeadLetters(context.Background(), 0)
	code, out, errs = runCLI(t, "dead-letters", "--config", path, "retry", "outbox:"+dls[0].ID)
	if code != 0 || strings.TrimSpace(out) != "outbox: requeued "+dls[0].ID {
		t.Fatalf("retry outbox:ID: %d %q %s", code, out, errs)
	}
	if d, _ := outbox.Depth(context.Background()); d != 1 {
		t.Fatalf("outbox depth after retry: %d", d)
	}
	code, _, errs = runCLI(t, "dead-letters", "--config", path, "retry", dls[0].ID)
	if code != 1 || !strings.Contains(errs, "no dead letter "+dls[0].ID) {
		t.Fatalf("retry of a gone id: %d %s", code, errs)
	}

	in, _ := inbox.DeadLetters(context.Background(), 0)
	if code, out, errs := runCLI(t, "dead-letters", "--config", path, "retry", in[0].ID); code != 0 || !strings.Contains(out, "inbox: requeued") {
		t.Fatalf("retry bare ID: %d %q %s", code, out, errs)
	}
	code, out, errs = runCLI(t, "dead-letters", "--config", path, "retry", "--all")
	if code != 0 || strings.TrimSpace(out) != "inbox: requeued 1" {
		t.Fatalf("retry --all: %d %q %s", code, out, errs)
	}
	if d, _ := inbox.Depth(context.Background()); d != 2 {
		t.Fatalf("inbox depth after retries: %d", d)
	}
	if code, out, _ := runCLI(t, "dead-letters", "--config", path, "retry", "--all"); code != 0 || strings.TrimSpace(out) != "no dead letters" {
		t.Fatalf("retry --all when empty: %d %q", code, out)
	}
	for _, bad := range [][]string{{"retry"}, {"purge"}, {"list", "extra"}} {
		if code, _, _ := runCLI(t, append([]string{"dead-letters", "--config", path}, bad...)...); code != 2 {
			t.Fatalf("dead-letters %v: exit %d, want 2", bad, code)
		}
	}
}
